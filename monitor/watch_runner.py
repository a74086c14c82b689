"""The headless loop of ``framedeck watch``: find the finished file, drive the watchdog.

The loop owns the sleeping (injected) and the finished-file scans; the watchdog
owns every decision. ``wait_for_change`` is what the loop calls while it waits for
the output (watchfiles in the real command, so a new file is noticed at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from monitor.finished_file import FinishedFileDetector
from monitor.states import WatchState
from monitor.watchdog import Watchdog


class WatchfilesWaiter:
    """Blocks until something changes in ``folder`` or ``timeout`` passes (watchfiles)."""

    def __init__(self, folder: Path, timeout: float) -> None:
        import watchfiles

        self._changes = watchfiles.watch(
            folder, rust_timeout=max(1, int(timeout * 1000)), yield_on_timeout=True, recursive=False
        )

    def __call__(self, timeout: float) -> None:
        next(self._changes, None)


def run_watch(
    watchdog: Watchdog,
    detector: FinishedFileDetector,
    *,
    scan_interval: float = 1.0,
    tick: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    wait_for_change: Callable[[float], None] | None = None,
    ask: Callable[[str], str] | None = None,
) -> int:
    """Run until the watchdog is finished; 0 once stopped (or the sentinel is written)."""
    waiter = wait_for_change or sleep
    asked = False
    while not watchdog.finished:
        state = watchdog.state
        if state in (WatchState.IDLE, WatchState.WAITING):
            watchdog.step()
            found = detector.scan()
            if found:
                watchdog.file_ready(found[0])
                continue
            waiter(scan_interval)
            continue
        if state is WatchState.AWAITING_CONFIRM and not asked:
            asked = True
            answer = ask("Verified. Type 'stop' and Enter to stop the machine, anything else to keep it: ") if ask else ""
            if answer.strip().lower() == "stop":
                watchdog.confirm_stop()
            else:
                watchdog.cancel()
            continue
        watchdog.step()
        if not watchdog.finished and watchdog.state is state:
            sleep(tick)
    return {WatchState.STOPPED: 0, WatchState.CANCELLED: 130}.get(watchdog.state, 1)
