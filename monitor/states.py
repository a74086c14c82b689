"""The watchdog's states, in the order a normal run passes through them."""

from __future__ import annotations

from enum import Enum


class WatchState(str, Enum):
    IDLE = "idle"
    WAITING = "waiting for output"
    UPLOADING = "uploading"
    VERIFYING = "verifying"
    VERIFIED = "verified"
    COUNTDOWN = "countdown"
    AWAITING_CONFIRM = "awaiting confirmation"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset({WatchState.STOPPED, WatchState.FAILED, WatchState.CANCELLED})
# States from which a person may stop the machine at once (verification is complete).
STOPPABLE_STATES = frozenset({WatchState.VERIFIED, WatchState.COUNTDOWN, WatchState.AWAITING_CONFIRM})
