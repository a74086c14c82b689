"""Key files, target URLs and finished-file detection."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.credentials import load_credentials, read_key_file
from monitor.errors import CredentialsError, TargetError
from monitor.finished_file import FinishedFileDetector
from monitor.targets import parse_target

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


def test_a_growing_file_is_finished_only_once_it_stays_still(tmp_path):
    detector = FinishedFileDetector(tmp_path, "*.mp4", stable_checks=3)
    out = tmp_path / "result.mp4"
    (tmp_path / ".result.mp4.tmp").write_bytes(b"x" * 10)  # temp names never count
    (tmp_path / "notes.txt").write_bytes(b"x" * 10)  # pattern
    with open(out, "wb") as handle:
        for _ in range(4):
            handle.write(b"y" * 1000)
            handle.flush()
            assert detector.scan() == []
    assert detector.scan() == []  # 2nd unchanged observation
    assert detector.scan() == [out]  # 3rd
    assert detector.scan() == []  # reported once
    empty = tmp_path / "empty.mp4"
    empty.touch()
    for _ in range(4):
        assert detector.scan() == []  # an empty file is never finished


def test_files_present_at_start_and_renamed_in_are_found(tmp_path):
    old = tmp_path / "old.mp4"
    old.write_bytes(b"z" * 500)
    detector = FinishedFileDetector(tmp_path, "*.mp4", stable_checks=2)
    assert detector.scan() == []
    assert detector.scan() == [old]
    partial = tmp_path / "new.mp4.part"
    partial.write_bytes(b"w" * 800)
    assert detector.scan() == []
    partial.rename(tmp_path / "new.mp4")
    assert detector.scan() == []
    assert detector.scan() == [tmp_path / "new.mp4"]
