"""One job and one queue over several devices (CPU workers here): identical output, work
stealing, a failing device, abort, pause, one journal with several writers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from core.device_job import DevicePool, plan_ranges, run_job_on_devices
from core.devices import default_devices, parse_devices
from core.errors import DecodeError, JobAborted, OptionError
from core.events import JobFinished, JobStarted, LogRecord, PairDone
from core.job import run_job
from core.journal import journal_folder, read_manifest
from core.options import JobOptions
from tests.clips import all_packets as packets
from tests.clips import moving_frames, write_frames

FRAMES = 60
SEGMENT = 8


def options(**kw) -> JobOptions:
    base = dict(model="blend", factor=2, codec="libx264", segment_pairs=SEGMENT, device="cpu")
    base.update(kw)
    return JobOptions(**base)


def cut_frames(n: int) -> list[np.ndarray]:
    """Moving frames with a hard cut to another scene at frame 37 (inside a range, near a boundary)."""
    first = moving_frames(37, seed=0)
    second = [255 - f[:, ::-1] for f in moving_frames(n - 37, seed=3, speed=3.0)]
    return first + second


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """60 frames of H.264 with B-frames, a scene cut, and AAC audio."""
    folder = tmp_path_factory.mktemp("clip")
    return write_frames(folder / "in.mp4", cut_frames(FRAMES), codec="libx264", pix_fmt="yuv420p",
                        audio_seconds=FRAMES / 24)


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "ref.mp4"
    run_job(clip, out, options())
    return out


def decoded(path: Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as c:
        return [(f.pts, f.to_ndarray(format="rgb24").tobytes()) for f in c.decode(video=0)]


class Slow:
    """An interpolator that sleeps before each call (a slower GPU), else the real one."""

    def __init__(self, inner, seconds: float) -> None:
        self.inner, self.seconds = inner, seconds

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def interpolate(self, *args, **kwargs):
        time.sleep(self.seconds)
        return self.inner.interpolate(*args, **kwargs)


def slow_models(slow_worker: int, seconds: float):
    from core.device_job import _warm_model

    def make(number, device, opts, emit):
        model = _warm_model(number, device, opts, emit)
        return Slow(model, seconds) if number == slow_worker else model
    return make


# -- --devices ---------------------------------------------------------------------------------


def test_devices_are_parsed_and_all_means_every_gpu():
    assert parse_devices("all", count=lambda: 3) == ["cuda:0", "cuda:1", "cuda:2"]
    assert parse_devices("all", count=lambda: 0) == ["cpu"]
    assert parse_devices("cuda:0,cuda:2", count=lambda: 3) == ["cuda:0", "cuda:2"]
    assert parse_devices("cpu,cpu", count=lambda: 0) == ["cpu", "cpu"]
    assert default_devices(count=lambda: 2) == ["cuda:0", "cuda:1"]
    assert default_devices(count=lambda: 1) is None
    with pytest.raises(OptionError, match="cuda:4 does not exist; this machine has 2"):
        parse_devices("cuda:0,cuda:4", count=lambda: 2)
    with pytest.raises(OptionError, match="names a GPU twice"):
        parse_devices("cuda:1,cuda:1", count=lambda: 2)
    with pytest.raises(OptionError, match="not cpu, cuda or cuda:N"):
        parse_devices("tpu", count=lambda: 2)
    with pytest.raises(OptionError, match="mixes the CPU and GPUs"):
        parse_devices("cuda:0,cpu", count=lambda: 2)
    with pytest.raises(OptionError, match="comma-separated"):
        parse_devices("cuda:0,,", count=lambda: 2)


def test_ranges_cover_every_pair_at_segment_boundaries():
    ranges = plan_ranges(59, 8, 2)
    assert [(r.start, r.stop) for r in ranges] == [(0, 8), (8, 16), (16, 32), (32, 40), (40, 48), (48, 59)]
    assert plan_ranges(5, 8, 4) == [range(0, 5)]
    assert plan_ranges(0, 8, 2) == [range(0, 1)]


# -- one clip over two CPU workers ---------------------------------------------------------------


def test_two_cpu_workers_give_the_single_device_output(clip, reference, tmp_path):
    out = tmp_path / "out.mp4"
    events = []
    result = run_job_on_devices(clip, out, options(), ["cpu", "cpu"], on_event=events.append)
    assert packets(out) == packets(reference)  # video and audio, packet for packet: pts, dts, bytes
    assert decoded(out) == decoded(reference)
    assert result.output_frames == 2 * FRAMES and result.input_frames == FRAMES
    assert not journal_folder(out).exists() and sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
    started = [e for e in events if isinstance(e, JobStarted)]
    assert len(started) == 1 and started[0].device == "cpu, cpu" and started[0].total_pairs == FRAMES - 1
    done = [e.index for e in events if isinstance(e, PairDone)]
    assert done == list(range(FRAMES - 1))  # progress summed over the workers, in order of completion
    logs = [e.message for e in events if isinstance(e, LogRecord)]
    assert any(m.startswith("sharing 59 pairs out over 2 devices (cpu, cpu) in 6 ranges") for m in logs)
    assert any(m.startswith("worker 0 (cpu): ") for m in logs) and any(m.startswith("worker 1 (cpu): ") for m in logs)
    assert [e for e in events if isinstance(e, JobFinished)] == [result]


def run_on_pool(clip: Path, out: Path, models=None) -> tuple[DevicePool, list]:
    """``clip`` into ``out`` over two CPU workers made by ``models``; the pool (closed) and its events."""
    events: list = []
    pool = DevicePool(["cpu", "cpu"], models=models)
    try:
        pool(clip, out, options(), events.append)
    finally:
        pool.close()
    return pool, events


def test_a_slower_device_takes_fewer_ranges(clip, reference, tmp_path):
    out = tmp_path / "out.mp4"
    _, events = run_on_pool(clip, out, slow_models(1, 0.05))
    assert packets(out) == packets(reference)
    summary = {m.split(":")[0]: m for e in events if isinstance(e, LogRecord) for m in [e.message]
               if m.endswith("ranges") and "pairs in" in m}
    fast = int(summary["worker 0 (cpu)"].split()[3])
    slow = int(summary["worker 1 (cpu)"].split()[3])
    assert fast + slow == FRAMES - 1 and fast > slow


def test_a_failing_device_gives_its_range_back_and_the_output_is_the_same(clip, reference, tmp_path):
    out = tmp_path / "out.mp4"
    events = []
    pool = DevicePool(["cpu", "cpu"])
    try:
        pool(clip, out, options(), events.append, inject="device-error@worker=1,pair=12")
        assert packets(out) == packets(reference)
        warnings = [e.message for e in events if isinstance(e, LogRecord) and e.level == "warning"]
        assert any(m.startswith("worker 1 (cpu) failed and is left out for the rest of the session: ")
                   and "injected device-error" in m for m in warnings)
        assert set(pool.excluded) == {1}
        again = tmp_path / "again.mp4"  # the next clip of the session runs without the failed device
        events.clear()
        pool(clip, again, options(), events.append)
        assert packets(again) == packets(reference)
        assert [e.device for e in events if isinstance(e, JobStarted)] == ["cpu"]
    finally:
        pool.close()


def test_an_error_of_the_input_stops_every_worker_and_keeps_finished_segments(clip, tmp_path):
    out = tmp_path / "out.mp4"
    events = []
    with pytest.raises(DecodeError, match="corrupt at frame 45"):
        run_job_on_devices(clip, out, options(), ["cpu", "cpu"], on_event=events.append,
                           inject="decode-error@frame=45")
    assert not out.exists()
    manifest = read_manifest(journal_folder(out))
    assert manifest is not None and "0" in manifest["segments"]
    assert any(isinstance(e, LogRecord) and "keeps every finished segment" in e.message for e in events)


def test_an_abort_reaches_every_worker_and_the_same_command_resumes(clip, reference, tmp_path):
    out = tmp_path / "out.mp4"
    cancel = threading.Event()
    seen: list = []

    def on_event(event):
        seen.append(event)
        if isinstance(event, PairDone) and event.index >= 20:
            cancel.set()

    with pytest.raises(JobAborted, match=r"^interrupted at \d+%: run the same command to resume$") as info:
        run_job_on_devices(clip, out, options(), ["cpu", "cpu"], on_event=on_event, cancel=cancel, keep=True)
    assert not out.exists() and journal_folder(out).exists()
    kept = [int(k) for k in read_manifest(journal_folder(out))["segments"]]  # every kept segment counts
    pairs = sum(min(SEGMENT, FRAMES - 1 - k * SEGMENT) for k in kept)
    assert str(info.value) == f"interrupted at {100 * pairs // (FRAMES - 1)}%: run the same command to resume"
    assert len([e for e in seen if isinstance(e, PairDone)]) < FRAMES - 1
    run_job_on_devices(clip, out, options(), ["cpu", "cpu"])
    assert packets(out) == packets(reference)
    assert not journal_folder(out).exists()


def test_an_abort_without_keep_leaves_nothing(clip, tmp_path):
    out = tmp_path / "out.mp4"
    cancel = threading.Event()

    def on_event(event):
        if isinstance(event, PairDone) and event.index >= 10:
            cancel.set()

    with pytest.raises(JobAborted):
        run_job_on_devices(clip, out, options(), ["cpu", "cpu"], on_event=on_event, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_pause_holds_every_worker(clip, reference, tmp_path):
    out = tmp_path / "out.mp4"
    pause = threading.Event()
    pause.set()
    events: list = []
    thread = threading.Thread(target=run_job_on_devices, args=(clip, out, options(), ["cpu", "cpu"]),
                              kwargs=dict(on_event=events.append, pause=pause))
    thread.start()
    time.sleep(1.5)
    assert not any(isinstance(e, PairDone) for e in events)
    pause.clear()
    thread.join(60)
    assert packets(out) == packets(reference)


def test_two_writers_record_segments_into_one_journal_without_losing_any(tmp_path):
    """Workers in two threads record at once; every record survives (the manifest is merged under a lock)."""
    from core.journal import InputIdentity, Journal, header_for

    source = tmp_path / "in.bin"
    source.write_bytes(b"x" * 100)
    folder = tmp_path / ".out.mp4.framedeck"
    header = header_for(InputIdentity.of(source), {}, {}, 8)
    first = Journal.open(folder, header, None)
    second = Journal.open(folder, header, read_manifest(folder), forget=False)

    def record(journal, numbers):
        for n in numbers:
            journal.record(n, {"file": f"segment-{n}", "frames": 1, "bytes": 1})

    threads = [threading.Thread(target=record, args=(first, range(0, 40, 2))),
               threading.Thread(target=record, args=(second, range(1, 40, 2)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(int, read_manifest(folder)["segments"])) == list(range(40))


# -- the command line ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_clips(tmp_path_factory) -> tuple[Path, Path]:
    """At 2 fps a journal segment (about 4 s of input) is 8 pairs: a long clip of 6 segments
    and a short one of 1 (which goes whole to one device)."""
    from fractions import Fraction

    folder = tmp_path_factory.mktemp("clips")
    long = write_frames(folder / "long.mp4", cut_frames(49), fps=Fraction(2), codec="libx264",
                        pix_fmt="yuv420p", audio_seconds=49 / 2)
    short = write_frames(folder / "short.mp4", moving_frames(7, seed=5), fps=Fraction(2), codec="libx264",
                         pix_fmt="yuv420p")
    return long, short


def cli(*args: str) -> int:
    from tui.cli import main

    return main(["run", *args, "--model", "blend", "--codec", "libx264", "--quiet"])


def test_run_with_two_cpu_devices_equals_one_for_a_clip_and_a_queue(slow_clips, tmp_path, capsys):
    long, short = slow_clips
    assert cli(str(long), str(short), "-o", str(tmp_path / "q1") + "/", "--devices", "cpu") == 0
    assert cli(str(long), str(short), "-o", str(tmp_path / "q2") + "/", "--devices", "cpu,cpu") == 0
    for name in ("long.mp4", "short.mp4"):
        assert packets(tmp_path / "q2" / name) == packets(tmp_path / "q1" / name)
    assert cli(str(long), "-o", str(tmp_path / "two.mp4"), "--devices", "cpu,cpu") == 0
    assert packets(tmp_path / "two.mp4") == packets(tmp_path / "q1" / "long.mp4")
    assert sorted(p.name for p in (tmp_path / "q2").iterdir()) == ["long.mp4", "short.mp4"]


def test_a_wrong_devices_list_is_one_sentence_before_anything_starts(slow_clips, tmp_path, capsys):
    long, _ = slow_clips
    assert cli(str(long), "-o", str(tmp_path / "o.mp4"), "--devices", "gpu0") == 2
    assert capsys.readouterr().err.strip() == "framedeck: --devices: 'gpu0' is not cpu, cuda or cuda:N."
    assert list(tmp_path.iterdir()) == []


def test_several_gpus_mean_all_of_them_by_default_said_in_the_log(monkeypatch):
    import argparse

    from tui.commands.devices_arg import device_pool

    args = argparse.Namespace(devices=None)
    pool, line, opts = device_pool(args, JobOptions(), count=lambda: 2)
    assert pool.devices == ["cuda:0", "cuda:1"] and opts.device == "cuda:0"
    assert line.startswith("2 GPUs here: each clip is shared out over all of them (cuda:0, cuda:1")
    assert device_pool(args, JobOptions(device="cuda:1"), count=lambda: 2)[0] is None  # --device names one
    assert device_pool(args, JobOptions(), count=lambda: 1)[0] is None
    pool, line, opts = device_pool(argparse.Namespace(devices="cpu"), JobOptions(), count=lambda: 0)
    assert pool is None and opts.device == "cpu"


# -- the console -----------------------------------------------------------------------------------


async def test_the_console_shows_both_workers_and_the_summed_progress(slow_clips, tmp_path):
    from tests.tui_pilot import make_app, screen_text, wait_for
    from tui.session import ConsoleSession

    long, _ = slow_clips
    output = tmp_path / "out.mp4"
    pool = DevicePool(["cpu", "cpu"])
    session = ConsoleSession(
        str(long), str(output), options(segment_pairs=None), log_path=tmp_path / "framedeck.log", run_job=pool,
    )
    app = make_app(session)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            def shown() -> bool:  # the job panel is redrawn a moment after the summary arrives
                if app.summary is None:
                    return False
                return any("│ devices " in line for line in screen_text(app).splitlines())

            await wait_for(pilot, shown, limit=120)
            await pilot.pause(0.2)  # the last redraw (the output check's row) is laid out
            text = screen_text(app)
            assert "on cpu, cpu" in text  # the header names both devices
            assert app.job.done == 48 and app.summary.error is None
            workers = app.job.workers.workers  # the job panel's devices row: each worker's pairs and rate
            assert [w[0] for w in workers] == ["cpu", "cpu"] and sum(w[1] for w in workers) == 48
            row = next(line for line in text.splitlines() if "devices" in line and "/s" in line)
            assert row.count("cpu ") == 2
    finally:
        pool.close()
    log = (tmp_path / "framedeck.log").read_text()
    assert "worker 0 (cpu): " in log and "worker 1 (cpu): " in log
    assert "sharing 48 pairs out over 2 devices (cpu, cpu)" in log
    assert output.exists()


# -- no process-wide state that assumes one device -------------------------------------------------


def test_unloading_a_model_clears_only_its_own_devices_grids():
    import torch

    from core.models.warp import cached_grids, clear_grids, grid_terms

    clear_grids()
    cpu = grid_terms(6, 8, torch.device("cpu"))
    grid_terms(6, 8, torch.device("meta"))  # a second device's model (meta: no memory, any machine)
    assert len(cached_grids()) == 4
    clear_grids(torch.device("meta"))
    assert grid_terms(6, 8, torch.device("cpu")) is cpu  # the CPU model's grids survived
    assert all(t.device.type == "cpu" for t in cached_grids())
    clear_grids()


def test_torch_threads_are_held_by_a_count_not_restored_under_another_worker():
    import torch

    from core import cpu_threads

    before = torch.get_num_threads()
    want = 1 if before != 1 else 2
    cpu_threads.hold(want)  # worker 0's job starts
    cpu_threads.hold(want)  # worker 1's job starts
    cpu_threads.release()  # worker 0's job ends: worker 1 still runs with the count it asked for
    assert torch.get_num_threads() == want
    cpu_threads.release()
    assert torch.get_num_threads() == before


def test_a_warm_model_empties_the_cache_of_its_own_device(monkeypatch):
    import torch

    import session.warm_model as warm_model
    from core.interpolators.blend import BlendInterpolator

    emptied = []
    monkeypatch.setattr(warm_model, "empty_device_cache", lambda device: emptied.append(device))
    model = warm_model.WarmModel(BlendInterpolator())
    model.device = torch.device("cuda", 1)  # as if loaded on the second GPU (no CUDA call is made)
    model.unload()
    assert emptied == [torch.device("cuda", 1)]


def test_two_processes_record_segments_into_one_journal_without_losing_any(tmp_path):
    """The manifest lock holds across processes too (a worker may be a spawned process)."""
    import multiprocessing

    from core.journal import InputIdentity, Journal, header_for
    from tests.journal_writers import record_segments

    source = tmp_path / "in.bin"
    source.write_bytes(b"x" * 100)
    folder = tmp_path / ".out.mp4.framedeck"
    Journal.open(folder, header_for(InputIdentity.of(source), {}, {}, 8), None)
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=record_segments, args=(str(folder), list(range(k, 60, 2)))) for k in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert sorted(map(int, read_manifest(folder)["segments"])) == list(range(60))


def test_a_journal_of_other_options_is_refused_by_every_worker_and_left_as_it_is(clip, tmp_path):
    from core.errors import OutputError

    out = tmp_path / "out.mp4"
    run_job(clip, out, options(), pairs=range(0, 8))
    before = {p.name: p.read_bytes() for p in journal_folder(out).iterdir()}
    with pytest.raises(OutputError, match=r"not made by this job \(it was made with other options \(factor"):
        run_job_on_devices(clip, out, options(factor=3), ["cpu", "cpu"])
    assert {p.name: p.read_bytes() for p in journal_folder(out).iterdir()} == before and not out.exists()


def test_tui_headless_with_two_cpu_devices_uploads_the_same_output(slow_clips, tmp_path, capsys):
    from tui.cli import main

    long, _ = slow_clips
    uploads = tmp_path / "up"
    uploads.mkdir()
    out = tmp_path / "long_2x.mp4"
    code = main([
        "tui", str(long), "-o", str(out), "--model", "blend", "--codec", "libx264", "--headless",
        "--devices", "cpu,cpu", "--upload", uploads.as_uri(), "--confirm", "1", "--check-interval", "0",
        "--countdown", "0",
    ])
    assert code == 0
    assert (uploads / out.name).read_bytes() == out.read_bytes()
    log = Path(f"{out}.framedeck.log").read_text()
    assert "--devices cpu,cpu: each clip is shared out over 2 devices (cpu, cpu)" in log
    assert "worker 1 (cpu): " in log
    reference = tmp_path / "ref.mp4"
    assert cli(str(long), "-o", str(reference), "--devices", "cpu") == 0
    assert packets(out) == packets(reference)
