"""A queue over several devices (CPU workers here): short clips handed whole to free devices,
long ones split, several clips at once, each output identical to a one-device run; skip of
one running clip, a failing device, and the console's Queue panel with two running clips."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from core.device_job import DevicePool, _warm_model
from core.events import LogRecord, WorkerRates
from core.options import JobOptions
from session import ClipState, Session
from session.clips import ClipChanged, PanelSwitched
from tests.clips import all_packets as packets
from tests.clips import moving_frames, write_frames

SEGMENT = 8
SHORT = 0.7  # seconds: the pool's rule at a test's scale (12 frames at 24 fps are short, 18 long)


def options(**kw) -> JobOptions:
    base = dict(model="blend", factor=2, codec="libx264", segment_pairs=SEGMENT, device="cpu")
    base.update(kw)
    return JobOptions(**base)


class Gate:
    """The real model, whose first call on each worker waits until every worker has made one
    (a barrier): only devices that really run at once get past it. ``seconds`` slows each call."""

    def __init__(self, inner, barrier: threading.Barrier, seconds: float = 0.0) -> None:
        self.inner, self.barrier, self.seconds, self.passed = inner, barrier, seconds, False

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def interpolate(self, *args, **kwargs):
        if not self.passed:
            self.barrier.wait()  # BrokenBarrierError after its timeout: the clips did not overlap
            self.passed = True
        time.sleep(self.seconds)
        return self.inner.interpolate(*args, **kwargs)


def gated_pool(seconds: float = 0.0, **kw) -> DevicePool:
    barrier = threading.Barrier(2, timeout=10)
    pool = DevicePool(["cpu", "cpu"], models=lambda n, d, o, e: Gate(_warm_model(n, d, o, e), barrier, seconds), **kw)
    for number in (0, 1):  # made now, so the session's own model does not become worker 0's
        pool.model(number, options(), lambda event: None)
    return pool


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Three short clips (12 frames at 24 fps: 2 segments each, one with audio) and a long one (18)."""
    folder = tmp_path_factory.mktemp("queue")
    made = {}
    for n, name in enumerate(("a", "b", "c")):
        made[name] = write_frames(folder / f"{name}.mp4", moving_frames(12, seed=n), codec="libx264",
                                  pix_fmt="yuv420p", audio_seconds=12 / 24 if name == "b" else None)
    made["long"] = write_frames(folder / "long.mp4", moving_frames(18, seed=7), codec="libx264", pix_fmt="yuv420p")
    return made


@pytest.fixture(scope="module")
def references(clips, tmp_path_factory) -> dict[str, list]:
    """Each clip's output from a one-device session (``--devices cpu``), run on a thread: on a
    2-core box torch's OpenMP workers of the main thread spin against the job's own threads
    and double its time (BENCHMARKS.md, "a queue of short clips")."""
    out = tmp_path_factory.mktemp("one")
    session = Session(options(), [(p, out / p.name) for p in clips.values()])
    thread = threading.Thread(target=session.run)
    thread.start()
    thread.join()
    return {name: packets(out / p.name) for name, p in clips.items()}


def run_session(pool: DevicePool, inputs: list[Path], out: Path, **kw) -> tuple[Session, object, list]:
    events: list = []
    on_event = kw.pop("on_event", events.append)
    session = Session(options(), [(p, out / p.name) for p in inputs], on_event=on_event, run_job=pool, **kw)
    try:
        result = session.run()
    finally:
        pool.close()
    return session, result, events


def most_running(events: list) -> int:
    """The most clips RUNNING at one time, from the queue's own events."""
    states: dict[int, ClipState] = {}
    most = 0
    for event in events:
        if isinstance(event, ClipChanged):
            states[event.clip.id] = event.clip.state
            most = max(most, sum(s is ClipState.RUNNING for s in states.values()))
    return most


def log(events: list) -> list[str]:
    return [e.message for e in events if isinstance(e, LogRecord)]


