"""The watchdog: upload the result, verify it K times, then stop the machine (or say it would).

States (:class:`WatchState`)::

    idle -> waiting for output -> uploading -> verifying k/K -> verified
         -> countdown (cancellable) | awaiting confirmation (require_confirm)
         -> stopping -> stopped          plus: failed, cancelled

``verify_only=True`` skips uploading: another tool uploads, the watchdog only verifies.

The watchdog is a plain object. It has no thread and never sleeps: a driver (the
console session, ``framedeck watch``) calls :meth:`Watchdog.step` every fraction of a
second and owns the sleeping; the clock, the storage, the stop action and the
verifier's clock are injected, so tests drive it deterministically.

Driver API
    ``step()``                advance by at most one unit of work. It blocks while an
                              upload, a verification check or the stop action runs.
    ``file_ready(path)``      the finished output (after the pipeline's rename).
    ``finished``              True in stopped, failed and cancelled: stop driving.

Controls (thread-safe, callable from a UI thread while ``step()`` runs)
    ``cancel_countdown()``    countdown -> verified, held: the machine keeps running.
    ``confirm_stop()``        awaiting confirmation -> stopping.
    ``stop_now()``            verified / countdown / awaiting -> stopping; returns False
                              and logs why in any other state (never before K/K).
    ``set_dry_run(bool)``     allowed until stopping starts; returns False after.
    ``cancel()``              anything before stopping -> cancelled (aborts an upload at
                              its next progress report). Nothing is stopped afterwards.

Read-only attributes for a display
    ``state``, ``target`` (URL without secrets), ``dry_run``, ``verify_only``,
    ``local_path``, ``remote_name``, ``file_id``, ``uploaded``/``upload_total`` (bytes,
    monotone), ``verified``/``required`` (k/K), ``last_check`` (VerificationCheck),
    ``countdown_remaining`` (s or None), ``message`` (one line), ``sentinel`` (path once
    written), ``action_description``, ``can_stop_now``, ``can_toggle_dry_run``, ``finished``.

Events (``on_event``; see :mod:`monitor.events`): WatchStateChanged, UploadProgress,
UploadFinished, VerificationCheck, CountdownTick, StoppingInstance, StopOutcome and
core.events.LogRecord. The ``STOPPING INSTANCE`` line is also sent as a LogRecord.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from core.events import LogRecord
from monitor.action_base import StopAction
from monitor.events import (
    CountdownTick,
    StopOutcome,
    StoppingInstance,
    UploadFinished,
    UploadProgress,
    VerificationCheck,
    WatchEvent,
    WatchStateChanged,
)
from monitor.redact import Redactor
from monitor.sentinel import write_sentinel
from monitor.states import FINAL_STATES, STOPPABLE_STATES, WatchState
from monitor.storage_base import RemoteFile, Storage
from monitor.upload import Uploader
from monitor.verify import Verifier

__all__ = ["WatchState", "Watchdog"]


def _ignore(event: WatchEvent) -> None:
    """Default callback: drop the event."""


class _Cancelled(Exception):
    """Raised from the upload progress callback when cancel() was called."""


class Watchdog:
    """Upload, verify K/K, then stop (or write the dry-run sentinel). See the module docstring."""

    def __init__(
        self,
        storage: Storage,
        action: StopAction,
        *,
        sentinel_path: Path,
        verify_only: bool = False,
        confirm: int = 3,
        check_interval: float = 10.0,
        countdown: float = 60.0,
        require_confirm: bool = False,
        dry_run: bool = True,
        on_event: Callable[[WatchEvent], None] = _ignore,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        upload_timeout: float | None = 6 * 3600.0,
        check_timeout: float | None = 300.0,
        give_up_after: float | None = None,
        poll_interval: float = 5.0,
        poll_timeout: float = 180.0,
        redactor: Redactor | None = None,
    ) -> None:
        if confirm < 1:
            raise ValueError("confirm must be at least 1")
        self.storage = storage
        self.action = action
        self.sentinel_path = Path(sentinel_path)
        self.verify_only = verify_only
        self.required = confirm
        self.check_interval = check_interval
        self.countdown = countdown
        self.require_confirm = require_confirm
        self.dry_run = dry_run
        self.on_event = on_event
        self.clock = clock
        self.wall = wall
        self.upload_timeout = upload_timeout
        self.give_up_after = give_up_after
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self.redact = redactor or Redactor()
        self.verifier = Verifier(storage, clock=clock, timeout=check_timeout, redact=self.redact)
        self.uploader = Uploader(storage, clock=clock)

        self.state = WatchState.IDLE
        self.target = storage.url
        self.local_path: Path | None = None
        self.remote_name: str | None = None
        self.file_id: str | None = None
        self.uploaded: int | None = None
        self.upload_total: int | None = None
        self.uploaded_file: RemoteFile | None = None
        self.verified = 0
        self.checks: list[VerificationCheck] = []
        self.last_check: VerificationCheck | None = None
        self.countdown_remaining: float | None = None
        self.message = ""
        self.sentinel: str | None = None
        self.job: dict[str, object] = {}  # what made the file (the model and why), for the sentinel
        self.stop_reason = ""

        self._lock = threading.RLock()
        self._busy = False
        self._cancel_requested = False
        self._held = False
        self._next_check = 0.0
        self._verify_started: float | None = None
        self._countdown_end = 0.0
        self._last_tick: int | None = None
        self._poll_until: float | None = None
        self._next_poll = 0.0

    # -- read-only views ---------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def can_stop_now(self) -> bool:
        return self.state in STOPPABLE_STATES and self.verified >= self.required

    @property
    def can_toggle_dry_run(self) -> bool:
        return self.state not in FINAL_STATES and self.state is not WatchState.STOPPING

    @property
    def action_description(self) -> str:
        return self.redact(self.action.describe())

    # -- controls ----------------------------------------------------------------------------

    def file_ready(self, path: str | Path) -> None:
        """The finished output file; ignored (with a log line) once a file is being handled."""
        with self._lock:
            if self.state not in (WatchState.IDLE, WatchState.WAITING):
                self._log("warning", f"ignoring {path}: already handling {self.local_path}")
                return
            self.local_path = Path(path)
            self.remote_name = self.storage.remote_name(self.local_path)
            if self.verify_only:
                self._start_verifying()
            else:
                self._set_state(WatchState.UPLOADING, f"{self.local_path} -> {self.remote_name}")

    def cancel_countdown(self) -> bool:
        with self._lock:
            if self.state is not WatchState.COUNTDOWN:
                self._log("info", f"no countdown to cancel ({self.state.value})")
                return False
            self._held = True
            self.countdown_remaining = None
            self._set_state(WatchState.VERIFIED, "countdown cancelled; the machine keeps running")
            return True

    def confirm_stop(self) -> bool:
        with self._lock:
            if self.state is not WatchState.AWAITING_CONFIRM:
                self._log("warning", f"nothing to confirm ({self.state.value})")
                return False
            return self._begin_stop("confirmed by a person")

    def stop_now(self) -> bool:
        with self._lock:
            if not self.can_stop_now:
                self._log(
                    "warning",
                    f"refusing to stop now: the result is not verified "
                    f"({self.verified}/{self.required}, {self.state.value})",
                )
                return False
            return self._begin_stop("stop requested by a person")

    def set_dry_run(self, dry_run: bool) -> bool:
        with self._lock:
            if not self.can_toggle_dry_run:
                self._log("warning", f"dry run can no longer change ({self.state.value})")
                return False
            if dry_run != self.dry_run:
                self.dry_run = dry_run
                if dry_run:
                    self._log("info", "dry run on: a sentinel file will be written instead of stopping")
                else:
                    self._log("warning", f"LIVE STOP armed: will run {self.action_description}")
            return True

    def cancel(self) -> None:
        with self._lock:
            if self.finished:
                return
            if self.state is WatchState.STOPPING:
                self._log("warning", "too late to cancel: the stop is already under way")
                return
            self._cancel_requested = True
            if not self._busy or self.state is not WatchState.UPLOADING:
                self.countdown_remaining = None
                self._set_state(WatchState.CANCELLED, "cancelled; the machine will not be stopped")

    # -- driving -----------------------------------------------------------------------------

    def step(self) -> None:
        """Advance by at most one unit of work (see the module docstring)."""
        with self._lock:
            if self._busy or self.finished:
                return
            state = self.state
            now = self.clock()
            if state is WatchState.IDLE:
                self._set_state(WatchState.WAITING, "waiting for the output file")
                return
            if state is WatchState.VERIFYING:
                if self._gave_up(now):
                    return
                if now < self._next_check:
                    return
            elif state is WatchState.VERIFIED:
                if not self._held:
                    self._after_verified()
                return
            elif state is WatchState.COUNTDOWN:
                self._tick(now)
                return
            elif state is WatchState.STOPPING and self._poll_until is not None:
                if now < self._next_poll:
                    return
            elif state not in (WatchState.UPLOADING, WatchState.STOPPING):
                return
            self._busy = True
        try:
            if state is WatchState.UPLOADING:
                self._upload()
            elif state is WatchState.VERIFYING:
                self._check()
            elif self._poll_until is None:
                self._stop()
            else:
                self._poll()
        finally:
            with self._lock:
                self._busy = False

    # -- the work, outside the lock ----------------------------------------------------------

    def _upload(self) -> None:
        assert self.local_path is not None and self.remote_name is not None
        deadline = None if self.upload_timeout is None else self.clock() + self.upload_timeout
        try:
            remote = self.uploader.upload(
                self.local_path, self.remote_name, self._on_progress, deadline
            )
        except _Cancelled:
            with self._lock:
                self._set_state(WatchState.CANCELLED, "upload cancelled; the machine will not be stopped")
            return
        except Exception as exc:
            with self._lock:
                if self._cancel_requested:
                    self._set_state(WatchState.CANCELLED, "upload cancelled; the machine will not be stopped")
                else:
                    self._fail(f"upload failed: {exc}")
            return
        with self._lock:
            if self._cancel_requested:
                self._set_state(WatchState.CANCELLED, "cancelled after the upload; the machine will not be stopped")
                return
            self.uploaded_file = remote
            self.file_id = remote.file_id
            self.uploaded = self.upload_total = remote.size
            self._emit(
                UploadFinished(
                    str(self.local_path), remote.name, remote.file_id, remote.size, remote.sha1 or ""
                )
            )
            self._log("info", f"uploaded {self.local_path} as {remote.name} ({remote.size} bytes, id {remote.file_id})")
            self._start_verifying()

    def _on_progress(self, done: int, total: int, rate: float | None, eta: float | None) -> None:
        if self._cancel_requested:
            raise _Cancelled()
        self.uploaded, self.upload_total = done, total
        self._emit(UploadProgress(str(self.local_path), done, total, rate, eta))

    def _check(self) -> None:
        assert self.local_path is not None and self.remote_name is not None
        result = self.verifier.check(self.local_path, self.remote_name, self.file_id)
        with self._lock:
            if self.state is not WatchState.VERIFYING:
                return
            if result.passed:
                self.verified += 1
                if self.verify_only and self.file_id is None:
                    self.file_id = result.file_id
            else:
                self.verified = 0
                if self.verify_only:
                    self.file_id = None
            check = VerificationCheck(
                passed=result.passed,
                count=self.verified,
                required=self.required,
                comparisons=result.comparisons,
                reason=self.redact(result.reason),
                time=self.wall(),
            )
            self.last_check = check
            self.checks.append(check)
            del self.checks[:-100]
            self._emit(check)
            compared = "; ".join(
                f"{c.what} {c.local} vs {c.remote} {'ok' if c.ok else 'MISMATCH'}" for c in check.comparisons
            )
            verdict = "passed" if result.passed else "FAILED"
            self._log(
                "info" if result.passed else "warning",
                f"check {verdict} {self.verified}/{self.required} of {self.remote_name}: "
                f"{check.reason}{' [' + compared + ']' if compared else ''}",
            )
            if self.verified >= self.required:
                self._set_state(
                    WatchState.VERIFIED, f"{self.remote_name} verified {self.verified}/{self.required}"
                )
                self._after_verified()
            else:
                self.message = f"verifying {self.verified}/{self.required}: {check.reason}"
                self._next_check = self.clock() + self.check_interval

    def _stop(self) -> None:
        with self._lock:
            if self.verified < self.required:  # defence in depth: never act unverified
                self._fail("refusing to stop: the result is not verified")
                return
            dry_run = self.dry_run
            description = self.action_description
            when = self.wall()
            stamp = datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="seconds")
            suffix = " (dry run: not executed)" if dry_run else ""
            line = f"STOPPING INSTANCE at {stamp} reason: {self.stop_reason}; action: {description}{suffix}"
            self._emit(StoppingInstance(line, when, self.stop_reason, description, dry_run))
            self._emit(LogRecord("warning", line, when))
        if dry_run:
            try:
                write_sentinel(self.sentinel_path, self._sentinel_record(stamp, when, description))
            except OSError as exc:
                with self._lock:
                    self._fail(f"could not write the sentinel {self.sentinel_path}: {exc.strerror or exc}")
                return
            with self._lock:
                self.sentinel = str(self.sentinel_path)
                message = f"dry run: sentinel written to {self.sentinel_path}; nothing was stopped"
                self._emit(StopOutcome(True, True, message, self.sentinel))
                self._set_state(WatchState.STOPPED, message)
            return
        try:
            result = self.action.run()
        except Exception as exc:
            with self._lock:
                self._emit(StopOutcome(False, False, self.redact(f"stop action failed: {exc}")))
                self._fail(f"stop action failed: {exc}")
            return
        with self._lock:
            self._log("warning", f"stop action ran: {result}")
            self._poll_until = self.clock() + self.poll_timeout
            self._next_poll = self.clock()
            self.message = "stop requested; checking the instance state"

    def _poll(self) -> None:
        try:
            stopped = self.action.poll()
        except Exception as exc:
            stopped = False
            with self._lock:
                self._log("warning", f"instance state check failed: {exc}")
        with self._lock:
            now = self.clock()
            if stopped is None:
                message = "stop requested; this provider's instance state cannot be checked"
                self._emit(StopOutcome(True, False, message))
                self._set_state(WatchState.STOPPED, message)
            elif stopped:
                message = "the provider reports the instance stopped"
                self._emit(StopOutcome(True, False, message))
                self._set_state(WatchState.STOPPED, message)
            elif self._poll_until is not None and now >= self._poll_until:
                message = (
                    f"the instance did not stop: the provider still reports it running "
                    f"{self.poll_timeout:g} s after the stop action"
                )
                self._emit(StopOutcome(False, False, message))
                self._fail(message)
            else:
                self._log("info", "the instance is not stopped yet")
                self._next_poll = now + self.poll_interval

    # -- helpers (called with the lock held) -------------------------------------------------

    def _start_verifying(self) -> None:
        self.verified = 0
        self._next_check = self.clock()
        self._verify_started = self.clock()
        self._set_state(WatchState.VERIFYING, f"verifying {self.remote_name} 0/{self.required}")

    def _after_verified(self) -> None:
        if self.require_confirm:
            self._set_state(WatchState.AWAITING_CONFIRM, "verified; waiting for a person to confirm the stop")
        elif self.countdown <= 0:
            self._begin_stop("verified and no countdown was asked for")
        else:
            self._countdown_end = self.clock() + self.countdown
            self.countdown_remaining = self.countdown
            self._last_tick = None
            self._set_state(WatchState.COUNTDOWN, f"stopping in {self.countdown:g} s unless cancelled")
            self._tick(self.clock())

    def _tick(self, now: float) -> None:
        remaining = max(0.0, self._countdown_end - now)
        self.countdown_remaining = remaining
        whole = math.ceil(remaining)
        if whole != self._last_tick:
            self._last_tick = whole
            self._emit(CountdownTick(remaining))
            self.message = f"stopping in {whole} s unless cancelled"
        if remaining <= 0:
            self._begin_stop(f"countdown of {self.countdown:g} s elapsed")

    def _begin_stop(self, why: str) -> bool:
        self.stop_reason = (
            f"{self.remote_name} in {self.target} verified {self.verified}/{self.required} "
            f"(id {self.file_id}); {why}"
        )
        self.countdown_remaining = None
        self._set_state(WatchState.STOPPING, why)
        return True

    def _gave_up(self, now: float) -> bool:
        if self.give_up_after is None or self._verify_started is None:
            return False
        if now - self._verify_started < self.give_up_after:
            return False
        self._fail(
            f"verification did not pass {self.required}/{self.required} within "
            f"{self.give_up_after:g} s; the machine keeps running"
        )
        return True

    def _sentinel_record(self, stamp: str, when: float, description: str) -> dict[str, object]:
        remote = self.uploaded_file
        return {
            "time": stamp,
            "unix_time": when,
            "reason": self.stop_reason,
            "dry_run": True,
            "action": description,
            "provider": self.action.name,
            "job": self.job,
            "verification": {
                "target": self.target,
                "local_path": str(self.local_path),
                "remote_name": self.remote_name,
                "file_id": self.file_id,
                "size": remote.size if remote else None,
                "sha1": remote.sha1 if remote else None,
                "required": self.required,
                "passed": self.verified,
                "checks": [
                    {
                        "time": check.time,
                        "passed": check.passed,
                        "count": check.count,
                        "reason": check.reason,
                        "compared": [
                            {"what": c.what, "local": c.local, "remote": c.remote, "ok": c.ok}
                            for c in check.comparisons
                        ],
                    }
                    for check in self.checks[-self.required :]
                ],
            },
        }

    def _fail(self, message: str) -> None:
        self._set_state(WatchState.FAILED, message)
        self._log("error", self.message)

    def _set_state(self, new: WatchState, detail: str = "") -> None:
        old = self.state
        self.state = new
        self.message = self.redact(detail)
        self._emit(WatchStateChanged(old, new, self.message))

    def _log(self, level: str, message: str) -> None:
        self._emit(LogRecord(level, self.redact(message), self.wall()))

    def _emit(self, event: WatchEvent) -> None:
        self.on_event(event)
