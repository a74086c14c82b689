"""``framedeck watch`` to the end: honest interrupts, SIGTERM/SIGHUP in the countdown, and every
timing a user can get wrong refused in one sentence before anything happens."""

from __future__ import annotations

import argparse
import io
import os
import signal
from pathlib import Path

import pytest

from monitor.actions import CommandResult
from tests.monitor_helpers import FakeClock, RecordingRunner, write_random
from tui.commands import watch


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="framedeck")
    watch.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["watch", *argv])


@pytest.fixture
def folders(tmp_path: Path):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    write_random(tmp_path / "in" / "a.mp4", 5_000)
    return tmp_path


def live(folders: Path, *extra: str) -> list[str]:
    return ["--watch-dir", str(folders / "in"), "--upload", f"file://{folders / 'out'}", "--no-dry-run",
            "--shutdown", "command:stop-box --hard", "--settle", "2", "--idle", "1", "--check-interval", "1",
            "--sentinel", str(folders / "s.json"), *extra]


def handle(argv: list[str], runner, sleep=None, clock=None) -> tuple[int, str]:
    out = io.StringIO()
    clock = clock or FakeClock()
    code = watch.handle(parse(argv), env={}, out=out, clock=clock, sleep=sleep or clock.sleep, runner=runner,
                        use_watchfiles=False)
    return code, out.getvalue()


def test_ctrl_c_while_the_stop_command_runs_says_the_stop_was_sent(folders):
    calls: list[list[str]] = []

    def runner(argv: list[str]) -> CommandResult:
        calls.append(argv)
        raise KeyboardInterrupt  # Ctrl-C lands while the stop command is running

    code, text = handle(live(folders, "--countdown", "0"), runner)
    assert code == 130 and calls == [["stop-box", "--hard"]]
    last = text.strip().splitlines()[-1]
    assert "the stop was already sent (stop-box --hard)" in last and "expect the machine to stop" in last
    assert "will not be stopped" not in text


def test_ctrl_c_before_the_stop_cancels_it(folders):
    clock, runner = FakeClock(), RecordingRunner()
    out_seen: list[str] = []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(out_seen) > 40:
            raise KeyboardInterrupt
        out_seen.append("tick")

    code, text = handle(live(folders, "--countdown", "30"), runner, sleep=sleep, clock=clock)
    assert code == 130 and runner.calls == []
    assert "interrupted (Ctrl-C): cancelled; the machine will not be stopped" in text


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_in_the_countdown_cancels_it_and_says_so(folders, signum):
    clock, runner = FakeClock(), RecordingRunner()
    before = signal.getsignal(signum)
    out = io.StringIO()
    sent: list[int] = []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if "[countdown]" in out.getvalue() and not sent:
            sent.append(signum)
            os.kill(os.getpid(), signum)

    code = watch.handle(parse(live(folders, "--countdown", "30")), env={}, out=out, clock=clock, sleep=sleep,
                        runner=runner, use_watchfiles=False)
    text = out.getvalue()
    name = signal.Signals(signum).name
    assert code == 130 and runner.calls == [] and sent
    assert f"{name} received during the countdown: cancelled; the machine will not be stopped" in text
    assert "STOPPING INSTANCE" not in text
    assert signal.getsignal(signum) is before  # the handler is put back


def test_sighup_ignored_by_nohup_stays_ignored(folders):
    clock, runner = FakeClock(), RecordingRunner()
    out = io.StringIO()
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        def sleep(seconds: float) -> None:
            clock.sleep(seconds)
            if "[countdown]" in out.getvalue():
                os.kill(os.getpid(), signal.SIGHUP)

        code = watch.handle(parse(live(folders, "--countdown", "5")), env={}, out=out, clock=clock, sleep=sleep,
                            runner=runner, use_watchfiles=False)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)
    assert code == 0 and runner.calls == [["stop-box", "--hard"]] and "SIGHUP" not in out.getvalue()


def test_sigterm_after_the_stop_was_sent_says_it_goes_ahead(folders):
    calls: list[list[str]] = []

    def runner(argv: list[str]) -> CommandResult:
        calls.append(argv)
        os.kill(os.getpid(), signal.SIGTERM)  # e.g. poweroff terminating every process
        return CommandResult(0, "ok")

    code, text = handle(live(folders, "--countdown", "0"), runner)
    assert code == 0 and calls == [["stop-box", "--hard"]]
    assert "SIGTERM received: the stop was already sent (stop-box --hard); it is not taken back" in text
    assert "will not be stopped" not in text


def test_two_finished_files_are_both_uploaded_and_verified_before_the_stop(folders):
    write_random(folders / "in" / "b.mp4", 7_000)
    runner = RecordingRunner()
    code, text = handle(live(folders, "--countdown", "0", "--confirm", "2", "--pattern", "*.mp4"), runner)
    assert code == 0 and runner.calls == [["stop-box", "--hard"]]
    for name in ("a.mp4", "b.mp4"):
        assert (folders / "out" / name).read_bytes() == (folders / "in" / name).read_bytes()
        assert f"{name} verified 2/2" in text
    assert text.index("b.mp4 verified 2/2") < text.index("STOPPING INSTANCE")
    assert "2 file(s) in file://" in text
    assert (folders / "in" / ".framedeck-watch-state.json").exists()  # the default --state


BAD = [
    (["--countdown", "nan"], "--countdown must be a number of seconds, not nan."),
    (["--countdown", "inf"], "--countdown must be a finite number of seconds, not inf."),
    (["--countdown", "-1"], "--check-interval and --countdown cannot be negative."),
    (["--check-interval", "0"], "--check-interval must be above 0"),
    (["--check-interval", "nan"], "--check-interval must be a number of seconds, not nan."),
    (["--check-interval", "-0.5"], "--check-interval and --countdown cannot be negative."),
    (["--settle", "nan"], "--settle must be a number of seconds, not nan."),
    (["--settle", "-3"], "--settle cannot be negative."),
    (["--settle", "inf"], "--settle must be a finite number of seconds, not inf."),
    (["--idle", "inf"], "--idle must be a finite number of seconds, not inf."),
    (["--idle", "-1"], "--idle cannot be negative."),
    (["--confirm", "0"], "--confirm must be at least 1."),
    (["--expect", "0"], "--expect must be at least 1."),
    (["--scan-interval", "0"], "--scan-interval must be above 0."),
    (["--give-up-after", "nan"], "--give-up-after must be a number of seconds, not nan."),
    (["--upload-timeout", "inf"], "--upload-timeout must be a finite number of seconds, not inf."),
]


@pytest.mark.parametrize(("extra", "sentence"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_every_invalid_timing_is_one_sentence_and_exit_2_before_anything(folders, capsys, extra, sentence):
    from tui.cli import main

    code = main(["watch", *live(folders, *extra)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("framedeck: ") and sentence in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.out == ""
    assert list((folders / "out").iterdir()) == []
    assert not (folders / "in" / ".framedeck-watch-state.json").exists()


def test_stable_checks_is_gone(folders, capsys):
    from tui.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["watch", *live(folders, "--stable-checks", "3")])
    assert exited.value.code == 2 and "unrecognized arguments: --stable-checks" in capsys.readouterr().err