def test_short_clips_run_whole_two_at_once_with_the_one_device_outputs(clips, references, tmp_path):
    inputs = [clips["a"], clips["b"], clips["c"]]
    _, result, events = run_session(gated_pool(), inputs, tmp_path)
    assert [c.state for c in result.clips] == [ClipState.DONE] * 3 and result.exit_code == 0
    for p in inputs:
        assert packets(tmp_path / p.name) == references[p.stem]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.mp4", "b.mp4", "c.mp4"]  # no journal left
    assert most_running(events) == 2  # two clips at once (the gate lets nothing through otherwise)
    lines = log(events)
    assert any(m.startswith("2 devices share the queue: a clip under 60 s of input runs whole") for m in lines)
    whole = [m for m in lines if "the whole clip runs on worker" in m]
    assert any(m.startswith("a.mp4: 11 pairs (0.5 s of input, under 60 s, with other clips waiting)") for m in whole)
    assert {m.split("runs on ")[1] for m in whole[:2]} == {"worker 0 (cpu)", "worker 1 (cpu)"}
    assert any(m.startswith("c.mp4: sharing 11 pairs out over 2 devices") for m in lines)  # the last is split
    rates = [e for e in events if isinstance(e, WorkerRates)][-1]
    assert [w[0] for w in rates.workers] == ["cpu", "cpu"] and sum(w[1] for w in rates.workers) == 3 * 11
    assert all(w[1] > 0 for w in rates.workers)


def test_a_long_clip_is_split_and_short_ones_go_whole_with_identical_outputs(clips, references, tmp_path):
    inputs = [clips["long"], clips["a"], clips["b"]]
    _, result, events = run_session(gated_pool(short_seconds=SHORT), inputs, tmp_path)
    assert [c.state for c in result.clips] == [ClipState.DONE] * 3
    for p in inputs:
        assert packets(tmp_path / p.name) == references[p.stem]
    lines = log(events)
    assert any(m.startswith("long.mp4: sharing 17 pairs out over 2 devices (cpu, cpu) in 3 ranges") for m in lines)
    assert any(m.startswith("a.mp4: 11 pairs (0.5 s of input, under 0.7 s, with other clips waiting): the whole clip")
               for m in lines)
    assert any(m.startswith("b.mp4: sharing 11 pairs") for m in lines)  # the last clip: split, no device idles
    switched = [e.clip.input.name for e in events if isinstance(e, PanelSwitched)]
    assert set(switched) <= {"a.mp4", "b.mp4"}  # the job panel follows the oldest running clip


def test_skipping_one_running_clip_leaves_the_other(clips, references, tmp_path):
    session: Session
    skipped: list[bool] = []
    events: list = []

    def on_event(event):
        events.append(event)
        if isinstance(event, ClipChanged) and event.clip.input.name == "b.mp4" and event.clip.pairs_done >= 1 \
                and not skipped:
            first = session.clips[0]
            assert first.state is ClipState.RUNNING  # both run now
            skipped.append(session.skip(event.clip.id))

    pool = gated_pool(seconds=0.05)
    session = Session(options(), [(clips[n], tmp_path / f"{n}.mp4") for n in ("a", "b")], on_event=on_event,
                      run_job=pool)
    try:
        result = session.run()
    finally:
        pool.close()
    assert skipped == [True]
    assert [(c.input.name, c.state) for c in result.clips] == [("a.mp4", ClipState.DONE), ("b.mp4", ClipState.SKIPPED)]
    assert packets(tmp_path / "a.mp4") == references["a"]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.mp4"]  # nothing of b: no output, no journal
    assert result.exit_code == 0 and session.running == []


def test_an_abort_reaches_every_running_clip_and_leaves_nothing(clips, tmp_path):
    session: Session
    running: list[list[str]] = []

    def on_event(event):
        if isinstance(event, ClipChanged) and event.clip.input.name == "b.mp4" and event.clip.pairs_done >= 1 \
                and not running:
            running.append([c.input.name for c in session.running])
            session.cancel.set()

    pool = gated_pool(seconds=0.05)
    session = Session(options(), [(clips[n], tmp_path / f"{n}.mp4") for n in ("a", "b", "c")], on_event=on_event,
                      run_job=pool)
    try:
        result = session.run()
    finally:
        pool.close()
    assert running == [["a.mp4", "b.mp4"]]  # both ran when the abort came
    states = [(c.input.name, c.state) for c in result.clips]
    assert states == [("a.mp4", ClipState.FAILED), ("b.mp4", ClipState.FAILED), ("c.mp4", ClipState.WAITING)]
    assert all("aborted" in c.message for c in result.clips[:2])
    assert result.cancelled and result.exit_code == 130 and list(tmp_path.iterdir()) == []


