"""Plain progress lines for ``framedeck watch`` from watchdog events."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from core.events import LogRecord
from monitor.events import (
    CountdownTick,
    StopOutcome,
    StoppingInstance,
    UploadProgress,
    WatchEvent,
    WatchStateChanged,
)


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


class WatchPrinter:
    """Prints state changes, throttled upload progress, checks, countdown and the stop."""

    def __init__(
        self,
        out: TextIO = sys.stdout,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 1.0,
    ) -> None:
        self.out = out
        self.clock = clock
        self.interval = interval
        self._last_progress = -float("inf")
        self._last_done = -1

    def __call__(self, event: WatchEvent) -> None:
        if isinstance(event, WatchStateChanged):
            self.line(f"[{event.new.value}] {event.detail}".rstrip())
        elif isinstance(event, UploadProgress):
            now = self.clock()
            due = now - self._last_progress >= self.interval or event.done >= event.total
            if due and event.done != self._last_done:
                self._last_progress, self._last_done = now, event.done
                percent = 100.0 * event.done / event.total if event.total else 100.0
                rate = f"{human_bytes(event.rate)}/s" if event.rate else "-"
                eta = f"{event.eta:.0f} s" if event.eta is not None else "-"
                self.line(
                    f"upload {Path(event.path).name} {human_bytes(event.done)} / {human_bytes(event.total)} "
                    f"({percent:.0f}%)  {rate}  ETA {eta}"
                )
        elif isinstance(event, CountdownTick):
            whole = round(event.remaining)
            if whole <= 5 or whole % 10 == 0:
                self.line(f"stopping in {whole} s (Ctrl-C cancels)")
        elif isinstance(event, StoppingInstance):
            pass  # printed once, from its LogRecord twin
        elif isinstance(event, StopOutcome):
            self.line(("" if event.ok else "error: ") + event.message)
        elif isinstance(event, LogRecord):
            prefix = "" if event.level in ("info", "debug") else f"{event.level}: "
            if event.message.startswith("STOPPING INSTANCE"):
                prefix = ""
            if event.level != "debug":
                self.line(prefix + event.message)

    def line(self, text: str) -> None:
        print(text, file=self.out, flush=True)
