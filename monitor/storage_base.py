"""The one interface every storage target (``b2://``, ``file://``) implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# progress(bytes_done, bytes_total); b2sdk may report fewer bytes after a retry.
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class RemoteFile:
    """What the storage says about one stored file version."""

    file_id: str
    name: str
    size: int
    sha1: str | None  # None when the storage holds no whole-file SHA-1
    sha1_source: str  # "content_sha1", "large_file_sha1", "computed" or "none"


class Storage(Protocol):
    """A place the result goes to and can be checked in."""

    url: str  # for display; never holds a secret

    def remote_name(self, local: Path) -> str:
        """The stored name for ``local`` (the target's prefix plus the file name)."""
        ...

    def upload(
        self, local: Path, name: str, progress: ProgressCallback, deadline: float | None
    ) -> RemoteFile:
        """Store ``local`` as ``name``; ``deadline`` is a monotonic time to give up at."""
        ...

    def find_by_name(self, name: str) -> RemoteFile | None:
        """The newest version stored under ``name``, or None."""
        ...

    def find_by_id(self, file_id: str) -> RemoteFile | None:
        """The version with this id, or None."""
        ...
