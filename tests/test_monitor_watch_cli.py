"""``framedeck watch`` end to end: file:// and the b2sdk simulator, errors, no secrets."""

from __future__ import annotations

import argparse
import io
import json
import os
from pathlib import Path

import pytest

from core.errors import FramedeckError
from monitor.states import WatchState
from tests.monitor_helpers import BUCKET, FakeClock, RecordingRunner, sim_account, write_random
from tui.commands import watch


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="framedeck")
    watch.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["watch", *argv])


def run(argv: list[str], **kwargs) -> tuple[int, str]:
    """Like tui.cli.main: the exit code and everything printed, errors included."""
    out = io.StringIO()
    clock = FakeClock()
    kwargs.setdefault("env", {})
    try:
        code = watch.handle(
            parse(argv), out=out, clock=clock, sleep=clock.sleep, use_watchfiles=False, **kwargs
        )
    except FramedeckError as exc:
        out.write(f"framedeck: {exc}\n")
        code = exc.exit_code
    return code, out.getvalue()


@pytest.fixture
def folders(tmp_path: Path):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    return tmp_path


def test_file_target_dry_run_writes_the_sentinel(folders):
    result = write_random(folders / "in" / "result.mp4", 120_000)
    sentinel = folders / "sentinel.json"
    code, text = run(
        ["--watch-dir", str(folders / "in"), "--pattern", "*.mp4", "--upload", f"file://{folders / 'out'}",
         "--sentinel", str(sentinel), "--check-interval", "2"]
    )
    assert code == 0, text
    assert (folders / "out" / "result.mp4").read_bytes() == result.read_bytes()
    assert text.count("STOPPING INSTANCE") == 1
    assert "check passed 3/3" in text and "[stopped] dry run" in text
    record = json.loads(sentinel.read_text())
    assert record["action"] == "poweroff" and record["dry_run"] is True
    assert record["verification"]["passed"] == 3


def test_b2_upload_end_to_end_without_secrets_anywhere(folders, capsys):
    account = sim_account()
    write_random(folders / "in" / "long.mp4", 260_000)
    sentinel = folders / "sentinel.json"
    env = account.env | {"CONTAINER_ID": "31337", "CONTAINER_API_KEY": "vast-secret-key-xyz"}
    code, text = run(
        ["--watch-dir", str(folders / "in"), "--upload", f"b2://{BUCKET}/renders", "--sentinel", str(sentinel),
         "--part-size", "100000", "--confirm", "2", "--check-interval", "1", "--countdown", "5"],
        env=env,
        api_factory=account.factory,
    )
    assert code == 0, text
    bucket = account.api.get_bucket_by_name(BUCKET)
    assert bucket.get_file_info_by_name("renders/long.mp4").size == 260_000
    record = sentinel.read_text()
    assert "vastai" in record and "/api/v0/instances/31337/" in record
    everything = text + record + capsys.readouterr().err
    for secret in (account.key, "vast-secret-key-xyz"):
        assert secret not in everything
    assert "sha1 (large_file_sha1)" in text


def test_verify_only_waits_for_another_tools_upload(folders):
    account = sim_account()
    local = write_random(folders / "in" / "clip.mp4", 30_000)
    account.api.get_bucket_by_name(BUCKET).upload_bytes(local.read_bytes(), "clip.mp4")
    code, text = run(
        ["--watch-dir", str(folders / "in"), "--verify-only", f"b2://{BUCKET}", "--countdown", "0",
         "--sentinel", str(folders / "s.json")],
        env=account.env,
        api_factory=account.factory,
    )
    assert code == 0, text
    assert "[uploading]" not in text and "verified 3/3" in text


def test_live_stop_runs_the_command_and_exits_zero(folders):
    write_random(folders / "in" / "a.mp4", 5_000)
    runner = RecordingRunner(0, "done")
    code, text = run(
        ["--watch-dir", str(folders / "in"), "--upload", f"file://{folders / 'out'}", "--no-dry-run",
         "--shutdown", "command:/usr/local/bin/stop-box --hard", "--countdown", "3"],
        runner=runner,
    )
    assert code == 0, text
    assert runner.calls == [["/usr/local/bin/stop-box", "--hard"]]
    assert "LIVE" in text and "(dry run" not in text


