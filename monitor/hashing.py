"""SHA-1 of a local file, read in blocks, remembered while the file stays the same.

The watchdog checks an upload several times and b2 asks for the hash too; re-reading a
50 GiB output for each (about 2 s per GiB) would eat the check's time limit. A hash is
reused only while the file's size, inode, mtime and ctime are those it was computed under
(ctime cannot be set back by a program, so an in-place rewrite is always seen), only when the
file did not change while it was being read, and only when its last change was over
``SETTLED_NS`` before the read began: on a file system with coarse timestamps a rewrite in the
same tick would otherwise keep the stamp (git's "racy" rule).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

BLOCK = 1 << 20
SETTLED_NS = 2_000_000_000
_Stamp = tuple[int, int, int, int, int]
_known: dict[str, tuple[_Stamp, tuple[int, str]]] = {}
_lock = threading.Lock()


def _stamp(path: Path) -> _Stamp:
    st = os.stat(path)
    return (st.st_size, st.st_ino, st.st_dev, st.st_mtime_ns, st.st_ctime_ns)


def read_sha1(path: Path) -> tuple[int, str]:
    """Size and hex SHA-1 of the bytes of ``path`` as read now."""
    digest = hashlib.sha1()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def file_sha1(path: Path) -> tuple[int, str]:
    """Size and hex SHA-1 of ``path``: remembered from an earlier read of the same file
    version, else read now."""
    key = os.path.abspath(path)
    before = _stamp(path)
    with _lock:
        known = _known.get(key)
    if known is not None and known[0] == before:
        return known[1]
    settled = time.time_ns() - max(before[3], before[4]) > SETTLED_NS
    result = read_sha1(path)
    if settled and _stamp(path) == before:
        with _lock:
            _known[key] = (before, result)
    return result


def forget_hashes() -> None:
    """Drop every remembered hash (tests, and callers that distrust the file system)."""
    with _lock:
        _known.clear()
