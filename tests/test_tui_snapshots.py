"""SVG snapshots of the console at 80x24 and 120x40, with fake NVML and frozen clocks.

The committed ``tests/snapshots/*.svg`` are what the console must look like. After an
intended change of the layout, look at the new SVGs and regenerate them with
``FRAMEDECK_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_tui_snapshots.py``.
"""

from __future__ import annotations

import difflib
import os
import re
import time
from pathlib import Path

import pytest

from core.events import OomBackoff
from core.options import JobOptions
from core.telemetry import GpuTelemetry, TorchMemory
from tests.fake_nvml import GIB, FakeNvml
from tests.scripted_job import FIXED_TIME, ScriptedJob, yield_cpu
from tests.tui_pilot import NO_TMUX_ENV, TMUX_ENV, screen_text, wait_for
from tui.app import FramedeckApp
from tui.commands.console import build_link
from tui.session import ConsoleSession
from tui.widgets.gpu_panel import sampler_for

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("FRAMEDECK_UPDATE_SNAPSHOTS") == "1"
TARGET = Path("/tmp/framedeck-snapshot-target")  # fixed, so the target's URL is the same everywhere


def normalise(svg: str) -> str:
    """Rich names its CSS classes after a hash of the content; the rest is deterministic."""
    return re.sub(r"terminal-\d+", "terminal", svg)


def check_snapshot(name: str, svg: str, text: str) -> None:
    path = SNAPSHOTS / name
    svg = normalise(svg)
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        path.with_suffix(".txt").write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"missing snapshot {path}; create it with FRAMEDECK_UPDATE_SNAPSHOTS=1")
    expected_text = path.with_suffix(".txt").read_text(encoding="utf-8")
    if svg != path.read_text(encoding="utf-8"):
        diff = "\n".join(difflib.unified_diff(expected_text.splitlines(), text.splitlines(), lineterm=""))
        pytest.fail(f"the console no longer matches {path.name}:\n{diff or '(same text, other colours or styles)'}")


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.chdir(tmp_path)
    yield
    monkeypatch.undo()
    time.tzset()


def snapshot_app(env: dict[str, str]) -> tuple[FramedeckApp, ScriptedJob, FakeNvml]:
    TARGET.mkdir(exist_ok=True)
    link = build_link(
        TARGET.as_uri(),
        shutdown="poweroff",
        dry_run=True,
        sentinel=Path("sentinel.json"),
        confirm=3,
        check_interval=10.0,
        countdown=60.0,
        require_confirm=False,
        env={},
        clock=lambda: 0.0,
        wall=lambda: FIXED_TIME,
    )
    job = ScriptedJob(pairs=8)
    session = ConsoleSession(
        "clip.mp4", "clip_2x.mp4", JobOptions(), log_path=Path("framedeck.log"), link=link,
        run_job=job, sleep=yield_cpu, wall=lambda: FIXED_TIME,
    )
    nvml = FakeNvml(["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"])
    torch_reading = TorchMemory(allocated=int(21.4 * GIB), reserved=int(24 * GIB))
    sampler = sampler_for(GpuTelemetry(nvml=nvml), lambda: torch_reading)
    app = FramedeckApp(session, sampler=sampler, gpu_interval=None, env=env)
    return app, job, nvml


async def drive_to_mid_job(app: FramedeckApp, job: ScriptedJob, nvml: FakeNvml, pilot) -> None:
    await wait_for(pilot, lambda: app.gpu.samples == 1)
    for i, (used0, used1) in enumerate([(30, 8), (52, 9), (66, 9), (71.5, 10), (76.9, 10)], start=2):
        nvml.memory_used = [int(used0 * GIB), int(used1 * GIB)]
        nvml.utilization, nvml.temperature, nvml.power_mw = [93, 4], [74, 38], [612_000, 71_000]
        app.sample_gpu()
        await wait_for(pilot, lambda i=i: app.gpu.samples == i)
    job.release(5)
    await wait_for(pilot, lambda: app.job.done == 5)
    app.session.emit(OomBackoff(2, 1, 1.0, "out of memory"))
    await wait_for(pilot, lambda: app.job.oom_backoffs == 1)
    await pilot.pause(0.1)
    await pilot.wait_for_scheduled_animations()


@pytest.mark.parametrize(
    ("size", "env", "name"),
    [((80, 24), NO_TMUX_ENV, "console_80x24.svg"), ((120, 40), TMUX_ENV, "console_120x40.svg")],
)
async def test_console_snapshot(frozen, size: tuple[int, int], env: dict[str, str], name: str) -> None:
    app, job, nvml = snapshot_app(env)
    async with app.run_test(size=size) as pilot:
        await drive_to_mid_job(app, job, nvml, pilot)
        text = screen_text(app)
        svg = app.export_screenshot(title="framedeck")
        job.release(3)
    check_snapshot(name, svg, text)
    # What the snapshot must show, whatever the styling: the facts a glance is for.
    assert "DRY RUN" in text and "5/8" in text and "ETA 0:02" in text
    assert "speed    4.5 fps  (output 50 fps)" in text  # processing speed, the target apart
    assert "76.9 GiB/80.0 GiB" in text and "OOM back-offs 1" in text
    assert ("not in tmux/screen" in text) == (env is NO_TMUX_ENV)
