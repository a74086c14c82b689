"""The watchdog: upload every finished file, verify each K times, then stop the machine.

It keeps a set of files (:mod:`monitor.tracked_files`), each settling, queued, uploading,
verifying k/K or verified, and stops the machine only when the stop rule
(:mod:`monitor.stop_rule`) holds: every file seen is verified and unchanged, none is still
in work, and the producer is done (it said so, ``expect`` files are verified, ``done_file``
exists, or nothing new or changed was seen for ``idle`` seconds after the last
verification). A file that changes after its upload goes back to settling and is uploaded
again as a new version. Overall state (:class:`WatchState`)::

    idle -> waiting -> uploading / verifying (any file) -> verified (all files)
         -> countdown (cancellable) | awaiting confirmation (require_confirm)
         -> stopping -> stopped          plus: failed, cancelled

A new or changed file during the countdown or the confirmation calls the stop off until
everything is verified again. ``verify_only=True`` skips uploading: another tool uploads.

Finished files come from an injected :class:`~monitor.finished_file.FolderScanner` (a file
counts once its size, mtime and inode stood still for ``settle`` seconds and, on Linux, no
process holds it open for writing; :mod:`monitor.file_tracker` does the looking) or are
handed over with :meth:`Watchdog.file_ready`. An optional
:class:`~monitor.state_store.StateStore` remembers verified files across restarts; at start
the storage removes what a dead earlier upload left behind.

The watchdog is a plain object with no thread that never sleeps: a driver (the console
session, ``framedeck watch``) calls :meth:`Watchdog.step` every fraction of a second; the
clock, the storage, the stop action and the scanner are injected, so tests drive it
deterministically.

Driver API
    ``step()``                look at the files, then do at most one unit of work (an
                              upload, a check, a read-back, the stop action). Blocks while
                              that unit runs.
    ``file_ready(path)``      a finished file handed over directly (no settling).
    ``producer_done()``       no more files will come: stop once all are verified.
    ``signal_received(name)`` from a signal handler: cancel at the next chance, unless the
                              stop action already started (then say so).
    ``finished``              True in stopped, failed and cancelled: stop driving.

Controls (thread-safe, callable from a UI thread while ``step()`` runs)
    ``cancel_countdown()``, ``confirm_stop()``, ``stop_now()`` (never before every file is
    verified), ``set_dry_run(bool)``, ``cancel()`` (refused once the stop action started),
    ``interrupt(why)`` (cancel if still possible; returns the honest line to print).

Read-only attributes for a display
    ``state``, ``target``, ``dry_run``, ``verify_only``, ``files`` (TrackedFile list),
    ``local_path``/``remote_name``/``file_id``/``verified``/``last_check`` (the file
    worked on last), ``required``, ``uploaded``/``upload_total`` (bytes, monotone),
    ``countdown_remaining``, ``message``, ``sentinel``, ``action_description``,
    ``can_stop_now``, ``can_toggle_dry_run``, ``stop_started``, ``finished``.

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
from functools import partial
from pathlib import Path

from core.events import LogRecord
from monitor.action_base import StopAction
from monitor.events import (
    CountdownTick,
    StopOutcome,
    StoppingInstance,
    UploadProgress,
    VerificationCheck,
    WatchEvent,
    WatchStateChanged,
)
from monitor.file_outcomes import FileOutcomes
from monitor.file_tracker import FileTracker
from monitor.finished_file import FolderScanner, Signature
from monitor.hashing import file_sha1
from monitor.open_writers import WriterProbe
from monitor.redact import Redactor
from monitor.sentinel import write_sentinel
from monitor.state_store import StateStore
from monitor.states import FINAL_STATES, STOPPABLE_STATES, WatchState
from monitor.stop_report import file_line, sentinel_record, stop_reason
from monitor.stop_rule import StopRule
from monitor.storage_base import Storage
from monitor.tracked_files import FileSet, FileState, TrackedFile
from monitor.upload import Uploader
from monitor.verify import Verifier

__all__ = ["WatchState", "Watchdog"]


def _ignore(event: WatchEvent) -> None:
    """Default callback: drop the event."""


class _Cancelled(Exception):
    """Raised from the upload progress callback when cancel() was called."""


def _seconds(name: str, value: float, *, above_zero: bool = False) -> None:
    if not math.isfinite(value) or value < 0 or (above_zero and value == 0):
        raise ValueError(f"{name} must be a finite number of seconds{' above 0' if above_zero else ', 0 or more'}")


class Watchdog:
    """Upload and verify every finished file K/K, then stop. See the module docstring."""

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
        settle: float = 10.0,
        expect: int | None = None,
        done_file: Path | None = None,
        idle: float | None = 120.0,
        scanner: FolderScanner | None = None,
        state_store: StateStore | None = None,
        writer_probe: WriterProbe | None = None,
        verify_download: bool = False,
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
        _seconds("check_interval", check_interval)
        _seconds("countdown", countdown)
        _seconds("settle", settle)
        self.storage = storage
        self.action = action
        self.sentinel_path = Path(sentinel_path)
        self.verify_only = verify_only
        self.required = confirm
        self.check_interval = check_interval
        self.countdown = countdown
        self.require_confirm = require_confirm
        self.dry_run = dry_run
        self.settle = settle
        self.rule = StopRule(expect, Path(done_file) if done_file else None, idle)
        self.verify_download = verify_download
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
        self.file_set = FileSet()
        self.uploaded: int | None = None
        self.upload_total: int | None = None
        self.last_check: VerificationCheck | None = None
        self.countdown_remaining: float | None = None
        self.message = ""
        self.sentinel: str | None = None
        self.job: dict[str, object] = {}  # what made the file (the model and why), for the sentinel
        self.stop_reason = ""
        self.failed_inputs: tuple[str, ...] = ()  # named by the producer (producer_done)

        self._lock = threading.RLock()
        self._busy = False
        self._started = False
        self._stop_started = False
        self._cancel_requested = False
        self._cancel_reason = "cancelled"
        self._signal: str | None = None
        self._held = False
        self._current: TrackedFile | None = None
        self._rule_reason = ""
        self._countdown_end = 0.0
        self._last_tick: int | None = None
        self._poll_until: float | None = None
        self._next_poll = 0.0
        self._said: set[str] = set()
        self.tracker = FileTracker(
            self.file_set,
            remote_name=storage.remote_name,
            target=self.target,
            required=confirm,
            settle=settle,
            verify_only=verify_only,
            verify_download=verify_download,
            scanner=scanner,
            writer_probe=writer_probe,
            state_store=state_store,
            log=self._log,
            say_once=self._say_once,
        )
        self.outcomes = FileOutcomes(
            self.tracker,
            required=confirm,
            check_interval=check_interval,
            verify_only=verify_only,
            verify_download=verify_download,
            log=self._log,
            emit=self._emit,
            redact=self.redact,
            wall=wall,
        )

    # -- read-only views ---------------------------------------------------------------------

    @property
    def files(self) -> list[TrackedFile]:
        return list(self.file_set)

    @property
    def local_path(self) -> Path | None:
        return self._current.path if self._current else None

    @property
    def remote_name(self) -> str | None:
        return self._current.remote_name if self._current else None

    @property
    def file_id(self) -> str | None:
        return self._current.file_id if self._current else None

    @property
    def verified(self) -> int:
        return self._current.verified if self._current else 0

    @property
    def checks(self) -> list[VerificationCheck]:
        return list(self._current.checks) if self._current else []

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def stop_started(self) -> bool:
        """True once the stop action (or the dry run's sentinel) is under way."""
        return self._stop_started

    @property
    def can_stop_now(self) -> bool:
        return self.state in STOPPABLE_STATES and self._all_verified()

    @property
    def can_toggle_dry_run(self) -> bool:
        return not self.finished and not self._stop_started

    @property
    def action_description(self) -> str:
        return self.redact(self.action.describe())

    # -- controls ----------------------------------------------------------------------------

    def file_ready(self, path: str | Path) -> None:
        """A finished file handed over directly (framedeck's own job, after its rename)."""
        with self._lock:
            if self.finished or self.state is WatchState.STOPPING:
                self._log("warning", f"ignoring {path}: the watchdog is {self.state.value}")
                return
            self._start()
            now = self.clock()
            tracked = self.tracker.hand(Path(path).absolute(), now)
            if tracked is not None:
                self._current = tracked
                self._settle_state(now)

    def producer_done(self, failed: tuple[str, ...] = ()) -> None:
        """No more files will come: stop once every file seen is verified. ``failed`` names
        inputs the producer could not turn into files; they do not hold the stop, and the
        sentinel lists them (``failed_inputs``)."""
        with self._lock:
            self.failed_inputs = tuple(failed)
            if failed:
                self._log("warning", f"the producer failed on {len(failed)} input(s): {', '.join(failed)}")
            if not self.rule.producer_done:
                self.rule.producer_done = True
                self._log("info", "the producer is done: the machine stops once every file is verified")

    def signal_received(self, name: str) -> None:
        """For a signal handler: only sets flags; the next ``step()`` acts and logs."""
        self._signal = name
        if not self._stop_started:
            self._cancel_reason = f"{name} received"
            self._cancel_requested = True

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
            if self.state is not WatchState.AWAITING_CONFIRM or not self._all_verified():
                self._log("warning", f"nothing to confirm ({self.state.value})")
                return False
            return self._begin_stop("confirmed by a person")

    def stop_now(self) -> bool:
        with self._lock:
            if not self.can_stop_now:
                self._log(
                    "warning",
                    f"refusing to stop now: not every file is verified "
                    f"({self.file_set.summary()}, {self.state.value})",
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

    def cancel(self) -> bool:
        """Anything before the stop action -> cancelled; returns False once it is too late."""
        with self._lock:
            if self.finished:
                return self.state is WatchState.CANCELLED
            if self._stop_started:
                self._log("warning", f"too late to cancel: {self._already_sent()}")
                return False
            self._cancel_requested = True
            if not self._busy or self.state is not WatchState.UPLOADING:
                self.countdown_remaining = None
                self._set_state(WatchState.CANCELLED, f"{self._cancel_reason}; the machine will not be stopped")
            return True

    def interrupt(self, why: str = "interrupted") -> str:
        """Cancel if that is still possible; the honest line to print either way."""
        with self._lock:
            if not self._stop_started:
                self._cancel_reason = why
                self.cancel()
                return f"{why}: cancelled; the machine will not be stopped"
            line = f"{why}: {self._already_sent()}"
            self._log("warning", line)
            return line

    # -- driving -----------------------------------------------------------------------------

    def step(self) -> None:
        """Look at the files, then advance by at most one unit of work."""
        with self._lock:
            if self._busy or self.finished:
                return
            self._start()
            if self._signal is not None and self._on_signal():
                return
            now = self.clock()
            if self.state is WatchState.STOPPING:
                if self._poll_until is None:
                    job = self._stop
                elif now >= self._next_poll:
                    job = self._poll
                else:
                    return
            else:
                self.tracker.observe(now)
                if self._gave_up(now):
                    return
                job = self._next_job(now)
                if job is None:
                    self._settle_state(now)
                    return
            self._busy = True
        try:
            job()
        finally:
            with self._lock:
                self._busy = False

    # -- looking at the files (lock held) ----------------------------------------------------

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        recover = getattr(self.storage, "recover", None)
        if recover is not None and not self.verify_only:
            try:
                recover(lambda text: self._log("info", text))
            except Exception as exc:
                self._log("warning", f"could not tidy the target: {exc}")
        self.tracker.start(self.clock())
        if self.state is WatchState.IDLE:
            watching = self.tracker.scanner is not None
            self._set_state(WatchState.WAITING, "waiting for finished files" if watching else "waiting for the output file")

    def _next_job(self, now: float) -> Callable[[], None] | None:
        for tracked in self.file_set.in_state(FileState.VERIFYING):
            if tracked.read_back_pending and tracked.file_id is not None:
                self._current = tracked
                return partial(self._read_back, tracked)
            if now >= tracked.next_check:
                self._current = tracked
                return partial(self._check, tracked)
        queued = self.file_set.in_state(FileState.QUEUED)
        if queued:
            tracked = queued[0]
            tracked.state = FileState.UPLOADING
            self._current = tracked
            self.uploaded, self.upload_total = 0, tracked.signature.size
            detail = f"{tracked.path} -> {tracked.remote_name}"
            if self.state is WatchState.UPLOADING:
                self.message = detail
                self._log("info", f"uploading {detail}")
            else:
                self._set_state(WatchState.UPLOADING, detail)
            return partial(self._upload, tracked, tracked.signature)
        return None

    def _gave_up(self, now: float) -> bool:
        if self.give_up_after is None:
            return False
        for tracked in self.file_set.in_state(FileState.VERIFYING):
            if tracked.verify_started is not None and now - tracked.verify_started >= self.give_up_after:
                self._fail(
                    f"verification of {tracked.name} did not pass {self.required}/{self.required} within "
                    f"{self.give_up_after:g} s; the machine keeps running"
                )
                return True
        return False

    # -- the work, outside the lock ----------------------------------------------------------

    def _upload(self, tracked: TrackedFile, before: Signature) -> None:
        deadline = None if self.upload_timeout is None else self.clock() + self.upload_timeout
        try:
            remote = self.uploader.upload(tracked.path, tracked.remote_name, self._on_progress, deadline)
        except Exception as exc:
            with self._lock:
                if isinstance(exc, _Cancelled) or self._cancel_requested:
                    self._set_state(
                        WatchState.CANCELLED, f"{self._cancel_reason}: upload cancelled; the machine will not be stopped"
                    )
                elif self.outcomes.upload_failed(tracked, before, exc, self.clock()):
                    self._settle_state(self.clock())
                else:
                    self._fail(f"upload of {tracked.name} failed: {exc}")
            return
        with self._lock:
            if self._cancel_requested:
                self._set_state(WatchState.CANCELLED, f"{self._cancel_reason} after the upload; the machine will not be stopped")
                return
            self.uploaded = self.upload_total = remote.size
            self.outcomes.uploaded(tracked, remote, before, self.clock())
            self._settle_state(self.clock())

    def _on_progress(self, done: int, total: int, rate: float | None, eta: float | None) -> None:
        if self._cancel_requested:
            raise _Cancelled()
        self.uploaded, self.upload_total = done, total
        self._emit(UploadProgress(str(self.local_path), done, total, rate, eta))

    def _read_back(self, tracked: TrackedFile) -> None:
        assert tracked.file_id is not None
        remote = local = None
        problem = ""
        try:
            remote = self.storage.read_back(tracked.file_id)  # type: ignore[attr-defined]
            local = file_sha1(tracked.path)
        except Exception as exc:
            problem = self.redact(f"{type(exc).__name__}: {exc}")
        with self._lock:
            if tracked.state is FileState.VERIFYING and not self.finished:
                self.outcomes.read_back(tracked, remote, local, problem, self.clock())
                self._settle_state(self.clock())

    def _check(self, tracked: TrackedFile) -> None:
        result = self.verifier.check(tracked.path, tracked.remote_name, tracked.file_id)
        with self._lock:
            if tracked.state is not FileState.VERIFYING or self.finished:
                return
            check = self.outcomes.checked(tracked, result, self.clock())
            if check is not None:
                self.last_check = check
                if tracked.state is FileState.VERIFYING:
                    self.message = f"verifying {tracked.name} {tracked.verified}/{self.required}: {check.reason}"
            self._settle_state(self.clock())

    def _stop(self) -> None:
        with self._lock:
            if self._cancel_requested:
                self._set_state(WatchState.CANCELLED, f"{self._cancel_reason}; the machine will not be stopped")
                return
            self.tracker.observe(self.clock())  # last look: nothing may have changed since verification
            if not self._all_verified():  # defence in depth: never act on an unverified file
                self._log("warning", f"stop called off: {self.file_set.summary()}; the machine keeps running")
                self._set_state(self._derived_state(), "not every file is verified any more")
                self._settle_state(self.clock())
                return
            self._stop_started = True
            dry_run = self.dry_run
            description = self.action_description
            when = self.wall()
            stamp = datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="seconds")
            suffix = " (dry run: not executed)" if dry_run else ""
            line = f"STOPPING INSTANCE at {stamp} reason: {self.stop_reason}; action: {description}{suffix}"
            self._emit(StoppingInstance(line, when, self.stop_reason, description, dry_run))
            self._emit(LogRecord("warning", line, when))
            for tracked in self.file_set:
                self._log("info", "  " + file_line(tracked, self.required))
            record = sentinel_record(
                stamp=stamp, when=when, reason=self.stop_reason, action=description, provider=self.action.name,
                files=self.files, latest=self._current, target=self.target, required=self.required,
            )
            record["job"] = self.job
            if self.failed_inputs:
                record["failed_inputs"] = list(self.failed_inputs)
        if dry_run:
            try:
                write_sentinel(self.sentinel_path, record)
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

    # -- the overall state (lock held) -------------------------------------------------------

    def _all_verified(self) -> bool:
        return not self.file_set.unfinished and bool(self.file_set.verified)

    def _derived_state(self) -> WatchState:
        if self.file_set.in_state(FileState.QUEUED, FileState.UPLOADING):
            return WatchState.UPLOADING
        if self.file_set.in_state(FileState.VERIFYING):
            return WatchState.VERIFYING
        if self._all_verified():
            return WatchState.VERIFIED
        return WatchState.WAITING

    def _settle_state(self, now: float) -> None:
        """Move the overall state to match the files; start, tick or call off the stop."""
        if self.finished or self.state is WatchState.STOPPING:
            return
        done = self._all_verified()
        if self.state in (WatchState.COUNTDOWN, WatchState.AWAITING_CONFIRM):
            if done:
                if self.state is WatchState.COUNTDOWN:
                    self._tick(now)
                return
            self.countdown_remaining = None
            self._log("warning", f"{self.state.value} called off: {self.file_set.summary()}; the machine keeps running")
        derived = self._derived_state()
        if derived is WatchState.VERIFIED:
            verdict = self.rule.evaluate(self.file_set, now, self.tracker.last_activity)
            if self.state is not WatchState.VERIFIED:
                waiting = "" if verdict.ready or self._held else f"; {verdict.reason}"
                self._set_state(
                    WatchState.VERIFIED,
                    f"{len(self.file_set.verified)} file(s) verified {self.required}/{self.required}{waiting}",
                )
            if self._held:
                return
            if verdict.ready:
                self._after_verified(verdict.reason)
            else:
                self.message = f"{len(self.file_set.verified)} file(s) verified; {verdict.reason}"
        elif derived is not self.state:
            if derived is WatchState.UPLOADING:
                first = self.file_set.in_state(FileState.UPLOADING, FileState.QUEUED)[0]
                detail = f"{first.path} -> {first.remote_name}"
            elif derived is WatchState.VERIFYING:
                first = self.file_set.in_state(FileState.VERIFYING)[0]
                detail = f"verifying {first.remote_name} {first.verified}/{self.required}"
            else:
                detail = f"waiting for finished files ({self.file_set.summary()})"
            self._set_state(derived, detail)

    def _after_verified(self, why: str) -> None:
        self._rule_reason = why
        if self.require_confirm:
            self._set_state(WatchState.AWAITING_CONFIRM, f"verified ({why}); waiting for a person to confirm the stop")
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
        self.stop_reason = stop_reason(self.file_set.verified, self.target, self.required, self._rule_reason, why)
        self.countdown_remaining = None
        self._set_state(WatchState.STOPPING, why)
        return True

    def _on_signal(self) -> bool:
        """Act on a signal recorded by ``signal_received``; True when the watchdog ended."""
        name, self._signal = self._signal, None
        if self._stop_started:
            self._log("warning", f"{name} received: {self._already_sent()}")
            return False
        during = " during the countdown" if self.state is WatchState.COUNTDOWN else ""
        self.countdown_remaining = None
        self._set_state(WatchState.CANCELLED, f"{name} received{during}: cancelled; the machine will not be stopped")
        self._log("warning", self.message)
        return True

    def _already_sent(self) -> str:
        if self.dry_run:
            return "the dry run already reached the stop; nothing is stopped, the sentinel says what would run"
        return f"the stop was already sent ({self.action_description}); it is not taken back: expect the machine to stop"

    # -- helpers (lock held) -----------------------------------------------------------------

    def _say_once(self, key: str, level: str, message: str) -> None:
        if key not in self._said:
            self._said.add(key)
            self._log(level, message)

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
