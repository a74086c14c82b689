"""The log panel: checks on one line, the lines the log file gets, the filter; and the small
stale-UI fixes (d when dry-run is locked, a moot quit question, an abort is not a failure)."""

from __future__ import annotations

from pathlib import Path

from core.events import LogRecord
from tests.scripted_job import ScriptedJob
from tests.test_tui_watchdog import ManualClock, finished_job, link_for
from tests.tui_pilot import make_app, make_session, screen_text, wait_for
from tui.screens.confirm import ConfirmScreen
from tui.screens.log_filter import LogFilterScreen
from tui.widgets.log_panel import LogPanel, panel_message


def notices(app) -> list[str]:
    """The toasts the app has shown (still on screen)."""
    return [notification.message for notification in app._notifications]


SHA = "1f62dd6616aa9db744d5d211017c7e25987bad9f"
PASSED = (
    f"check passed 1/2 of out.mp4: all match [size 49547 vs 49547 ok; sha1 (computed) {SHA} vs {SHA} ok; "
    "name -> id 65024:2147014:17961 vs 65024:2147014:17961 ok; "
    f"lookup by id out.mp4 49547 {SHA} vs out.mp4 49547 {SHA} ok]"
)
FAILED = f"check failed 1/2 of out.mp4: size differs [size 49547 vs 10 MISMATCH; sha1 (computed) {SHA} vs {SHA} ok]"


def test_a_passed_check_is_one_short_line_a_failed_one_keeps_short_details() -> None:
    assert panel_message(PASSED) == ("check passed 1/2 of out.mp4: all match (size, sha1, name, lookup)", True)
    text, one_line = panel_message(FAILED)
    assert one_line and "MISMATCH" in text and SHA not in text and "1f62dd66…" in text
    assert panel_message("countdown cancelled; the machine keeps running") == (
        "countdown cancelled; the machine keeps running", False,
    )


async def test_the_log_panel_shows_checks_on_one_line_the_summary_and_the_countdown(tmp_path: Path) -> None:
    clock = ManualClock()
    link = link_for(tmp_path, clock, countdown=5.0)
    app = make_app(make_session(tmp_path, finished_job(tmp_path), link=link, sleep=clock.sleep))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: link.view().state == "countdown")
        log = app.query_one(LogPanel)
        began = "watchdog countdown: stopping in 5 s unless cancelled"
        await wait_for(pilot, lambda: began in [r.message for r in log.records])  # within DRAIN_INTERVAL
        await pilot.pause(0.1)
        shown = [r.message for r in log.records]
        assert any(m.startswith("wrote ") and " frames from " in m for m in shown)  # the job's summary
        assert "watchdog countdown: stopping in 5 s unless cancelled" in shown
        checks = [line for line in screen_text(app).splitlines() if "check passed" in line]
        assert len(checks) == 2 and all("…" in line or "(size" in line for line in checks)
        await pilot.press("x")
        await pilot.pause(0.3)
        watchdog_side = " ".join(line.split("││")[-1].strip("│ ") for line in screen_text(app).splitlines())
        assert "countdown cancelled; the machine keeps running" in " ".join(watchdog_side.split())  # whole
    record = (tmp_path / "framedeck.log").read_text()
    assert "check passed 1/2" in record and "sha1 (computed)" in record  # the file keeps the full record


async def test_slash_filters_the_log_and_an_empty_filter_shows_all(tmp_path: Path) -> None:
    job = ScriptedJob(pairs=4, gated=False)
    app = make_app(make_session(tmp_path, job))
    async with app.run_test(size=(80, 30)) as pilot:  # tall enough for the last lines of the job
        await wait_for(pilot, lambda: app.summary is not None)
        log = app.query_one(LogPanel)
        await pilot.press("slash")
        assert isinstance(app.screen, LogFilterScreen)
        await pilot.press(*"pair 2", "enter")
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "pair 2 done" in text and "pair 1 done" not in text and "Log (filter: pair 2)" in text
        await pilot.press("slash")
        await pilot.press(*["backspace"] * 6, "enter")
        await pilot.pause(0.1)
        assert log.filter == "" and "pair 3 done" in screen_text(app)  # hidden by the filter before
        log.add(LogRecord("info", "a line after the filter", 0.0))
        assert len(log.records) > 4


async def test_d_while_dry_run_is_locked_says_why(tmp_path: Path) -> None:
    clock = ManualClock()
    link = link_for(tmp_path, clock, allow_live=False)
    app = make_app(make_session(tmp_path, ScriptedJob(pairs=4), link=link, sleep=clock.sleep))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("d")
        await pilot.pause(0.2)
        assert "Dry-run stays on: this run is a dry run only." in notices(app)
        assert link.view().dry_run


async def test_the_quit_question_goes_away_when_the_job_finishes(tmp_path: Path) -> None:
    job = ScriptedJob(pairs=3)
    app = make_app(make_session(tmp_path, job))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: job.started.is_set())
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        job.release(3)
        await wait_for(pilot, lambda: app.summary is not None)
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert app.is_running and app.summary.error is None
        await wait_for(pilot, lambda: "The job finished and the watchdog is done; q quits." in notices(app))


async def test_a_user_abort_is_not_called_a_failure(tmp_path: Path) -> None:
    job = ScriptedJob(pairs=6)
    app = make_app(make_session(tmp_path, job))
    async with app.run_test(size=(80, 24)) as pilot:
        job.release(1)
        await wait_for(pilot, lambda: app.job.done == 1)
        await pilot.press("a", "y")
        await wait_for(pilot, lambda: app.summary is not None)
        await pilot.pause(0.2)
        assert any(n.startswith("The job was aborted") for n in notices(app))
        assert not any("failed" in n for n in notices(app))