def test_ctrl_c_during_the_countdown_stops_nothing(folders):
    write_random(folders / "in" / "a.mp4", 5_000)
    runner = RecordingRunner()
    clock = FakeClock()
    out = io.StringIO()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if "[countdown]" in out.getvalue():
            raise KeyboardInterrupt

    args = parse(["--watch-dir", str(folders / "in"), "--upload", f"file://{folders / 'out'}", "--no-dry-run",
                  "--shutdown", "poweroff", "--sentinel", str(folders / "s.json")])
    code = watch.handle(args, env={}, out=out, clock=clock, sleep=sleep, runner=runner, use_watchfiles=False)
    assert code == 130 and runner.calls == []
    assert "STOPPING INSTANCE" not in out.getvalue() and not (folders / "s.json").exists()


@pytest.mark.parametrize(("answer", "expected"), [("stop", 0), ("no", 130)])
def test_require_confirm_asks_a_person(folders, answer, expected):
    write_random(folders / "in" / "a.mp4", 5_000)
    prompts: list[str] = []
    code, text = run(
        ["--watch-dir", str(folders / "in"), "--upload", f"file://{folders / 'out'}", "--require-confirm",
         "--sentinel", str(folders / "s.json")],
        ask=lambda prompt: prompts.append(prompt) or answer,
    )
    assert code == expected, text
    assert len(prompts) == 1 and "stop" in prompts[0]
    assert (folders / "s.json").exists() == (expected == 0)
    assert (f"[{WatchState.CANCELLED.value}]" in text) == (expected == 130)


def test_user_errors_are_one_sentence_and_never_show_the_key(folders):
    account = sim_account()
    base = ["--watch-dir", str(folders / "in")]
    code, text = run([*base, "--upload", "s3://bucket/x"])
    assert code == 2 and "is not a b2://BUCKET/PREFIX or file:///PATH URL" in text
    code, text = run(["--watch-dir", str(folders / "nope"), "--upload", f"file://{folders / 'out'}"])
    assert code == 2 and "does not exist" in text
    bad_env = {"B2_APPLICATION_KEY_ID": account.key_id, "B2_APPLICATION_KEY": "wrong-key-material-123"}
    code, text = run([*base, "--upload", f"b2://{BUCKET}/x"], env=bad_env, api_factory=account.factory)
    assert code == 8 and "rejected the application key" in text and "wrong-key-material-123" not in text
    key_path = folders / "keys"
    key_path.write_text(f"{account.key_id}\n{account.key}\n")
    os.chmod(key_path, 0o644)
    code, text = run([*base, "--upload", f"b2://{BUCKET}/x", "--b2-key-file", str(key_path)],
                     api_factory=account.factory)
    assert code == 8 and "accessible by other users" in text and account.key not in text
    assert text.count("\n") == 1  # one sentence, no traceback
    os.chmod(key_path, 0o600)
    write_random(folders / "in" / "a.mp4", 1_000)
    code, text = run([*base, "--upload", f"b2://{BUCKET}/x", "--b2-key-file", str(key_path), "--countdown", "0",
                      "--sentinel", str(folders / "s.json")], api_factory=account.factory)
    assert code == 0 and account.key not in text


def test_registered_in_the_framedeck_command(folders, capsys):
    from tui.cli import main

    write_random(folders / "in" / "a.mp4", 2_000)
    code = main(
        ["watch", "--watch-dir", str(folders / "in"), "--upload", f"file://{folders / 'out'}",
         "--check-interval", "0.05", "--countdown", "0", "--scan-interval", "0.05", "--settle", "0.2", "--idle", "0",
         "--sentinel", str(folders / "s.json")]
    )
    assert code == 0, capsys.readouterr()
    assert "STOPPING INSTANCE" in capsys.readouterr().out and (folders / "s.json").exists()
    assert main(["watch", "--watch-dir", str(folders / "missing"), "--upload", "file:///tmp"]) == 2
    assert "does not exist" in capsys.readouterr().err
