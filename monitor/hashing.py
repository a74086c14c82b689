"""SHA-1 of a local file, read in blocks."""

from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK = 1 << 20


def file_sha1(path: Path) -> tuple[int, str]:
    """Size and hex SHA-1 of the bytes of ``path`` as read now."""
    digest = hashlib.sha1()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()
