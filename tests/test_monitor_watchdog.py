"""The watchdog state machine over a real file:// target, with an injected clock and runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.events import LogRecord
from monitor.actions import CommandAction
from monitor.events import (
    CountdownTick,
    StoppingInstance,
    UploadFinished,
    UploadProgress,
    VerificationCheck,
    WatchStateChanged,
)
from monitor.states import WatchState
from monitor.storage_file import FileStorage
from monitor.watchdog import Watchdog
from tests.monitor_helpers import FakeClock, Recorder, RecordingRunner, drive, write_random


@pytest.fixture
def setup(tmp_path: Path):
    (tmp_path / "remote").mkdir()
    local = write_random(tmp_path / "result.mp4", 150_000)
    clock = FakeClock()
    recorder = Recorder()
    runner = RecordingRunner()

    def make(storage=None, **kwargs) -> Watchdog:
        options = {"confirm": 3, "check_interval": 5.0, "countdown": 10.0, "expect": 1}
        options.update(kwargs)
        return Watchdog(
            storage or FileStorage(tmp_path / "remote", clock),
            CommandAction("stop-my-box --now", runner),
            sentinel_path=tmp_path / "sentinel.json",
            on_event=recorder,
            clock=clock,
            wall=lambda: 1_700_000_000.0 + clock.now,
            **options,
        )

    return make, local, clock, recorder, runner, tmp_path


def test_dry_run_uploads_verifies_and_writes_the_sentinel(setup):
    make, local, clock, recorder, runner, tmp = setup
    watchdog = make()
    watchdog.step()
    assert watchdog.state is WatchState.WAITING
    watchdog.file_ready(local)
    drive(watchdog, clock)
    assert watchdog.state is WatchState.STOPPED
    assert runner.calls == []  # dry run: nothing executed
    assert (tmp / "remote" / "result.mp4").read_bytes() == local.read_bytes()

    states = [e.new for e in recorder.of(WatchStateChanged)]
    assert states == [
        WatchState.WAITING,
        WatchState.UPLOADING,
        WatchState.VERIFYING,
        WatchState.VERIFIED,
        WatchState.COUNTDOWN,
        WatchState.STOPPING,
        WatchState.STOPPED,
    ]
    checks = recorder.of(VerificationCheck)
    assert [c.count for c in checks] == [1, 2, 3] and all(c.passed for c in checks)
    assert {c.what.split()[0] for c in checks[0].comparisons} == {"size", "sha1", "name", "lookup"}
    # checks are check_interval apart on the injected clock
    assert checks[1].time - checks[0].time == pytest.approx(5.0, abs=0.5)
    progress = [e.done for e in recorder.of(UploadProgress)]
    assert progress == sorted(progress) and progress[-1] == 150_000
    ticks = [round(t.remaining) for t in recorder.of(CountdownTick)]
    assert ticks[0] == 10 and ticks[-1] == 0 and ticks == sorted(ticks, reverse=True)

    stopping = recorder.of(StoppingInstance)
    assert len(stopping) == 1 and stopping[0].dry_run
    lines = [e.message for e in recorder.of(LogRecord) if e.message.startswith("STOPPING INSTANCE")]
    assert len(lines) == 1 and "countdown of 10 s elapsed" in lines[0]

    record = json.loads((tmp / "sentinel.json").read_text())
    assert record["dry_run"] is True
    assert record["action"] == "stop-my-box --now"
    assert record["provider"] == "command"
    assert "verified 3/3" in record["reason"]
    assert record["time"].startswith("2023-11-14T")
    verification = record["verification"]
    assert verification["remote_name"] == "result.mp4"
    assert verification["size"] == 150_000
    assert verification["file_id"] == watchdog.file_id
    assert [c["count"] for c in verification["checks"]] == [1, 2, 3]
    assert all(item["ok"] for c in verification["checks"] for item in c["compared"])
    assert watchdog.sentinel == str(tmp / "sentinel.json")


def test_live_stop_runs_the_action_once(setup):
    make, local, clock, recorder, runner, tmp = setup
    watchdog = make(dry_run=False, countdown=0)
    watchdog.file_ready(local)
    drive(watchdog, clock)
    assert watchdog.state is WatchState.STOPPED
    assert runner.calls == [["stop-my-box", "--now"]]
    assert not (tmp / "sentinel.json").exists()
    assert len(recorder.of(StoppingInstance)) == 1 and not recorder.of(StoppingInstance)[0].dry_run


def test_local_file_changed_after_upload_is_uploaded_again_before_any_stop(setup):
    make, local, clock, recorder, runner, tmp = setup
    watchdog = make(dry_run=False, countdown=0, settle=4.0)
    watchdog.file_ready(local)
    watchdog.step()  # uploads
    assert watchdog.state is WatchState.VERIFYING
    first_id = watchdog.file_id
    write_random(local, 150_000)  # same size, other bytes
    changed_at = len(recorder.events)
    drive(watchdog, clock, steps=8)  # the change is noticed; nothing is stopped
    assert runner.calls == [] and not recorder.of(StoppingInstance)
    assert not any(c.passed for c in recorder.events[changed_at:] if isinstance(c, VerificationCheck))
    drive(watchdog, clock, steps=200)
    assert watchdog.state is WatchState.STOPPED and runner.calls == [["stop-my-box", "--now"]]
    uploads = recorder.of(UploadFinished)
    assert len(uploads) == 2 and uploads[1].file_id != first_id  # a new version
    assert (tmp / "remote" / "result.mp4").read_bytes() == local.read_bytes()
    # every check after the change and before the new upload failed; the K passes came after it
    after = recorder.events[changed_at:]
    second = after.index(uploads[1])
    assert not any(e.passed for e in after[:second] if isinstance(e, VerificationCheck))
    assert [e.count for e in after[second:] if isinstance(e, VerificationCheck)] == [1, 2, 3]
    logs = " ".join(e.message for e in recorder.of(LogRecord))
    assert "uploaded again" in logs


def test_remote_missing_or_replaced_never_stops(setup):
    make, local, clock, _recorder, runner, tmp = setup
    watchdog = make(dry_run=False, countdown=0)
    watchdog.file_ready(local)
    watchdog.step()
    watchdog.step()  # first check passes
    assert watchdog.verified == 1
    stored = tmp / "remote" / "result.mp4"
    stored.unlink()
    clock.sleep(5)
    watchdog.step()
    assert watchdog.verified == 0 and "not in" in watchdog.last_check.reason
    # a newer version with the same bytes under the same name: a different id
    replacement = tmp / "remote" / ".new"
    replacement.write_bytes(local.read_bytes())
    replacement.rename(stored)
    drive(watchdog, clock, steps=60)
    assert watchdog.state is WatchState.VERIFYING and watchdog.verified == 0
    assert "name -> id" in watchdog.last_check.reason
    assert runner.calls == []


class FlakyStorage(FileStorage):
    """A real folder target whose lookup by id raises on chosen calls."""

    def __init__(self, folder: Path, clock, fail_on: set[int]) -> None:
        super().__init__(folder, clock)
        self.calls = 0
        self.fail_on = fail_on

    def find_by_id(self, file_id: str):
        self.calls += 1
        if self.calls in self.fail_on:
            raise ConnectionError("lookup timed out")
        return super().find_by_id(file_id)


def test_a_raising_check_restarts_the_count(setup):
    make, local, clock, recorder, _runner, tmp = setup
    storage = FlakyStorage(tmp / "remote", clock, fail_on={2})
    watchdog = make(storage=storage, countdown=0)
    watchdog.file_ready(local)
    drive(watchdog, clock)
    passed = [(c.passed, c.count) for c in recorder.of(VerificationCheck)]
    assert passed == [(True, 1), (False, 0), (True, 1), (True, 2), (True, 3)]
    failed = recorder.of(VerificationCheck)[1]
    assert "ConnectionError" in failed.reason
    assert watchdog.state is WatchState.STOPPED


def test_cancelled_countdown_keeps_the_machine_until_stop_now(setup):
    make, local, clock, _recorder, runner, _tmp = setup
    watchdog = make(dry_run=False, countdown=30)
    assert watchdog.stop_now() is False  # nothing verified yet
    watchdog.file_ready(local)
    for _ in range(40):
        watchdog.step()
        clock.sleep(0.5)
        if watchdog.state is WatchState.COUNTDOWN:
            break
    assert watchdog.state is WatchState.COUNTDOWN
    assert watchdog.cancel_countdown() is True
    drive(watchdog, clock, steps=400)  # far past the countdown
    assert watchdog.state is WatchState.VERIFIED and runner.calls == []
    assert watchdog.stop_now() is True
    drive(watchdog, clock)
    assert watchdog.state is WatchState.STOPPED and runner.calls == [["stop-my-box", "--now"]]


def test_require_confirm_waits_for_a_person(setup):
    make, local, clock, _recorder, _runner, tmp = setup
    watchdog = make(require_confirm=True)
    watchdog.file_ready(local)
    drive(watchdog, clock, steps=100)
    assert watchdog.state is WatchState.AWAITING_CONFIRM and watchdog.can_stop_now
    assert watchdog.confirm_stop() is True
    drive(watchdog, clock)
    assert watchdog.state is WatchState.STOPPED and (tmp / "sentinel.json").exists()
    assert watchdog.set_dry_run(False) is False  # too late


def test_cancel_during_upload_aborts_without_stopping(setup):
    make, _local, clock, recorder, runner, tmp = setup
    watchdog = make(dry_run=False, countdown=0)
    big = write_random(tmp / "big.mp4", 5 << 20)

    def cancel_on_progress(event):
        recorder(event)
        if isinstance(event, UploadProgress):
            clock.sleep(1.0)  # let the throttle pass the next report
            watchdog.cancel()

    watchdog.on_event = cancel_on_progress
    watchdog.file_ready(big)
    drive(watchdog, clock)
    assert watchdog.state is WatchState.CANCELLED
    assert not (tmp / "remote" / "big.mp4").exists()
    assert runner.calls == [] and not recorder.of(StoppingInstance)


def test_give_up_fails_and_the_stop_action_does_not_run(setup):
    make, local, clock, _recorder, runner, _tmp = setup
    watchdog = make(verify_only=True, dry_run=False, give_up_after=60.0)
    watchdog.file_ready(local)  # nothing was uploaded by anyone
    drive(watchdog, clock, steps=400)
    assert watchdog.state is WatchState.FAILED and "within 60 s" in watchdog.message
    assert runner.calls == []


def test_verify_only_accepts_a_file_another_tool_uploaded(setup):
    make, local, clock, recorder, _runner, tmp = setup
    watchdog = make(verify_only=True, countdown=0)
    watchdog.file_ready(local)
    drive(watchdog, clock, steps=6)
    assert watchdog.state is WatchState.VERIFYING and watchdog.verified == 0
    (tmp / "remote" / "result.mp4").write_bytes(local.read_bytes())
    drive(watchdog, clock)
    assert watchdog.state is WatchState.STOPPED
    assert [e.new for e in recorder.of(WatchStateChanged)].count(WatchState.UPLOADING) == 0


class NeverStops(CommandAction):
    """A real command action whose provider keeps saying 'running'."""

    def poll(self) -> bool | None:
        return False


def test_reports_when_the_instance_did_not_stop(setup, tmp_path):
    make, local, clock, _recorder, runner, _tmp = setup
    watchdog = make(dry_run=False, countdown=0, poll_interval=5.0, poll_timeout=30.0)
    watchdog.action = NeverStops("stop-my-box", runner)
    watchdog.file_ready(local)
    while watchdog.state is not WatchState.STOPPING:
        watchdog.step()
        clock.sleep(0.5)
    watchdog.step()  # runs the action, then polls
    watchdog.cancel()  # too late: refused
    assert watchdog.state is WatchState.STOPPING
    drive(watchdog, clock)
    assert runner.calls == [["stop-my-box"]]
    assert watchdog.state is WatchState.FAILED and "did not stop" in watchdog.message


def test_failed_stop_command_is_reported(setup):
    make, local, clock, _recorder, runner, _tmp = setup
    runner.result = type(runner.result)(1, "permission denied")
    watchdog = make(dry_run=False, countdown=0)
    watchdog.file_ready(local)
    drive(watchdog, clock)
    assert watchdog.state is WatchState.FAILED
    assert "exited with status 1: permission denied" in watchdog.message


def test_every_handed_file_is_uploaded_and_the_producer_ends_the_work(setup):
    make, local, clock, recorder, runner, tmp = setup
    watchdog = make(dry_run=False, countdown=0, expect=None, idle=None)
    other = write_random(tmp / "second.mp4", 20_000)
    watchdog.file_ready(local)
    watchdog.file_ready(other)
    watchdog.file_ready(local)  # the same file again: nothing new
    drive(watchdog, clock, steps=100)
    assert watchdog.state is WatchState.VERIFIED and runner.calls == []  # the producer is not done
    assert len(recorder.of(UploadFinished)) == 2
    watchdog.producer_done()
    drive(watchdog, clock)
    assert watchdog.state is WatchState.STOPPED and runner.calls == [["stop-my-box", "--now"]]
    assert "2 file(s) in" in watchdog.stop_reason and "the producer is done" in watchdog.stop_reason
    write_random(local, 1_000)
    watchdog.file_ready(local)  # too late: said, ignored
    assert any("ignoring" in e.message for e in recorder.of(LogRecord))


def test_the_console_session_hands_its_result_and_says_the_producer_is_done(setup):
    """tui.session: no idle wait, no --expect: the session's own word ends the work."""
    from tests.scripted_job import ScriptedJob
    from tests.tui_pilot import make_session
    from tui.watchdog_link import WatchdogLink

    make, _local, clock, _recorder, runner, tmp = setup
    watchdog = make(dry_run=False, countdown=0, expect=None, idle=None, check_interval=0.0)
    (tmp / "out.mp4").write_bytes(b"the job's result " * 500)
    session = make_session(tmp, ScriptedJob(pairs=2, gated=False), link=WatchdogLink(watchdog), sleep=clock.sleep)
    summary = session.run()
    assert watchdog.state is WatchState.STOPPED and runner.calls == [["stop-my-box", "--now"]]
    assert "the producer is done" in watchdog.stop_reason
    assert summary.uploaded and (tmp / "remote" / "out.mp4").read_bytes() == (tmp / "out.mp4").read_bytes()
    assert "found" not in (tmp / "framedeck.log").read_text()  # handed over, never settled
