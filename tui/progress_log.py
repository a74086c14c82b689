"""Progress lines for the log file, so a session that runs headless (no screen, or its
terminal gone) still says how far it is: every ``interval`` seconds or every whole percent."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from core.events import JobStarted, PairDone
from core.rate import format_eta

Write = Callable[[str, str], None]  # (level, message)


def output_bytes(output: Path) -> int:
    """Bytes written so far: the finished output, else its hidden partial file(s) beside it."""
    if output.is_file():
        return output.stat().st_size
    total = 0
    for partial in output.parent.glob(f".{output.stem}.partial-*"):
        with contextlib.suppress(OSError):  # renamed or removed meanwhile
            total += partial.stat().st_size
    return total


def size_text(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


class ProgressLog:
    """A listener for core events that writes ``progress ...`` lines through ``write``."""

    def __init__(
        self,
        write: Write,
        output: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 10.0,
    ) -> None:
        self.write = write
        self.output = output
        self.clock = clock
        self.interval = interval
        self.output_fps: float | None = None
        self.input_fps: float | None = None
        self._last_time: float | None = None
        self._last_percent = -1

    def __call__(self, event: object) -> None:
        if isinstance(event, JobStarted):
            self.output_fps, self.input_fps = event.output_fps, event.input_fps
        elif isinstance(event, PairDone):
            self.pair_done(event)

    def pair_done(self, event: PairDone) -> None:
        done = event.index + 1
        percent = int(100 * done / event.total) if event.total else 0
        now = self.clock()
        due = self._last_time is None or now - self._last_time >= self.interval
        if not due and percent <= self._last_percent:
            return
        self._last_time, self._last_percent = now, percent
        self.write("info", progress_line(event, self.frames_per_pair, output_bytes(self.output)))

    @property
    def frames_per_pair(self) -> float | None:
        if not self.output_fps or not self.input_fps:
            return None
        return self.output_fps / self.input_fps


def progress_line(event: PairDone, frames_per_pair: float | None, size: int) -> str:
    """``progress pairs 40/95 (42%), 2.69 pairs/s (5.4 output fps), ETA 0:20, output 1.2 MB``."""
    done = event.index + 1
    percent = f" ({100 * done / event.total:.0f}%)" if event.total else ""
    rate = "- pairs/s"
    if event.pairs_per_second:
        rate = f"{event.pairs_per_second:.2f} pairs/s"
        if frames_per_pair:
            rate += f" ({event.pairs_per_second * frames_per_pair:.1f} output fps)"
    return (
        f"progress pairs {done}/{event.total}{percent}, {rate}, ETA {format_eta(event.eta_seconds)}, "
        f"{event.frames_written} frames, output {size_text(size)}"
    )