def test_a_failing_device_in_a_queue_gives_its_clip_back_and_every_output_is_the_same(clips, references, tmp_path):
    inputs = [clips["a"], clips["b"], clips["c"]]
    pool = gated_pool()
    _, result, events = run_session(pool, inputs, tmp_path, job_kwargs={"inject": "device-error@worker=1,pair=3"})
    assert [c.state for c in result.clips] == [ClipState.DONE] * 3 and result.exit_code == 0
    for p in inputs:
        assert packets(tmp_path / p.name) == references[p.stem]
    warnings = [e.message for e in events if isinstance(e, LogRecord) and e.level == "warning"]
    failed = [m for m in warnings if "worker 1 (cpu) failed and is left out for the rest of the session" in m]
    assert len(failed) == 1 and "injected device-error" in failed[0] and failed[0].endswith(
        "The clip goes to another device.")
    assert set(pool.excluded) == {1}
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.mp4", "b.mp4", "c.mp4"]


async def test_the_console_queue_shows_two_running_clips(clips, tmp_path):
    from tests.tui_pilot import make_app, screen_text, wait_for
    from tui.session import ConsoleSession

    out = tmp_path / "out"
    out.mkdir()
    pool = gated_pool(seconds=0.05)
    names = ("a", "b")
    session = ConsoleSession(
        str(clips["a"]), str(out / "a.mp4"), options(), log_path=tmp_path / "framedeck.log", run_job=pool,
        clips=[(str(clips[n]), str(out / f"{n}.mp4")) for n in names], output_folder=out,
    )
    app = make_app(session, gpu_interval=None)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: "2 running · " in screen_text(app), limit=60)
            text = screen_text(app)
            rows = [line for line in text.splitlines() if ".mp4" in line and "running " in line]
            assert len(rows) == 2  # two Queue rows, each with its own percentage
            assert "Job · a.mp4" in text  # the job panel follows the oldest running clip, and says which
            await wait_for(pilot, lambda: app.summary is not None, limit=120)
            assert app.summary.error is None
    finally:
        pool.close()
    log = (tmp_path / "framedeck.log").read_text()
    assert "2 devices share the queue" in log and "b.mp4: " in log
    assert log.count("output check: ") == 2  # every clip's output read back, not only the panel's
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mp4"]


def test_only_the_oldest_running_clip_reaches_the_job_panel_and_the_next_takes_over():
    """session/parallel.py's router, on a session whose two clips are marked running."""
    from core.events import JobStarted, PairDone, Stage, StageChanged
    from session.parallel import ClipEvents

    out: list = []
    session = Session(options(), [("a.mp4", "A/a.mp4"), ("b.mp4", "A/b.mp4")], on_event=out.append)
    a, b = session.clips
    session.running[:] = [a, b]
    out.clear()
    route = ClipEvents(session)

    def started(name):
        return JobStarted(name, f"A/{name}", 64, 48, 24.0, 48.0, 11, 24, "blend", "cpu", "fp32", 1, "libx264")

    def pair(i):
        return PairDone(i, 11, 0.1, 2 * i, True, 5.0, 1.0, 0.5)

    route(a, started("a.mp4"))
    route(b, started("b.mp4"))
    route(b, StageChanged(Stage.INTERPOLATING, "11 pairs"))
    route(a, pair(0))
    route(b, pair(3))
    route(b, LogRecord("info", "batch 1"))
    route(b, WorkerRates((("cpu", 5, 2.0), ("cpu", 1, 1.0))))
    kinds = [type(e).__name__ for e in out]
    assert kinds == ["JobStarted", "LogRecord", "LogRecord", "PairDone", "LogRecord", "WorkerRates"]
    assert out[0].input == "a.mp4" and out[3].index == 0  # a's own events, as they are
    assert out[1].message.startswith("b.mp4: job b.mp4 -> A/b.mp4: 64x48")  # b's, as named log lines
    assert out[2].message == "b.mp4: stage interpolating: 11 pairs" and out[4].message == "b.mp4: batch 1"
    out.clear()
    session.running.remove(a)
    route.left(a)
    [switched] = out
    assert isinstance(switched, PanelSwitched) and switched.clip.id == b.id
    assert [type(e).__name__ for e in switched.events()] == ["JobStarted", "StageChanged", "PairDone"]
    assert switched.pair.index == 3
    out.clear()
    route(b, pair(4))
    assert [type(e).__name__ for e in out] == ["PairDone"]  # b is the panel's clip now


