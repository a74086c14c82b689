"""Finished-file detection for ``framedeck watch``.

watchfiles reports a file on its first write, not when it is complete, so a file
counts as finished only when its size and mtime stayed the same over
``stable_checks`` consecutive scans (a file that arrives by rename is already
still, so it passes at the first chance). Hidden files and temporary names
(``*.tmp``, ``*.part``, ``*.partial``, ``*.uploading``, ``*.crdownload``) never count.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".uploading", ".crdownload", ".temp")


def is_candidate(name: str, pattern: str) -> bool:
    """True for a visible, non-temporary name matching ``pattern``."""
    if name.startswith(".") or name.lower().endswith(TEMP_SUFFIXES):
        return False
    return fnmatch.fnmatch(name, pattern)


class FinishedFileDetector:
    """Scans ``folder`` on request and reports each finished file once."""

    def __init__(
        self,
        folder: Path,
        pattern: str = "*",
        stable_checks: int = 3,
        exclude: tuple[Path, ...] = (),
    ) -> None:
        if stable_checks < 2:
            raise ValueError("stable_checks must be at least 2")
        self.folder = Path(folder)
        self.pattern = pattern
        self.stable_checks = stable_checks
        self.exclude = {Path(p).resolve() for p in exclude}
        self._seen: dict[str, tuple[tuple[int, int], int]] = {}
        self._reported: set[str] = set()

    def scan(self) -> list[Path]:
        """One observation of the folder; returns files that became finished now, oldest first."""
        current: dict[str, tuple[int, int]] = {}
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
                if Path(entry.path).resolve() in self.exclude:
                    continue
                current[entry.path] = (info.st_size, info.st_mtime_ns)
        finished: list[tuple[int, Path]] = []
        seen: dict[str, tuple[tuple[int, int], int]] = {}
        for path, signature in current.items():
            previous = self._seen.get(path)
            count = previous[1] + 1 if previous and previous[0] == signature else 1
            seen[path] = (signature, count)
            if count >= self.stable_checks and signature[0] > 0 and path not in self._reported:
                self._reported.add(path)
                finished.append((signature[1], Path(path)))
        self._seen = seen
        self._reported &= set(current)
        return [path for _, path in sorted(finished)]
