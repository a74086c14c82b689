"""What the watchdog can see of a file on disk: which names count, and each file's signature.

A file's :class:`Signature` is its size, mtime and inode. Whether a file is *finished*
is decided over time by :mod:`monitor.tracked_files` (the signature stayed the same for
the settle time and no process holds it open for writing); this module only looks.
Hidden files and temporary names (``*.tmp``, ``*.part``, ``*.partial``, ``*.uploading``,
``*.crdownload``, ``*.temp``) never count.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".uploading", ".crdownload", ".temp")


def is_candidate(name: str, pattern: str) -> bool:
    """True for a visible, non-temporary name matching ``pattern``."""
    if name.startswith(".") or name.lower().endswith(TEMP_SUFFIXES):
        return False
    return fnmatch.fnmatch(name, pattern)


@dataclass(frozen=True)
class Signature:
    """Size, mtime (ns) and inode of one file version as seen by ``stat``."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, info: os.stat_result) -> Signature:
        return cls(info.st_size, info.st_mtime_ns, info.st_ino)


def signature_of(path: Path) -> Signature | None:
    """The signature of the regular file at ``path``, or None when there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    return Signature.of(info)


class FolderScanner:
    """Lists the candidate files of ``folder`` with their signatures (one ``scandir``)."""

    def __init__(self, folder: Path, pattern: str = "*", exclude: tuple[Path, ...] = ()) -> None:
        self.folder = Path(folder)
        self.pattern = pattern
        self.exclude = {Path(p).absolute() for p in exclude}

    def scan(self) -> dict[Path, Signature]:
        """Every candidate file now present, by absolute path."""
        found: dict[Path, Signature] = {}
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if not is_candidate(entry.name, self.pattern):
                    continue
                try:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # vanished between listing and stat
                path = Path(entry.path).absolute()
                if path not in self.exclude:
                    found[path] = Signature.of(info)
        return found
