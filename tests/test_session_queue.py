"""The session engine (session/): many inputs, one warm model, failures that do not stop the
queue, the summary table, idempotent reruns, and ``framedeck run`` over it."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from core.errors import InputError, OptionError
from core.interpolators.flow import FlowInterpolator
from core.options import JobOptions
from session import ClipState, Session, run_queue
from session.inputs import expand_inputs, plan_outputs
from tests.clips import moving_frames, write_frames
from tui.cli import main

FRAMES = 4


def _clip(path: Path, seed: int = 0, width: int = 64) -> Path:
    return write_frames(path, moving_frames(FRAMES, width=width, seed=seed))


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.fixture
def three(tmp_path: Path) -> tuple[Path, Path, Path]:
    a = _clip(tmp_path / "a.mkv", 1)
    b = tmp_path / "b.mp4"
    b.write_text("this is a text file named like a video\n")
    c = _clip(tmp_path / "c.mkv", 2)
    return a, b, c


def test_run_many_inputs_into_a_folder_then_rerun_skips(three, tmp_path, capsys) -> None:
    a, b, c = three
    out = tmp_path / "OUT"
    argv = ["run", str(a), str(b), str(c), "-o", f"{out}/", "--device", "cpu", "--model", "blend"]
    code = main(argv)
    printed = capsys.readouterr()
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.mkv", "c.mkv"]  # nothing half-written for b
    assert _frames(out / "a.mkv") == _frames(out / "c.mkv") == 2 * FRAMES
    text = printed.out + printed.err
    bad = [line for line in text.splitlines() if "b.mp4" in line and "failed" in line]
    assert bad and bad[0].count(". ") <= 1  # one sentence for the bad clip
    table = printed.out.splitlines()
    header = next(i for i, line in enumerate(table) if line.split()[:5] == ["clip", "frames", "seconds", "size", "state"])
    rows = {line.split()[0]: line.split() for line in table[header + 1 : header + 4]}
    assert rows["a.mkv"][1] == str(2 * FRAMES) and rows["a.mkv"][-1] == "done"
    assert rows["b.mp4"][-1] == "failed" and rows["c.mkv"][-1] == "done"

    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    code = main(argv)
    printed = capsys.readouterr()
    assert code == 1  # b still fails
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert "already complete; skipping a.mkv" in printed.out + printed.err
    states = {line.split()[0]: line.split()[-1] for line in printed.out.splitlines() if line.split()}
    assert states["a.mkv"] == states["c.mkv"] == "skipped"


def test_the_model_is_loaded_once_for_three_clips(tmp_path, monkeypatch) -> None:
    calls: list[str] = []
    real_load, real_unload = FlowInterpolator.load, FlowInterpolator.unload

    def load(self: FlowInterpolator, device: object) -> None:
        calls.append("load")
        real_load(self, device)  # (it unloads first itself)
        calls.append("loaded")

    monkeypatch.setattr(FlowInterpolator, "load", load)
    monkeypatch.setattr(FlowInterpolator, "unload", lambda self: (calls.append("unload"), real_unload(self))[1])
    inputs = [_clip(tmp_path / f"{n}.mkv", n, width=64 if n < 2 else 80) for n in range(3)]  # the last: another size
    result = run_queue(inputs, tmp_path / "out", JobOptions(model="flow", device="cpu"))
    assert [c.state for c in result.clips] == [ClipState.DONE] * 3 and result.exit_code == 0
    # loaded once; unloaded only at the end of the session
    assert calls == ["load", "unload", "loaded", "unload"]
    for n in range(3):
        assert _frames(tmp_path / "out" / f"{n}.mkv") == 2 * FRAMES


def test_inputs_folders_globs_and_clashes(tmp_path) -> None:
    folder = tmp_path / "cards"
    (folder / "deep").mkdir(parents=True)
    for name in ("b.mp4", "a.mov", "notes.txt", ".hidden.mp4", "deep/c.mkv"):
        (folder / name).write_bytes(b"x")
    assert [p.name for p in expand_inputs([folder])] == ["a.mov", "b.mp4"]
    assert [p.name for p in expand_inputs([folder], recursive=True)] == ["a.mov", "b.mp4", "c.mkv"]
    assert [p.name for p in expand_inputs([str(folder / "*.mp4")])] == ["b.mp4"]
    with pytest.raises(InputError, match="does not exist"):
        expand_inputs([tmp_path / "nope.mp4"])
    with pytest.raises(InputError, match="No video file matches"):
        expand_inputs([str(folder / "*.avi")])
    (folder / "a.mp4").write_bytes(b"x")
    out = tmp_path / "out"
    with pytest.raises(OptionError, match="would both be written to"):
        plan_outputs(expand_inputs([folder]), out, container="mp4")
    assert not out.exists()  # refused before anything was made
    planned = plan_outputs(expand_inputs([folder / "a.mov", folder / "b.mp4"]), f"{out}/")
    assert [t.name for _, t in planned] == ["a.mov", "b.mp4"] and out.is_dir()
    assert plan_outputs([folder / "a.mov"], tmp_path / "one.mkv") == [(folder / "a.mov", tmp_path / "one.mkv")]
    with pytest.raises(OptionError, match="overwritten by its own output"):
        plan_outputs([folder / "a.mov", folder / "b.mp4"], folder)


def test_queue_keys_move_retry_and_skip(tmp_path) -> None:
    """move/retry on the engine; skip aborts the running clip and the queue goes on."""
    inputs = [_clip(tmp_path / f"{n}.mkv", n) for n in range(3)]
    session: Session

    def on_event(event: object) -> None:
        from core.events import JobStarted

        if isinstance(event, JobStarted) and event.input.endswith("0.mkv"):
            assert session.skip()

    session = Session(
        JobOptions(model="blend", device="cpu"), [(i, tmp_path / "out" / i.name) for i in inputs], on_event=on_event
    )
    (tmp_path / "out").mkdir()
    ids = [c.id for c in session.clips]
    assert session.move(ids[2], -1) and [c.id for c in session.clips] == [ids[0], ids[2], ids[1]]
    assert not session.move(ids[0], -1)
    result = session.run()
    states = {c.input.name: c.state for c in result.clips}
    assert states == {"0.mkv": ClipState.SKIPPED, "1.mkv": ClipState.DONE, "2.mkv": ClipState.DONE}
    assert not (tmp_path / "out" / "0.mkv").exists() and result.exit_code == 0


def test_watch_input_queues_a_clip_copied_in_slowly(tmp_path) -> None:
    """A clip written in pieces is queued only once it stood still for --settle seconds; the
    queue closes after --idle seconds with nothing new."""
    import threading

    from session.input_watch import InputWatcher

    source = _clip(tmp_path / "src.mkv", 3).read_bytes()
    drop = tmp_path / "drop"
    drop.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    now = [0.0]
    lock = threading.Lock()

    def clock() -> float:
        with lock:
            return now[0]

    target = drop / "late.mkv"
    pieces = [source[i : i + 600] for i in range(0, len(source), 600)]
    queued_at: list[int] = []

    def sleep(seconds: float) -> None:
        """Each watcher tick: one more piece of the copy, one second of virtual time."""
        with lock:
            now[0] += 1.0
        if pieces:
            with target.open("ab") as f:
                f.write(pieces.pop(0))
        threading.Event().wait(0.01)

    def on_event(event: object) -> None:
        from core.events import LogRecord

        if isinstance(event, LogRecord) and "new input" in event.message:
            queued_at.append(len(pieces))

    watcher = InputWatcher(drop, settle=3.0, clock=clock)
    session = Session(
        JobOptions(model="blend", device="cpu"), [], on_event=on_event, output_folder=out,
        input_watcher=watcher, idle=5.0, sleep=sleep, watch_interval=1.0,
    )
    result = session.run()
    assert queued_at == [0]  # not before the last piece was written
    assert [(c.input.name, c.state) for c in result.clips] == [("late.mkv", ClipState.DONE)]
    assert _frames(out / "late.mkv") == 2 * FRAMES and result.exit_code == 0


def test_run_watch_input_from_the_command_line(tmp_path, capsys) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    _clip(drop / "ready.mkv", 4)
    code = main(["run", "--watch-input", str(drop), "--settle", "0", "--idle", "0.5", "-o", str(tmp_path / "out"),
                 "--device", "cpu", "--model", "blend"])
    printed = capsys.readouterr().out
    assert code == 0 and _frames(tmp_path / "out" / "ready.mkv") == 2 * FRAMES
    assert "ready.mkv" in printed and "done" in printed
    assert main(["run", "-o", str(tmp_path / "o.mp4")]) == 2
    assert "Give at least one input" in capsys.readouterr().err


def test_a_warm_rife_gives_each_clip_what_a_fresh_job_gives(tmp_path) -> None:
    """The weights stay loaded across clips, yet clip 2 (another picture, another size) comes
    out bit for bit as it does from its own fresh job (RIFE's per-frame feature rows, keyed
    by decode index, and its scale are dropped between clips)."""
    from core.job import run_job
    from tests.clips import read_frames
    from tests.conftest import shared_path

    weights = str(shared_path("models/rife-4.25/flownet.pkl"))
    options = JobOptions(model="rife", weights=weights, device="cpu", codec="ffv1", scene_cut=None)
    first = _clip(tmp_path / "first.mkv", 5)
    second = write_frames(tmp_path / "second.mkv", moving_frames(FRAMES, width=96, height=64, seed=6))
    result = run_queue([first, second], tmp_path / "out", options)
    assert [c.state for c in result.clips] == [ClipState.DONE, ClipState.DONE]
    run_job(second, tmp_path / "alone.mkv", options)
    queued, _ = read_frames(tmp_path / "out" / "second.mkv")
    alone, _ = read_frames(tmp_path / "alone.mkv")
    assert len(queued) == len(alone) == 2 * FRAMES
    assert all((a == b).all() for a, b in zip(queued, alone, strict=True))


def test_queue_eta_scales_by_frame_size() -> None:
    from session.clips import Clip
    from session.estimate import queue_eta, stop_eta

    running = Clip(Path("a"), Path("A"), ClipState.RUNNING, total_pairs=100, pairs_done=50, pixels=1000, rate=10.0, eta=5.0)
    small = Clip(Path("b"), Path("B"), ClipState.WAITING, total_pairs=100, pixels=500)
    big = Clip(Path("c"), Path("C"), ClipState.WAITING, total_pairs=10, pixels=4000)
    done = Clip(Path("d"), Path("D"), ClipState.DONE, total_pairs=999, pixels=1000)
    assert queue_eta([running, small, big, done]) == pytest.approx(5.0 + 5.0 + 4.0)
    assert queue_eta([Clip(Path("w"), Path("W"))]) is None  # no rate yet
    assert stop_eta(14.0, confirm=3, check_interval=10.0, countdown=60.0) == pytest.approx(94.0)