def test_the_queue_eta_of_two_clips_at_once_is_the_work_left_over_their_summed_rate():
    from session.clips import Clip
    from session.estimate import queue_eta

    a = Clip(Path("a"), Path("A"), ClipState.RUNNING, total_pairs=100, pairs_done=50, pixels=1000, rate=10.0, eta=5.0)
    b = Clip(Path("b"), Path("B"), ClipState.RUNNING, total_pairs=100, pairs_done=80, pixels=1000, rate=10.0, eta=2.0)
    waiting = Clip(Path("c"), Path("C"), ClipState.WAITING, total_pairs=50, pixels=2000)
    assert queue_eta([a, b, waiting]) == pytest.approx((50 + 20 + 100) / 20)


def test_tui_headless_queue_over_two_devices_uploads_each_output_as_it_lands(clips, tmp_path):
    from tui.cli import main

    uploads = tmp_path / "up"
    uploads.mkdir()
    out = tmp_path / "out"
    code = main([
        "tui", str(clips["a"]), str(clips["b"]), "-o", f"{out}/", "--model", "blend", "--codec", "libx264",
        "--headless", "--devices", "cpu,cpu", "--upload", uploads.as_uri(), "--confirm", "1",
        "--check-interval", "0", "--countdown", "0", "--no-skip",
    ])
    assert code == 0
    for name in ("a", "b"):
        assert (uploads / f"{name}.mp4").read_bytes() == (out / f"{name}.mp4").read_bytes()
    log = (out / "framedeck.log").read_text()
    assert "2 devices share the queue" in log and "the whole clip runs on worker" in log
    assert "clip a.mp4 verified" in log and "clip b.mp4 verified" in log and "nothing was stopped" in log


def test_a_clip_that_fails_does_not_stop_the_others(clips, references, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video\n")
    out = tmp_path / "out"
    out.mkdir()
    _, result, _ = run_session(DevicePool(["cpu", "cpu"]), [bad, clips["a"]], out)
    assert [(c.input.name, c.state) for c in result.clips] == [("bad.mp4", ClipState.FAILED), ("a.mp4", ClipState.DONE)]
    assert result.clips[0].message.count(". ") == 0 and result.exit_code == 1
    assert packets(out / "a.mp4") == references["a"] and sorted(p.name for p in out.iterdir()) == ["a.mp4"]


def test_the_device_workers_take_the_oldest_clips_tasks_first_and_a_lost_last_device_drops_the_rest():
    from core.device_scheduler import DeviceScheduler, Task

    gate = threading.Event()
    ran: list[tuple[str, int]] = []
    dropped: list[str] = []

    class Owner:
        def __init__(self, name):
            self.name = name

        def run_task(self, worker, task):
            gate.wait(10)  # the first task holds the worker while the list fills
            ran.append((self.name, task.pairs.start))
            return not (self.name == "late" and task.pairs.start == 0)  # its device fails there

        def drop(self, task, why):
            dropped.append(f"{self.name} {task.pairs.start}: {why}")

    scheduler = DeviceScheduler(["cpu"], {})
    early, late = Owner("early"), Owner("late")
    first, second = scheduler.next_order(), scheduler.next_order()
    scheduler.submit([Task(early, range(0, 8), first)])
    while scheduler.tasks:  # the worker has taken it
        time.sleep(0.01)
    assert not scheduler.wants_work()  # its only device is busy
    scheduler.submit([Task(late, range(0, 8), second), Task(late, range(8, 16), second)])
    scheduler.submit([Task(early, range(8, 16), first)])  # an older clip's task goes before
    scheduler.give_back(Task(early, range(16, 24), first))  # and a task given back before its clip's others
    gate.set()
    for _ in range(500):
        if len(ran) == 4:
            break
        time.sleep(0.01)
    assert ran == [("early", 0), ("early", 16), ("early", 8), ("late", 0)]
    assert dropped == []  # the late clip's failing worker was not left out by the scheduler itself
    scheduler.exclude(scheduler.workers[0], "lost")
    assert dropped == ["late 8: no device is left"] and scheduler.live() == [] and not scheduler.wants_work()
    scheduler.close()
