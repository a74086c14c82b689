"""Core events to Textual messages, coalesced between screen updates.

Worker threads call :meth:`EventInbox.put` for every event. The inbox keeps them in
order, drops an older pending event when a newer one of the same kind supersedes it
(progress, stage times, watchdog snapshots, GPU samples), and posts a single
:class:`EventsWaiting` message per burst; the app drains the inbox on that message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from textual.message import Message

from core.events import PairDone, StageTimes, WorkerRates
from monitor.events import CountdownTick, UploadProgress

# Kinds where only the newest pending event matters.
SUPERSEDING: tuple[type, ...] = (PairDone, WorkerRates, StageTimes, UploadProgress, CountdownTick)


class EventsWaiting(Message):
    """Events are waiting in the inbox; drain it."""


class SessionEnded(Message):
    """The session's worker returned: the job and the watchdog have nothing left to do."""

    def __init__(self, summary: object) -> None:
        self.summary = summary
        super().__init__()


class EventInbox:
    """A thread-safe, coalescing queue between worker threads and the UI thread."""

    def __init__(
        self,
        post: Callable[[Message], object],
        superseding: tuple[type, ...] = SUPERSEDING,
        limit: int = 5000,
    ) -> None:
        self._post = post
        self._superseding = superseding
        self._limit = limit
        self._lock = threading.Lock()
        self._pending: list[object] = []
        self._posted = False
        self.dropped = 0  # events dropped because the UI fell behind by ``limit`` events

    def put(self, event: object) -> None:
        """Queue ``event`` (any thread); wakes the UI once per burst."""
        with self._lock:
            kind = type(event)
            if kind in self._superseding:
                for i in range(len(self._pending) - 1, -1, -1):
                    if type(self._pending[i]) is kind:
                        del self._pending[i]
                        break
            if len(self._pending) >= self._limit:
                del self._pending[0]
                self.dropped += 1
            self._pending.append(event)
            wake = not self._posted
            self._posted = True
        if wake:
            self._post(EventsWaiting())

    def drain(self) -> list[object]:
        """Everything queued since the last drain, oldest first (UI thread)."""
        with self._lock:
            events, self._pending = self._pending, []
            self._posted = False
        return events
