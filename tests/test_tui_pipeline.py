"""The console over the real pipeline (``core.job.run_job``): pause, resume, abort."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from core.interpolators.blend import BlendInterpolator
from core.options import JobOptions
from sample_media.generate import write_clip
from tests.tui_pilot import make_app, screen_text, wait_for
from tui.app import DRAIN_INTERVAL
from tui.screens.confirm import ConfirmScreen
from tui.session import ConsoleSession


class PacedBlend(BlendInterpolator):
    """The real blend model, one forward per permit, so the test sets the job's pace."""

    def __init__(self) -> None:
        self.permits = threading.Semaphore(0)

    def interpolate(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.permits.acquire()
        return super().interpolate(img0, img1, t)

    def allow(self, n: int) -> None:
        for _ in range(n):
            self.permits.release()


async def test_pause_resume_then_abort_a_real_job(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", 64, 36, 24, 3.0, audio=False)  # 72 frames, 71 pairs
    output = tmp_path / "out.mp4"
    model = PacedBlend()
    held = threading.Event()

    def sleep(seconds: float) -> None:  # the core sleeps only while paused
        held.set()
        threading.Event().wait(seconds)

    session = ConsoleSession(
        str(clip), str(output), JobOptions(factor=2, model="blend", batch=1, device="cpu"),
        log_path=tmp_path / "framedeck.log", job_kwargs={"sleep": sleep, "interpolator": model},
    )
    app = make_app(session)
    async with app.run_test(size=(80, 24)) as pilot:
        model.allow(5)
        await wait_for(pilot, lambda: app.job.done >= 4, limit=60)
        await pilot.press("p")
        model.allow(1)  # the forward in flight finishes; the job then holds between batches
        await wait_for(pilot, lambda: held.is_set())
        model.allow(40)  # the model may run again, but the pause must hold the job
        await pilot.pause(DRAIN_INTERVAL + 0.2)  # let what was sent before the pause arrive
        done_when_held = app.job.done
        await pilot.pause(DRAIN_INTERVAL + 0.3)
        assert app.job.done == done_when_held <= 7
        assert app.job.paused and binding_state_is_enabled(app, "resume")  # the footer says Resume
        assert not binding_state_is_enabled(app, "pause")
        await pilot.press("p")
        await wait_for(pilot, lambda: app.job.done >= done_when_held + 30, limit=60)
        await pilot.press("a")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        model.allow(100)  # cancel is honoured between batches
        await wait_for(pilot, lambda: app.summary is not None, limit=60)
        assert app.job.stage == "aborted"
        assert app.job.done < 71
    assert "aborted" in (app.summary.error or "")
    assert not output.exists()  # nothing half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "framedeck.log"]
    assert session.error_code == 130
    log = (tmp_path / "framedeck.log").read_text()
    assert "paused between batches" in log and "resumed" in log and "abort requested" in log


def binding_state_is_enabled(app, action: str) -> bool:
    return app.check_action(action, ()) is True


async def test_a_failing_job_shows_its_one_sentence(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bad.mp4").write_bytes(b"this is not a video")
    session = ConsoleSession("bad.mp4", "out.mp4", JobOptions(model="blend"), log_path=Path("framedeck.log"))
    app = make_app(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.summary is not None, limit=60)
        await pilot.pause(0.2)
        job_box = [line.split("│")[1] for line in screen_text(app).splitlines() if line.startswith("│")]
        shown = " ".join(" ".join(job_box).split())
        assert app.job.stage == "failed"
        assert session.error and session.error in shown  # the whole sentence, wrapped in the panel
        assert binding_state_is_enabled(app, "quit") and app.check_action("abort", ()) is None
    assert session.error_code == 2 and not Path("out.mp4").exists()


@pytest.mark.parametrize(("key", "kept"), [("y", True), ("d", False)])
async def test_abort_in_the_console_asks_whether_to_keep_the_progress(tmp_path: Path, key: str, kept: bool) -> None:
    """A journaled console job (keep=True, as `framedeck tui` runs it): 'Abort, keep' leaves
    the journal for a resume, 'Abort, discard' removes it."""
    from core.journal import journal_folder
    from tui.screens.confirm import ChoiceScreen

    clip = write_clip(tmp_path / "clip.mp4", 64, 36, 24, 3.0, audio=False)  # 72 frames, 71 pairs
    output = tmp_path / "out.mp4"
    model = PacedBlend()
    session = ConsoleSession(
        str(clip), str(output), JobOptions(factor=2, model="blend", batch=1, segment_pairs=8, device="cpu"),
        log_path=tmp_path / "framedeck.log", job_kwargs={"interpolator": model, "keep": True},
    )
    app = make_app(session)
    async with app.run_test(size=(80, 24)) as pilot:
        model.allow(30)
        await wait_for(pilot, lambda: app.job.done >= 28, limit=60)  # pairs 0-23 closed three segments
        await pilot.press("a")
        assert isinstance(app.screen, ChoiceScreen)
        assert "Abort, keep (y)" in screen_text(app) and "Abort, discard (d)" in screen_text(app)
        await pilot.press(key)
        model.allow(100)
        await wait_for(pilot, lambda: app.summary is not None, limit=60)
    assert not output.exists()
    assert journal_folder(output).exists() is kept
    error = app.summary.error or ""
    if kept:
        assert "interrupted at" in error and "run the same command to resume" in error
    else:
        assert "progress discarded" in error
