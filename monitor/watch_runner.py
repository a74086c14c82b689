"""The headless loop of ``framedeck watch``: drive the watchdog, pace it, ask a person.

The watchdog looks at the folder and decides everything; the loop only calls
:meth:`~monitor.watchdog.Watchdog.step` and owns the waiting. While the watchdog waits
for files (or for the producer to be done), the loop waits up to ``scan_interval`` for
a change in the folder (``wait_for_change``: watchfiles in the real command, so news is
seen at once); while it works, it steps every ``tick`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from monitor.states import WatchState
from monitor.watchdog import Watchdog

_QUIET = (WatchState.WAITING, WatchState.VERIFIED)


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
    *,
    scan_interval: float = 1.0,
    tick: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    wait_for_change: Callable[[float], None] | None = None,
    ask: Callable[[str], str] | None = None,
    stop: threading.Event | None = None,
    after_step: Callable[[], None] | None = None,
) -> int:
    """Run until the watchdog is finished: 0 once stopped (or the sentinel is written),
    130 when cancelled, 1 when it failed (or when ``stop`` was set first: the console quits).
    ``after_step`` is called after every step (the session marks verified clips)."""
    waiter = wait_for_change or sleep
    asked = False
    while not watchdog.finished and not (stop is not None and stop.is_set()):
        state = watchdog.state
        asked = asked and state is WatchState.AWAITING_CONFIRM  # asked again after a call-off
        if state is WatchState.AWAITING_CONFIRM and not asked and ask is not None:  # None: a UI asks
            asked = True
            answer = ask("Verified. Type 'stop' and Enter to stop the machine, anything else to keep it: ")
            if answer.strip().lower() == "stop":
                watchdog.confirm_stop()
            else:
                watchdog.cancel()
            continue
        watchdog.step()
        if after_step is not None:
            after_step()
        if watchdog.finished or watchdog.state is not state:
            continue
        if state in _QUIET:
            waiter(scan_interval)
        else:
            sleep(tick)
    return {WatchState.STOPPED: 0, WatchState.CANCELLED: 130}.get(watchdog.state, 1)
