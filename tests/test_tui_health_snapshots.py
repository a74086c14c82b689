"""SVG snapshots at 80x24 and 120x40 of the host-health and time-and-money view (one screen:
the GPU panel's host lines, the job panel's finish, cost and output rows) and of the preview.

Fake NVML, fake /proc readings and disk, a fake wall clock; regenerate after an intended
change with ``FRAMEDECK_UPDATE_SNAPSHOTS=1`` (see tests/test_tui_snapshots.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from textual.widgets._footer import FooterKey

from core.host_health import HostSampler
from core.options import JobOptions
from core.preview import FrameTap
from core.telemetry import GpuTelemetry, TorchMemory
from tests.fake_nvml import GIB, FakeNvml
from tests.scripted_job import FIXED_TIME, ScriptedJob, yield_cpu
from tests.test_tui_snapshots import TARGET, check_snapshot, frozen  # noqa: F401 (a fixture)
from tests.tui_pilot import NO_TMUX_ENV, TMUX_ENV, screen_text, wait_for
from tui.app import FramedeckApp
from tui.commands.console import build_link
from tui.screens.preview import PreviewScreen
from tui.session import ConsoleSession
from tui.widgets.gpu_panel import sampler_for
from tui.widgets.log_panel import LogPanel

MIB = 2**20
OUT = Path("/tmp/framedeck-snapshot-out")  # fixed: the disk line names the folder


class Wall:
    """A wall clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def fake_host() -> HostSampler:
    stats = iter([(1000, 10_000), (5500, 20_000)] + [(5500 + i, 20_000 + i) for i in range(1, 100)])
    return HostSampler(
        proc_stat=lambda: next(stats),
        meminfo=lambda: (int(12.5 * GIB), 125 * GIB),
        disk_usage=lambda path: SimpleNamespace(free=30 * MIB, total=200 * GIB),
        device_of=lambda path: 7,
        written=lambda folder: 5 * MIB,
        cores=16,
    )


def health_app(env: dict[str, str], wall: Wall) -> tuple[FramedeckApp, ScriptedJob, HostSampler]:
    TARGET.mkdir(exist_ok=True)
    OUT.mkdir(exist_ok=True)
    with open("clip.mp4", "wb") as f:  # the input's size makes the output's estimate: 20 MiB x 2
        f.truncate(10 * MIB)
    link = build_link(
        TARGET.as_uri(), shutdown="poweroff", dry_run=True, sentinel=Path("sentinel.json"), confirm=3,
        check_interval=10.0, countdown=60.0, require_confirm=False, env={}, clock=lambda: 0.0, wall=wall,
    )
    job = ScriptedJob(pairs=8)
    session = ConsoleSession(
        "clip.mp4", str(OUT / "clip_2x.mp4"), JobOptions(), log_path=Path("framedeck.log"), link=link,
        run_job=job, sleep=yield_cpu, wall=wall, price_per_hour=2.5,
    )
    host = fake_host()
    host.watch(session.output_path)
    session.subscribe(host.on_event)
    nvml = FakeNvml(["NVIDIA H100 80GB HBM3"])
    nvml.memory_used, nvml.utilization, nvml.temperature, nvml.power_mw = [int(61 * GIB)], [97], [71], [655_000]
    sampler = sampler_for(GpuTelemetry(nvml=nvml), lambda: TorchMemory(int(50 * GIB), int(58 * GIB)), host)
    return FramedeckApp(session, sampler=sampler, gpu_interval=None, env=env), job, host


def logged(app: FramedeckApp, text: str) -> bool:
    return any(text in record.message for record in app.query_one(LogPanel).records)


SIZES = [((80, 24), NO_TMUX_ENV, "80x24"), ((120, 40), TMUX_ENV, "120x40")]


@pytest.mark.parametrize(("size", "env", "name"), SIZES)
async def test_health_and_money_snapshot(frozen, size, env, name) -> None:  # noqa: F811
    wall = Wall(FIXED_TIME)
    app, job, _ = health_app(env, wall)
    async with app.run_test(size=size) as pilot:
        job.release(5)
        await wait_for(pilot, lambda: app.job.done == 5 and logged(app, "pair 4 done"))
        wall.now = FIXED_TIME + 3600  # an hour into the session
        app.sample_gpu()
        await wait_for(pilot, lambda: app.gpu.samples == 1)
        app.sample_gpu()  # the second reading has a CPU figure
        await wait_for(pilot, lambda: app.gpu.samples == 2)
        await pilot.pause(0.1)
        text = screen_text(app)
        svg = app.export_screenshot(title="framedeck")
        job.release(3)
    check_snapshot(f"health_{name}.svg", svg, text)
    assert "cpu 45%" in text and "12.5 GiB/125.0 GiB" in text
    assert "30 MiB free" in text and "35 MiB more" in text  # 2 x 20 MiB - 5 MiB written > 30 MiB
    assert "1980 MHz" in text and "10/18 frames" in text and "5 MiB on disk" in text
    # an hour at 2.5/h so far; the work (2 s), two more checks 10 s apart and the countdown (60 s)
    assert "2.50 so far, ~2.56 in all" in text
    assert "23:13 · stop 23:14 (1:22)" in text or "done 23:13  stop 23:14 (in 1:22)" in text


