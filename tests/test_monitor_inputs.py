"""Key files, target URLs and finished-file detection."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.credentials import load_credentials, read_key_file
from monitor.errors import CredentialsError, TargetError
from monitor.finished_file import FolderScanner, Signature, is_candidate, signature_of
from monitor.states import WatchState
from monitor.storage_file import FileStorage
from monitor.targets import parse_target
from monitor.tracked_files import FileState
from tests.monitor_helpers import FakeClock, RecordingRunner, folder_watchdog, step_for

KEY = "K005abcdefghijklmnopqrstuvwxyz0123"


def key_file(tmp_path: Path, text: str, mode: int) -> Path:
    path = tmp_path / "b2.keys"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_key_file_forms(tmp_path):
    path = key_file(tmp_path, f"# mine\nB2_APPLICATION_KEY_ID=0051234\nexport B2_APPLICATION_KEY='{KEY}'\n", 0o600)
    creds = read_key_file(path)
    assert (creds.key_id, creds.key) == ("0051234", KEY)
    assert KEY not in repr(creds)
    path = key_file(tmp_path, f"0051234\n{KEY}\n", 0o400)
    assert read_key_file(path).key == KEY


def test_key_file_readable_by_others_is_refused_saying_why(tmp_path):
    path = key_file(tmp_path, f"0051234\n{KEY}\n", 0o644)
    with pytest.raises(CredentialsError) as caught:
        read_key_file(path)
    message = str(caught.value)
    assert "accessible by other users (mode 0644)" in message and "chmod 600" in message
    assert KEY not in message


def test_missing_or_empty_key_sources(tmp_path):
    with pytest.raises(CredentialsError, match="cannot be read"):
        read_key_file(tmp_path / "absent")
    with pytest.raises(CredentialsError, match="holds no key id and key"):
        read_key_file(key_file(tmp_path, "just-one-line\n", 0o600))
    with pytest.raises(CredentialsError, match="No B2 key"):
        load_credentials({})
    env = {"B2_APPLICATION_KEY_ID": "id1", "B2_APPLICATION_KEY": KEY}
    assert load_credentials(env).source == "environment"


def test_target_urls():
    assert parse_target("b2://my-bucket/renders/day1").prefix == "renders/day1"
    assert parse_target("file:///srv/out").path == Path("/srv/out")
    for bad, why in [
        ("s3://bucket/x", "not a b2://"),
        ("b2:///prefix", "names no bucket"),
        ("b2://no_underscores/x", "invalid bucket name"),
        ("file://relative/path", "three slashes"),
        ("/srv/out", "not a b2://"),
    ]:
        with pytest.raises(TargetError, match=why):
            parse_target(bad)


def test_scanner_lists_visible_matching_files_with_their_signature(tmp_path):
    scanner = FolderScanner(tmp_path, "*.mp4", exclude=(tmp_path / "skip.mp4",))
    out = tmp_path / "result.mp4"
    out.write_bytes(b"y" * 1000)
    (tmp_path / ".result.mp4.tmp").write_bytes(b"x" * 10)  # temp and hidden names never count
    (tmp_path / "result.mp4.part").write_bytes(b"x" * 10)
    (tmp_path / "notes.txt").write_bytes(b"x" * 10)  # pattern
    (tmp_path / "skip.mp4").write_bytes(b"x" * 10)  # excluded (the sentinel, the state file)
    (tmp_path / "dir.mp4").mkdir()
    found = scanner.scan()
    assert list(found) == [out.absolute()]
    info = out.stat()
    assert found[out.absolute()] == Signature(1000, info.st_mtime_ns, info.st_ino)
    assert signature_of(tmp_path / "dir.mp4") is None and signature_of(tmp_path / "absent") is None
    assert is_candidate("a.mp4", "*.mp4") and not is_candidate("a.MP4.PART", "*")


def test_a_growing_file_is_finished_only_after_the_settle_time_however_often_scanned(tmp_path):
    """Many scans (a busy folder) do not make a file finished; only settle seconds unchanged do."""
    clock, runner = FakeClock(), RecordingRunner()
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    watchdog = folder_watchdog(tmp_path / "in", FileStorage(tmp_path / "out", clock), clock, runner, expect=1)
    out = tmp_path / "in" / "result.mp4"
    empty = tmp_path / "in" / "empty.mp4"
    empty.touch()  # an empty file is never uploaded and never waited for
    (tmp_path / "in" / ".result.mp4.tmp").write_bytes(b"x" * 10)
    with open(out, "wb") as handle:
        for _ in range(4):
            handle.write(b"y" * 1000)
            handle.flush()
            for _ in range(30):  # 30 scans, 3 s of clock: under the settle time
                watchdog.step()
                clock.sleep(0.1)
    assert [f.state.value for f in watchdog.files] == ["empty", "settling"]
    step_for(watchdog, clock, 0.5)  # unchanged for 3.5 s of 4: still settling
    assert watchdog.file_set.get(out).state is FileState.SETTLING
    step_for(watchdog, clock, 30.0)
    assert watchdog.state is WatchState.STOPPED and runner.calls == [["stop-the-box"]]
    assert (tmp_path / "out" / "result.mp4").read_bytes() == out.read_bytes()
    assert not (tmp_path / "out" / "empty.mp4").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["result.mp4"]


def test_files_present_at_start_and_renamed_in_are_found(tmp_path):
    clock, runner = FakeClock(), RecordingRunner()
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    old = tmp_path / "in" / "old.mp4"
    old.write_bytes(b"z" * 500)
    watchdog = folder_watchdog(tmp_path / "in", FileStorage(tmp_path / "out", clock), clock, runner, expect=2)
    step_for(watchdog, clock, 1.0)
    partial = tmp_path / "in" / "new.mp4.part"
    partial.write_bytes(b"w" * 800)
    step_for(watchdog, clock, 10.0)
    assert [f.name for f in watchdog.files] == ["old.mp4"] and runner.calls == []
    partial.rename(tmp_path / "in" / "new.mp4")
    step_for(watchdog, clock, 30.0)
    assert watchdog.state is WatchState.STOPPED
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["new.mp4", "old.mp4"]
