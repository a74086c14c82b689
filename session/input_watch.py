"""``--watch-input DIR``: videos that appear in a folder while the session runs.

A file counts once it is *finished* by the watchdog's settle-in-time rule: its size, mtime
and inode stayed the same for ``settle`` seconds (hidden and temporary names never count).
Each finished file is reported once. The clock is injected, so tests are deterministic.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from session.inputs import is_video_name

Signature = tuple[int, int, int]  # size, mtime_ns, inode


class InputWatcher:
    """Polls ``folder``; :meth:`poll` returns the files that became finished since last time."""

    def __init__(
        self,
        folder: str | Path,
        *,
        settle: float = 10.0,
        recursive: bool = False,
        clock: Callable[[], float] = time.monotonic,
        exclude: tuple[Path, ...] = (),
    ) -> None:
        self.folder = Path(folder)
        self.settle = settle
        self.recursive = recursive
        self.clock = clock
        self.exclude = {p.absolute() for p in exclude}
        self._seen: dict[Path, tuple[Signature, float]] = {}  # path -> (signature, since)
        self._taken: set[Path] = set()
        self.last_activity = clock()  # when something new or changed was last seen

    def _scan(self) -> dict[Path, Signature]:
        found = self.folder.rglob("*") if self.recursive else self.folder.iterdir()
        now: dict[Path, Signature] = {}
        for path in found:
            if not is_video_name(path) or any(part.startswith(".") for part in path.relative_to(self.folder).parts):
                continue
            try:
                info = os.stat(path)
            except OSError:
                continue
            if not path.is_file() or info.st_size == 0:
                continue
            absolute = path.absolute()
            if absolute.parent not in self.exclude:
                now[absolute] = (info.st_size, info.st_mtime_ns, info.st_ino)
        return now

    def poll(self) -> list[Path]:
        """Files finished since the last poll, sorted by name."""
        now = self.clock()
        ready: list[Path] = []
        for path, signature in self._scan().items():
            if path in self._taken:
                continue
            seen = self._seen.get(path)
            if seen is None or seen[0] != signature:
                self._seen[path] = (signature, now)
                self.last_activity = now
            elif now - seen[1] >= self.settle:
                self._taken.add(path)
                ready.append(path)
        return sorted(ready)

    def idle_for(self) -> float:
        return self.clock() - self.last_activity
