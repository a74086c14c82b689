"""Pilot tests of the console's job keys: abort, pause, quit, help, log focus, dimmed keys."""

from __future__ import annotations

from pathlib import Path

from tests.scripted_job import ScriptedJob
from tests.tui_pilot import binding_state, make_app, make_session, screen_text, wait_for
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpScreen
from tui.widgets.log_panel import LogPanel


async def test_abort_confirmed_stops_the_job(tmp_path: Path) -> None:
    job = ScriptedJob(pairs=6)
    app = make_app(make_session(tmp_path, job))
    async with app.run_test(size=(80, 24)) as pilot:
        job.release(2)
        await wait_for(pilot, lambda: app.job.done == 2)
        assert binding_state(app, "abort") is True
        await pilot.press("a")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: app.summary is not None)
        assert app.job.stage == "aborted"
        assert "aborted" in (app.summary.error or "")
        assert job.emitted_pairs == 2
        assert binding_state(app, "abort") is None  # dimmed once nothing runs
        assert binding_state(app, "pause") is None
        await pilot.press("q")  # nothing active: quits without asking
        await wait_for(pilot, lambda: not app.is_running)
    log = (tmp_path / "framedeck.log").read_text()
    assert "abort requested from the console" in log
    assert "The job was aborted" in log


async def test_abort_cancelled_lets_the_job_finish(tmp_path: Path) -> None:
    job = ScriptedJob(pairs=4)
    app = make_app(make_session(tmp_path, job))
    async with app.run_test(size=(80, 24)) as pilot:
        job.release(1)
        await wait_for(pilot, lambda: app.job.done == 1)
        await pilot.press("a")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert not isinstance(app.screen, ConfirmScreen)
        assert not app.session.cancel.is_set()
        job.release(3)
        await wait_for(pilot, lambda: app.summary is not None)
        assert app.summary.error is None
        assert app.job.finished and app.job.done == 4
        assert app.job.stage == "done"


async def test_the_last_events_are_shown_when_the_job_ends_between_screen_updates(
    tmp_path: Path, monkeypatch
) -> None:
    """Screen updates are throttled; the session's end still shows every event before it."""
    monkeypatch.setattr("tui.app.DRAIN_INTERVAL", 60.0)  # no timed update would come in time
    job = ScriptedJob(pairs=3)
    app = make_app(make_session(tmp_path, job))
    async with app.run_test(size=(80, 24)) as pilot:
        job.release(3)
        await wait_for(pilot, lambda: app.summary is not None)
        assert app.job.finished and app.job.done == 3 and app.job.stage == "done"


async def test_pause_holds_the_job_and_resume_continues(tmp_path: Path) -> None:
    job = ScriptedJob(pairs=5, gated=False)
    job_gate_open = make_session(tmp_path, job)
    app = make_app(job_gate_open)
    job.gated = True  # hold at the first pair until the test is ready
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: job.started.is_set())
        await pilot.press("p")
        assert app.session.pause.is_set() and app.job.paused
        job.release(5)  # the gate is open, but pause must still hold the job
        await wait_for(pilot, lambda: job.held.is_set())
        assert job.emitted_pairs == 0
        assert "PAUSED" in screen_text(app)
        assert "p Resume" in screen_text(app) and "p Pause" not in screen_text(app)  # the footer follows
        await pilot.press("p")
        assert not app.session.pause.is_set() and not app.job.paused
        await pilot.pause(0.05)
        assert "p Pause" in screen_text(app) and "p Resume" not in screen_text(app)
        await wait_for(pilot, lambda: app.summary is not None)
        assert app.job.done == 5 and app.summary.error is None
    log = (tmp_path / "framedeck.log").read_text()
    assert "paused between batches" in log and "resumed" in log


async def test_quit_asks_while_running_and_stay_keeps_it(tmp_path: Path) -> None:
    job = ScriptedJob(pairs=50)
    app = make_app(make_session(tmp_path, job))
    async with app.run_test(size=(80, 24)) as pilot:
        job.release(1)
        await wait_for(pilot, lambda: app.job.done == 1)
        for key in ("q", "ctrl+q", "ctrl+c"):
            await pilot.press(key)
            assert isinstance(app.screen, ConfirmScreen), key
            await pilot.press("n")
            assert app.is_running and not app.session.cancel.is_set()
        await pilot.press("q")
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.session.cancel.is_set()
    assert app.session.done.is_set()  # the worker was waited for
    assert app.worker is not None and not app.worker.is_running
    assert app.return_value is not None and "aborted" in (app.return_value.error or "")
    assert job.emitted_pairs == 1


async def test_quit_when_finished_does_not_ask(tmp_path: Path) -> None:
    job = ScriptedJob(pairs=3, gated=False)
    app = make_app(make_session(tmp_path, job))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.summary is not None)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_value is not None
    assert app.return_value.output == str(tmp_path / "out.mp4")
    assert app.return_value.error is None


async def test_keys_without_a_watchdog_are_dimmed(tmp_path: Path) -> None:
    job = ScriptedJob(pairs=3)
    app = make_app(make_session(tmp_path, job))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: job.started.is_set())
        for action in ("toggle_dry_run", "stop_now", "cancel_countdown"):
            assert binding_state(app, action) is None, action
        enabled = {b.binding.key: b.enabled for b in app.screen.active_bindings.values()}
        assert enabled["s"] is False and enabled["x"] is False and enabled["d"] is False
        assert enabled["a"] is True and enabled["p"] is True and enabled["q"] is True
        await pilot.press("s", "x", "d")  # dimmed keys do nothing
        assert not isinstance(app.screen, ConfirmScreen)
        job.release(3)
        await wait_for(pilot, lambda: app.summary is not None)


async def test_help_opens_and_closes_and_l_focuses_the_log(tmp_path: Path) -> None:
    job = ScriptedJob(pairs=2, gated=False)
    app = make_app(make_session(tmp_path, job))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("l")
        assert isinstance(app.focused, LogPanel)
        await wait_for(pilot, lambda: app.summary is not None)
        log = app.query_one(LogPanel)
        await wait_for(pilot, lambda: any("pair 1 done" in line.text for line in log.lines))