def gradient(width: int, height: int, channel: int) -> np.ndarray:
    picture = np.zeros((height, width, 3), np.uint8)
    picture[..., channel] = np.linspace(40, 255, width, dtype=np.uint8)[None, :]
    picture[..., 1] = np.linspace(0, 200, height, dtype=np.uint8)[:, None]
    return picture


@pytest.mark.parametrize(("size", "env", "name"), SIZES)
async def test_preview_snapshot(frozen, size, env, name) -> None:  # noqa: F811
    wall = Wall(FIXED_TIME)
    app, job, _ = health_app(env, wall)
    tap = FrameTap(every=2.0, width=64)
    app.session.job_kwargs["preview"] = tap
    first, second = gradient(128, 72, 0), gradient(128, 72, 2)
    made = (first // 2 + second // 2).astype(np.uint8)
    tap.offer_pair(41, SimpleNamespace(rgb=first, source=object()), SimpleNamespace(rgb=second, source=object()))
    tap.offer_slot(41, av.VideoFrame.from_ndarray(made, format="rgb24"))  # as the GPU colour path makes them
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: len(app.screen.query(FooterKey)) > 0  # the footer is drawn
                       and app.job.stage == "interpolating" and logged(app, "stage interpolating"))
        app.sample_gpu()  # a reading taken after the job started: the output row shows its bytes on disk
        await wait_for(pilot, lambda: app.gpu.samples == 2 and app.job.written_bytes is not None)
        await pilot.pause(0.1)
        # where the log rests depends on whether its lines came before or after the job panel
        # grew that row (at 80x24 the log then scrolls); shown at its end, as the next line puts it
        app.query_one(LogPanel).scroll_end(animate=False)
        await pilot.pause(0.1)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen))
        await pilot.pause(0.1)
        text = screen_text(app)
        svg = app.export_screenshot(title="framedeck")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, PreviewScreen))
        job.release(8)
    check_snapshot(f"preview_{name}.svg", svg, text)
    assert "frame 41" in text and "made" in text and "frame 42" in text
    assert text.count("▀") > 3 * 20  # three pictures of half blocks


async def test_preview_before_any_frame_says_so(frozen) -> None:  # noqa: F811
    app, job, _ = health_app(TMUX_ENV, Wall(FIXED_TIME))
    app.session.job_kwargs["preview"] = FrameTap(every=2.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen))
        await pilot.pause(0.05)
        assert "No frame yet: one is taken every 2 s" in screen_text(app)
        job.release(8)


if os.environ.get("FRAMEDECK_UPDATE_SNAPSHOTS") == "1":  # pragma: no cover
    OUT.mkdir(exist_ok=True)


async def test_a_real_job_ends_with_frames_bytes_and_its_output_checked(tmp_path: Path) -> None:
    from sample_media.generate import write_clip
    from tests.fake_nvml import MissingNvml

    clip = write_clip(tmp_path / "clip.mp4", 64, 36, 24, 0.5, audio=False)  # 12 frames -> 24
    session = ConsoleSession(str(clip), str(tmp_path / "out.mp4"),
                             JobOptions(factor=2, model="blend", device="cpu"),
                             log_path=tmp_path / "framedeck.log", job_kwargs={"preview": FrameTap(every=0.0)})
    host = HostSampler()
    host.watch(session.output_path)
    session.subscribe(host.on_event)
    app = FramedeckApp(session, sampler=sampler_for(GpuTelemetry(nvml=MissingNvml()), lambda: None, host),
                       gpu_interval=None, env=TMUX_ENV)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.summary is not None, limit=120)
        app.sample_gpu()
        await wait_for(pilot, lambda: app.gpu.samples >= 1)
        await pilot.pause(0.1)
        text = screen_text(app)
        size = (tmp_path / "out.mp4").stat().st_size
        assert "24/24 frames" in text and f"{size / 1024:.1f} KiB on disk" in text
        assert "check    ✓ 24 frames, 0.500 s, 48 fps" in text  # read back from the file
        assert "output check: out.mp4 24 frames, 0.500 s at 48 fps, as expected" in session.log_path.read_text()
        assert "host cpu" in text and "disk" in text and "no NVIDIA GPU" in text
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen))
        await pilot.pause(0.1)
        assert "made" in screen_text(app) and screen_text(app).count("▀") > 30


async def test_paused_the_finish_and_the_cost_move_on_with_the_clock_and_the_eta_holds(frozen) -> None:  # noqa: F811
    wall = Wall(FIXED_TIME)
    app, job, _ = health_app(TMUX_ENV, wall)
    async with app.run_test(size=(120, 40)) as pilot:
        job.release(5)
        await wait_for(pilot, lambda: app.job.done == 5)
        await pilot.press("p")
        await wait_for(pilot, lambda: job.held.is_set())
        app.sample_gpu()
        await wait_for(pilot, lambda: "0.00 so far" in screen_text(app))
        before = screen_text(app)
        assert "done 22:13  stop 22:14 (in 1:22)" in before and "0.00 so far, ~0.06 in all" in before
        wall.now = FIXED_TIME + 600  # ten minutes paused
        app.sample_gpu()
        await wait_for(pilot, lambda: "0.42 so far" in screen_text(app))
        after = screen_text(app)
        assert "ETA 0:02  held" in after  # the work left is what it was
        assert "done 22:23  stop 22:24 (in 1:22)" in after  # everything ten minutes later
        assert "0.42 so far, ~0.47 in all" in after  # 600 s and 682 s at 2.5/h
        await pilot.press("p")
        job.release(3)
