"""Pilot tests of the watchdog keys with the real watchdog, a file:// target and a manual clock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.scripted_job import ScriptedJob
from tests.tui_pilot import binding_state, make_app, make_session, screen_text, wait_for
from tui.commands.console import build_link
from tui.screens.confirm import ConfirmScreen
from tui.watchdog_link import WatchdogLink
from tui.widgets.log_panel import LogPanel


class ManualClock:
    """Time moves only when a test calls ``advance``; ``sleep`` just yields the thread."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        time.sleep(0.002)


def link_for(tmp_path: Path, clock: ManualClock, *, shutdown: str = "poweroff", allow_live: bool = True,
             countdown: float = 30.0) -> WatchdogLink:
    uploads = tmp_path / "uploaded"
    uploads.mkdir()
    return build_link(
        uploads.as_uri(),
        shutdown=shutdown,
        dry_run=True,
        sentinel=tmp_path / "sentinel.json",
        confirm=2,
        check_interval=0.0,
        countdown=countdown,
        require_confirm=False,
        env={},
        allow_live=allow_live,
        clock=clock,
    )


def finished_job(tmp_path: Path, pairs: int = 2) -> ScriptedJob:
    """A scripted job whose 'output' is a real file, so the watchdog can upload and verify it."""
    (tmp_path / "out.mp4").write_bytes(b"framedeck test output " * 100)
    return ScriptedJob(pairs=pairs, gated=False)


async def test_countdown_cancelled_keeps_the_machine_and_s_stops_later(tmp_path: Path) -> None:
    clock = ManualClock()
    link = link_for(tmp_path, clock)
    session = make_session(tmp_path, finished_job(tmp_path), link=link, sleep=clock.sleep)
    app = make_app(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: link.view().state == "countdown")
        await wait_for(pilot, lambda: "x cancels" in screen_text(app))  # the screen follows within DRAIN_INTERVAL
        assert "stop in 30 s (x cancels)" in screen_text(app)  # one figure: no 0:29 beside "30 s"
        assert "note    stopping in" not in screen_text(app)  # the panel has no second figure
        shown = [r.message for r in app.query_one(LogPanel).records]
        assert "watchdog countdown: stopping in 30 s unless cancelled" in shown  # the log panel says it began
        assert binding_state(app, "cancel_countdown") is True
        assert binding_state(app, "stop_now") is True
        await pilot.press("x")
        assert link.view().state == "verified"
        assert binding_state(app, "cancel_countdown") is None
        clock.advance(120.0)  # long past the countdown: nothing happens, the stop is held
        await pilot.pause(0.1)
        assert link.view().state == "verified" and not (tmp_path / "sentinel.json").exists()
        assert (tmp_path / "uploaded" / "out.mp4").read_bytes() == (tmp_path / "out.mp4").read_bytes()
        await pilot.press("s")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: link.view().state == "stopped")
        await wait_for(pilot, lambda: app.summary is not None)
        assert app.summary.sentinel == str((tmp_path / "sentinel.json").absolute())
        assert "stopped" in screen_text(app)
    assert (tmp_path / "sentinel.json").exists()
    log = (tmp_path / "framedeck.log").read_text()
    assert "countdown cancelled" in log and "STOPPING INSTANCE" in log


async def test_dry_run_toggle_asks_before_going_live(tmp_path: Path) -> None:
    clock = ManualClock()
    link = link_for(tmp_path, clock, shutdown="command:true")
    finished_job(tmp_path)  # the output file the watchdog will upload at the end
    job = ScriptedJob(pairs=3)  # gated: the watchdog waits for the output until released
    app = make_app(make_session(tmp_path, job, link=link, sleep=clock.sleep))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: job.started.is_set())
        assert "DRY RUN" in screen_text(app)
        assert binding_state(app, "toggle_dry_run") is True
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert link.watchdog.dry_run is True
        await pilot.press("d")
        await pilot.press("y")
        assert link.watchdog.dry_run is False
        text = screen_text(app)
        assert "LIVE" in text and "DRY RUN" not in text
        await pilot.press("d")  # back to a dry run: no question asked
        assert not isinstance(app.screen, ConfirmScreen)
        assert link.watchdog.dry_run is True
        assert "DRY RUN" in screen_text(app)
        job.release(3)
        await wait_for(pilot, lambda: link.view().state == "countdown")
    log = (tmp_path / "framedeck.log").read_text()
    assert "LIVE STOP armed" in log and "dry run on" in log


async def test_dry_run_is_locked_when_no_live_stop_is_possible(tmp_path: Path) -> None:
    clock = ManualClock()
    link = link_for(tmp_path, clock, allow_live=False)
    job = ScriptedJob(pairs=2)
    app = make_app(make_session(tmp_path, job, link=link, sleep=clock.sleep))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: job.started.is_set())
        assert binding_state(app, "toggle_dry_run") is None
        await wait_for(pilot, lambda: "on (locked)" in screen_text(app))
        await pilot.press("d")
        assert not isinstance(app.screen, ConfirmScreen)
        assert link.watchdog.dry_run is True
        job.release(2)


async def test_quit_during_countdown_asks_and_cancels_the_stop(tmp_path: Path) -> None:
    clock = ManualClock()
    link = link_for(tmp_path, clock)
    session = make_session(tmp_path, finished_job(tmp_path), link=link, sleep=clock.sleep)
    app = make_app(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: link.view().state == "countdown")
        await wait_for(pilot, lambda: app.job.finished)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        assert "the watchdog (countdown)" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running)
    assert link.view().state == "cancelled"
    assert session.done.is_set()
    clock.advance(120.0)
    assert not (tmp_path / "sentinel.json").exists()


async def test_s_is_dimmed_until_verified(tmp_path: Path) -> None:
    clock = ManualClock()
    link = link_for(tmp_path, clock)
    job = ScriptedJob(pairs=2)
    app = make_app(make_session(tmp_path, job, link=link, sleep=clock.sleep))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: job.started.is_set())
        assert link.view().state == "waiting for output"
        assert binding_state(app, "stop_now") is None
        await pilot.press("s")
        assert not isinstance(app.screen, ConfirmScreen)
        job.release(2)


async def test_require_confirm_waits_for_s(tmp_path: Path) -> None:
    clock = ManualClock()
    uploads = tmp_path / "uploaded"
    uploads.mkdir()
    link = build_link(
        uploads.as_uri(), shutdown="poweroff", dry_run=True, sentinel=tmp_path / "sentinel.json",
        confirm=1, check_interval=0.0, countdown=0.0, require_confirm=True, env={}, clock=clock,
    )
    session = make_session(tmp_path, finished_job(tmp_path), link=link, sleep=clock.sleep)
    app = make_app(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: link.view().state == "awaiting confirmation")
        clock.advance(3600.0)
        await pilot.pause(0.1)
        assert link.view().state == "awaiting confirmation"  # nobody pressed s: no stop
        await wait_for(pilot, lambda: "press s to stop" in screen_text(app))
        await pilot.press("s")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: link.view().state == "stopped")
    assert (tmp_path / "sentinel.json").exists()
