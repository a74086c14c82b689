"""The local file's SHA-1 is read once per version of the file, never trusted past a change."""

from __future__ import annotations

import os
import time

import pytest

import monitor.hashing as hashing
from monitor.hashing import file_sha1, forget_hashes


@pytest.fixture
def reads(monkeypatch):
    forget_hashes()
    calls: list[str] = []
    original = hashing.read_sha1

    def counting(path):
        calls.append(str(path))
        return original(path)

    monkeypatch.setattr(hashing, "read_sha1", counting)
    yield calls
    forget_hashes()


def settle(path, seconds_ago: float = 10.0) -> None:
    past = time.time() - seconds_ago
    os.utime(path, (past, past))


def wait_for_ctime_to_settle() -> None:
    time.sleep((hashing.SETTLED_NS + 100_000_000) / 1e9)


def test_a_settled_file_is_read_once(tmp_path, reads):
    f = tmp_path / "out.mp4"
    f.write_bytes(b"x" * 3000)
    settle(f)
    wait_for_ctime_to_settle()  # utime changed ctime just now
    first = file_sha1(f)
    assert file_sha1(f) == first and file_sha1(f) == first
    assert len(reads) == 1 and first[0] == 3000


def test_any_change_is_read_again(tmp_path, reads):
    f = tmp_path / "out.mp4"
    f.write_bytes(b"a" * 3000)
    settle(f)
    wait_for_ctime_to_settle()
    old = file_sha1(f)
    mtime = f.stat().st_mtime_ns
    with open(f, "r+b") as handle:  # same size, mtime put back: only ctime tells
        handle.write(b"b")
    os.utime(f, ns=(mtime, mtime))
    new = file_sha1(f)
    assert new != old and new == hashing.read_sha1(f) and len(reads) == 3
    f.write_bytes(b"a" * 3001)
    assert file_sha1(f)[0] == 3001


def test_a_file_changed_just_now_is_not_remembered(tmp_path, reads):
    f = tmp_path / "out.mp4"
    f.write_bytes(b"x" * 100)
    file_sha1(f)
    file_sha1(f)
    assert len(reads) == 2
