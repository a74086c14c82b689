"""A thread-safe handle on the watchdog state machine, and the view the panel draws.

The driver thread (the session) and the UI thread (keys) both touch the watchdog; every
call goes through one lock here, and :meth:`WatchdogLink.view` returns an immutable
snapshot that is safe to hand to the UI.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WatchdogView:
    """What the watchdog panel shows; also the message the session posts on each change."""

    state: str
    target: str
    uploaded: int | None = None
    upload_total: int | None = None
    verified: int = 0
    required: int = 0
    last_check: str = ""
    last_check_ok: bool = True
    countdown: float | None = None
    awaiting_confirm: bool = False
    dry_run: bool = True
    sentinel: str | None = None
    message: str = ""
    finished: bool = False
    can_stop_now: bool = False
    can_toggle_dry_run: bool = True


class WatchdogLink:
    """Serialises every call into one watchdog object."""

    def __init__(self, watchdog: Any) -> None:
        self.watchdog = watchdog
        self._lock = threading.RLock()

    def view(self) -> WatchdogView:
        with self._lock:
            return view_of(self.watchdog)

    def file_ready(self, path: str) -> None:
        with self._lock:
            self.watchdog.file_ready(path)

    def step(self) -> None:
        with self._lock:
            self.watchdog.step()

    def set_dry_run(self, dry_run: bool) -> None:
        with self._lock:
            self.watchdog.set_dry_run(dry_run)

    def stop_now(self) -> None:
        with self._lock:
            self.watchdog.stop_now()

    def cancel_countdown(self) -> None:
        with self._lock:
            self.watchdog.cancel_countdown()

    def abandon(self) -> None:
        """The console quits: the watchdog must not stop the machine behind the user's back."""
        with self._lock:
            self.watchdog.cancel()


def view_of(watchdog: Any) -> WatchdogView:
    """Snapshot of the watchdog's public state (adapted to monitor.watchdog)."""
    state = watchdog.state
    return WatchdogView(state=str(getattr(state, "value", state)), target=str(watchdog.target))
