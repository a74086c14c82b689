"""The console's handle on :class:`monitor.watchdog.Watchdog`, and the view the panel draws.

The watchdog's controls are thread-safe and never wait for its work, so the UI thread
calls them directly while the session's thread runs ``step()``. :meth:`WatchdogLink.view`
returns an immutable snapshot for the panel and the key checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.states import WatchState
from monitor.watchdog import Watchdog


@dataclass(frozen=True)
class WatchdogView:
    """What the watchdog panel shows and which watchdog keys apply."""

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
    live_allowed: bool = True


class WatchdogLink:
    """Wraps one watchdog; ``live_allowed`` False keeps it a dry run (the demo, no provider)."""

    def __init__(self, watchdog: Watchdog, live_allowed: bool = True, live_refusal: str = "") -> None:
        self.watchdog = watchdog
        self.live_allowed = live_allowed
        self.live_refusal = live_refusal or "a live stop is not available here"

    def view(self) -> WatchdogView:
        w = self.watchdog
        check = w.last_check
        return WatchdogView(
            state=w.state.value,
            target=w.target,
            uploaded=w.uploaded,
            upload_total=w.upload_total,
            verified=w.verified,
            required=w.required,
            last_check=("passed" if check.passed else "failed") + (f": {check.reason}" if check.reason else "")
            if check
            else "",
            last_check_ok=check.passed if check else True,
            countdown=w.countdown_remaining if w.state is WatchState.COUNTDOWN else None,
            awaiting_confirm=w.state is WatchState.AWAITING_CONFIRM,
            dry_run=w.dry_run,
            sentinel=w.sentinel,
            message=w.message,
            finished=w.finished,
            can_stop_now=w.can_stop_now,
            can_toggle_dry_run=w.can_toggle_dry_run and (self.live_allowed or not w.dry_run),
            live_allowed=self.live_allowed,
        )

    @property
    def finished(self) -> bool:
        return self.watchdog.finished

    def set_dry_run(self, dry_run: bool) -> bool:
        if not dry_run and not self.live_allowed:
            return False
        return self.watchdog.set_dry_run(dry_run)

    def stop_now(self) -> bool:
        """Confirm a stop that waits for a person, or stop at once once verified."""
        if self.watchdog.state is WatchState.AWAITING_CONFIRM:
            return self.watchdog.confirm_stop()
        return self.watchdog.stop_now()

    def cancel_countdown(self) -> bool:
        return self.watchdog.cancel_countdown()

    def abandon(self) -> None:
        """The console quits or the job failed: nothing is stopped afterwards."""
        self.watchdog.cancel()
