"""Upload with progress for a display: monotone bytes, rate and ETA, throttled.

b2sdk may report fewer bytes after it retries a part; the display keeps the
highest count seen so it never jumps backwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from monitor.storage_base import RemoteFile, Storage

# on_progress(done, total, bytes_per_second, eta_seconds)
ProgressSink = Callable[[int, int, float | None, float | None], None]


class MonotoneProgress:
    """Turns raw (done, total) reports into monotone, throttled progress with rate and ETA."""

    def __init__(
        self, sink: ProgressSink, clock: Callable[[], float], interval: float = 0.25
    ) -> None:
        self.sink = sink
        self.clock = clock
        self.interval = interval
        self.started = clock()
        self.shown = 0
        self.last_emit = -float("inf")

    def __call__(self, done: int, total: int) -> None:
        done = min(max(done, self.shown), total) if total else max(done, self.shown)
        self.shown = done
        now = self.clock()
        if now - self.last_emit < self.interval and done < total:
            return
        self.last_emit = now
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 and done > 0 else None
        eta = (total - done) / rate if rate else None
        self.sink(done, total, rate, eta)


class Uploader:
    """Runs ``storage.upload`` with a :class:`MonotoneProgress` in front of the sink."""

    def __init__(self, storage: Storage, clock: Callable[[], float] = time.monotonic) -> None:
        self.storage = storage
        self.clock = clock

    def upload(
        self, local: Path, name: str, sink: ProgressSink, deadline: float | None
    ) -> RemoteFile:
        progress = MonotoneProgress(sink, self.clock)
        remote = self.storage.upload(local, name, progress, deadline)
        progress(remote.size, remote.size)
        return remote
