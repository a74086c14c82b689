"""The GPU panel (no GPU, fake NVML), the coalescing inbox, and the job panel's state."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.events import JobFailed, LogRecord, OomBackoff, PairDone, Stage, StageChanged, Stalled
from core.telemetry import NVML_UNAVAILABLE, GpuTelemetry, TorchMemory
from tests.fake_nvml import GIB, FakeNvml, MissingNvml
from tests.scripted_job import ScriptedJob
from tests.tui_pilot import make_app, make_session, screen_text, wait_for
from tui.messages import EventInbox, EventsWaiting
from tui.widgets.bars import seconds_text
from tui.widgets.gpu_panel import GpuPanel, sampler_for
from tui.widgets.job_panel import JobState


def no_torch() -> None:
    return None


async def test_no_gpu_says_so_in_one_line_and_the_job_runs(tmp_path: Path) -> None:
    telemetry = GpuTelemetry(nvml=MissingNvml())
    job = ScriptedJob(pairs=3, gated=False)
    app = make_app(make_session(tmp_path, job), sampler=sampler_for(telemetry, no_torch), gpu_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.gpu.samples >= 3)  # sampled repeatedly off the UI thread
        await wait_for(pilot, lambda: app.summary is not None)
        text = screen_text(app)
        assert text.count(NVML_UNAVAILABLE) == 1
        assert app.query_one(GpuPanel).content_size.height == 1  # one line, nothing else
        assert app.summary.error is None and app.job.done == 3


async def test_real_telemetry_on_this_machine_does_not_break_the_console(tmp_path: Path) -> None:
    """This machine has no NVIDIA driver; the default NVML loader must fail softly."""
    from core.telemetry import torch_memory

    telemetry = GpuTelemetry()
    job = ScriptedJob(pairs=2, gated=False)
    app = make_app(make_session(tmp_path, job), sampler=sampler_for(telemetry, torch_memory))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.gpu.samples >= 1 and app.summary is not None)
        text = screen_text(app)
        if not telemetry.available:
            assert NVML_UNAVAILABLE in text
        else:  # a GPU box: one memory line per GPU
            assert "GiB" in text
    telemetry.close()


async def test_gpu_panel_shows_memory_bar_history_and_torch_memory(tmp_path: Path) -> None:
    nvml = FakeNvml(["NVIDIA H100 80GB HBM3"])
    telemetry = GpuTelemetry(nvml=nvml)
    torch_reading = TorchMemory(allocated=3 * GIB, reserved=4 * GIB)
    job = ScriptedJob(pairs=1)
    app = make_app(make_session(tmp_path, job), sampler=sampler_for(telemetry, lambda: torch_reading), gpu_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.gpu.samples == 1)
        nvml.memory_used[0] = int(78.5 * GIB)  # 98%: the bar turns red
        nvml.utilization[0], nvml.temperature[0], nvml.power_mw[0] = 97, 81, 650_000
        app.sample_gpu()
        await wait_for(pilot, lambda: app.gpu.samples == 2)
        text = screen_text(app)
        assert "78.5 GiB/80.0 GiB" in text
        assert "util 97%" in text and "temp 81°C" in text and "power 650 W" in text
        assert "torch alloc 3.0 GiB resv 4.0 GiB" in text
        assert "NVIDIA H100 80GB HBM3" in text
        assert list(app.gpu.history[0]) == [0.1, 78.5 / 80.0]
        line = app.query_one(GpuPanel)._gpu_lines(app.gpu.gpus[0], 56)[0]
        bar_styles = {str(span.style) for span in line.spans if "█" in line.plain[span.start : span.end]}
        assert bar_styles == {"bold red"}  # 98% used: the alert colour
        job.release(1)


def test_inbox_coalesces_progress_and_keeps_every_log_line() -> None:
    posted: list[object] = []
    inbox = EventInbox(posted.append)
    for i in range(100):
        inbox.put(PairDone(i, 100, 0.1, i, True, 10.0, 1.0, 0.1 * i))
        if i % 10 == 0:
            inbox.put(LogRecord("info", f"line {i}", 0.0))
    assert len(posted) == 1 and isinstance(posted[0], EventsWaiting)  # one wake-up per burst
    events = inbox.drain()
    pairs = [e for e in events if isinstance(e, PairDone)]
    logs = [e for e in events if isinstance(e, LogRecord)]
    assert [p.index for p in pairs] == [99]  # only the newest progress survives
    assert [r.message for r in logs] == [f"line {i}" for i in range(0, 100, 10)]
    assert inbox.drain() == []
    inbox.put(Stalled("decode", 30.0))
    assert len(posted) == 2  # a new burst wakes the UI again


def test_inbox_is_bounded() -> None:
    inbox = EventInbox(lambda message: None, limit=50)
    for i in range(120):
        inbox.put(LogRecord("info", str(i), 0.0))
    events = inbox.drain()
    assert len(events) == 50 and inbox.dropped == 70
    assert events[-1].message == "119"


def test_job_state_folds_backoffs_stalls_and_failure() -> None:
    state = JobState()
    state.apply(OomBackoff(8, 4, 1.0, "out of memory"))
    state.apply(Stalled("model", 42.0))
    assert state.batch == 4 and state.oom_backoffs == 1
    assert state.stalled == "model stalled for 42 s"
    state.apply(PairDone(0, 10, 1.0, 2, True, None, None, 1.0))
    assert state.stalled == "" and state.done == 1 and state.eta is None
    state.apply(StageChanged(Stage.FAILED, "The model 'flow' failed: boom"))
    state.apply(JobFailed("The model 'flow' failed: boom"))
    assert not state.active and state.stage == "failed"


async def test_stall_warning_and_eta_placeholder_on_screen(tmp_path: Path) -> None:
    job = ScriptedJob(pairs=6)
    app = make_app(make_session(tmp_path, job))
    async with app.run_test(size=(80, 24)) as pilot:
        job.release(1)
        await wait_for(pilot, lambda: app.job.done == 1)
        assert "ETA --:--" in screen_text(app)  # the scripted job reports no ETA yet
        app.session.emit(Stalled("decode", 25.0))
        await wait_for(pilot, lambda: "decode stalled for 25 s" in screen_text(app))
        job.release(5)
        await wait_for(pilot, lambda: app.summary is not None)
        # the next pair clears the warning (the screen redraws at most ten times a second)
        await wait_for(pilot, lambda: "stalled" not in screen_text(app))


def test_seconds_text_truncates_and_shows_a_dash_when_unknown() -> None:
    assert seconds_text(None) == "-"
    assert seconds_text(59.9) == "0:59"  # whole seconds gone: a countdown never jumps ahead
    assert seconds_text(3725.7) == "1:02:05"


def test_job_panel_speed_is_output_frames_per_second_beside_the_target_rate() -> None:
    from core.events import JobStarted, PairDone
    from tui.widgets.job_panel import JobState

    state = JobState()
    state.apply(JobStarted("in.mp4", "out.mp4", 64, 36, 24.0, 48.0, 95, 191, "blend", "cpu", "fp32", 4, "libx264"))
    state.apply(PairDone(39, 95, 0.37, 80, True, 2.69, 20.4, 14.0))
    assert state.frames_per_second == pytest.approx(2.69 * 191 / 95)
    assert state.output_fps == 48.0  # the target, shown apart and labelled as the output's rate


class TwoGpuJob(ScriptedJob):
    """A scripted job shared out over cuda:0 and cuda:1: each pair also reports the workers."""

    def __call__(self, input_path, output_path, options, on_event, cancel, pause, **kw):
        from core.events import WorkerRates

        def with_rates(event: object) -> None:
            on_event(event)
            if isinstance(event, PairDone):
                on_event(WorkerRates((("cuda:0", event.index + 1, 3.25), ("cuda:1", 0, None))))

        return super().__call__(input_path, output_path, options, with_rates, cancel, pause, **kw)


async def test_each_gpu_row_shows_the_rate_of_the_worker_on_it(tmp_path: Path) -> None:
    nvml = FakeNvml(["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"])
    telemetry = GpuTelemetry(nvml=nvml)
    job = TwoGpuJob(pairs=2)
    app = make_app(make_session(tmp_path, job), sampler=sampler_for(telemetry, no_torch), gpu_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.gpu.samples == 1)
        assert "worker" not in screen_text(app)  # one device: no worker figures
        job.release(1)
        await wait_for(pilot, lambda: app.job.workers is not None)
        app.sample_gpu()
        await wait_for(pilot, lambda: app.gpu.samples == 2)
        panel = app.query_one(GpuPanel)
        rows = [panel._gpu_lines(gpu, 56)[1].plain for gpu in app.gpu.gpus]
        assert rows[0].startswith("  worker 3.25/s  util") and rows[1].startswith("  worker -/s  util")
        assert "worker 3.25/s" in screen_text(app)
        job.release(2)
