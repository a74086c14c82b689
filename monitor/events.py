"""Typed events the watchdog sends to its callback (frozen dataclasses).

Log lines use :class:`core.events.LogRecord`, so one callback can serve the
pipeline and the watchdog alike. No event ever carries a secret: every text
field passes through the watchdog's redactor before it is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.events import LogRecord
from monitor.states import WatchState


@dataclass(frozen=True)
class WatchStateChanged:
    old: WatchState
    new: WatchState
    detail: str = ""


@dataclass(frozen=True)
class UploadProgress:
    """Bytes sent so far; ``done`` never goes backwards even when b2sdk retries a part."""

    path: str
    done: int
    total: int
    rate: float | None  # bytes per second
    eta: float | None  # seconds


@dataclass(frozen=True)
class UploadFinished:
    path: str
    remote_name: str
    file_id: str
    size: int
    sha1: str


@dataclass(frozen=True)
class Comparison:
    """One item a verification check compared."""

    what: str
    local: str
    remote: str
    ok: bool


@dataclass(frozen=True)
class VerificationCheck:
    """One check: what was compared, whether it passed, and the count after it (k of K)."""

    passed: bool
    count: int
    required: int
    comparisons: tuple[Comparison, ...]
    reason: str
    time: float


@dataclass(frozen=True)
class CountdownTick:
    remaining: float


@dataclass(frozen=True)
class StoppingInstance:
    """The ``STOPPING INSTANCE`` line, sent once when the watchdog acts (or would act)."""

    line: str
    time: float
    reason: str
    action: str
    dry_run: bool


@dataclass(frozen=True)
class StopOutcome:
    """How stopping ended: the action ran (and what the provider says), or the sentinel."""

    ok: bool
    dry_run: bool
    message: str
    sentinel: str | None = None


WatchEvent = (
    WatchStateChanged
    | UploadProgress
    | UploadFinished
    | VerificationCheck
    | CountdownTick
    | StoppingInstance
    | StopOutcome
    | LogRecord
)
WatchEventCallback = Callable[[WatchEvent], None]
