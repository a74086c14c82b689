"""Several clips at once over a device pool (``--devices``): how a queue is shared out.

The rule (also in the log and README.md): a clip under a minute of input runs whole on one
free device while other clips wait; a longer clip, and the last clip of the queue, is split
into ranges at segment boundaries over every device (core/device_job.py); another clip starts
whenever a device would otherwise idle. The pool's device workers (core/device_scheduler.py,
one long-lived thread and one warm model replica per device) take their tasks from one shared
list, the oldest clip's first.

:func:`run_parallel` works the queue of a :class:`session.engine.Session` whose ``run_job`` is a
:class:`core.device_job.DevicePool`: it starts the first waiting clip on a thread of its own
when the pool wants work (a device is free and no task of a running clip waits for one), one
start at a time (the next once the last one's tasks are in the list). Each clip is the
session's ordinary ``_process`` (its own cancel, journal, join, output check and hand-over to
the watchdog as it lands); a failed clip fails alone.

Events: :class:`ClipEvents` lets only the oldest running clip's job events through to the
front ends (the job panel, the progress lines); the other clips update their Queue rows
(ClipChanged), their log lines are named, and what the log would say of their job events is
said as a named line. When the oldest clip ends, :class:`session.clips.PanelSwitched` hands
the panel to the next one. ``WorkerRates`` (every device of the pool, pairs summed over the
clips) always pass.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any

from core.events import JobStarted, LogRecord, PairDone, StageChanged, WorkerRates
from session.clips import Clip, ClipState, PanelSwitched
from session.lines import describe

if TYPE_CHECKING:
    from session.engine import Session

STOP_GRACE = 15.0  # seconds each running clip gets to stop after a second interrupt
POLL = 0.1  # seconds between looks at the queue while every device is busy


def shares_devices(run_job: Any) -> bool:
    """Whether ``run_job`` is a device pool with several devices (core/device_job.py)."""
    return getattr(run_job, "scheduler", None) is not None and len(getattr(run_job, "devices", ())) > 1


def run_parallel(session: Session) -> None:
    """Work ``session``'s queue over its device pool; see the module docstring."""
    ParallelQueue(session).run()


class ClipEvents:
    """Routes the job events of several running clips; see the module docstring."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.lock = threading.Lock()
        self.shown: int | None = None  # the clip whose job events reach the front ends
        self.latest: dict[int, dict[str, object]] = {}  # clip id -> its latest started/stage/pair

    def __call__(self, clip: Clip, event: object) -> None:
        with self.lock:
            latest = self.latest.setdefault(clip.id, {})
            for key, kind in (("started", JobStarted), ("stage", StageChanged), ("pair", PairDone)):
                if isinstance(event, kind):
                    latest[key] = event
            if self.shown is None:
                oldest = self.session.current
                self.shown = oldest.id if oldest is not None else clip.id
            out: object | None = event
            if isinstance(event, LogRecord):
                if len(self.session.clips) > 1:
                    out = dataclasses.replace(event, message=f"{clip.input.name}: {event.message}")
            elif clip.id != self.shown and not isinstance(event, WorkerRates):
                line = describe(event)
                out = LogRecord(line[0], f"{clip.input.name}: {line[1]}") if line is not None else None
            if out is not None:
                self.session.emit(out)

    def left(self, clip: Clip) -> None:
        """``clip`` is no longer running: the panel goes to the oldest clip still running."""
        with self.lock:
            self.latest.pop(clip.id, None)
            if self.shown != clip.id:
                return
            oldest = self.session.current
            self.shown = oldest.id if oldest is not None else None
            if oldest is None:
                return
            latest = self.latest.get(oldest.id, {})
            self.session.emit(PanelSwitched(oldest.snapshot(), latest.get("started"), latest.get("stage"),
                                            latest.get("pair")))


class ParallelQueue:
    """The clip threads of one session over its device pool."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.pool: Any = session._run_job
        self.scheduler = self.pool.scheduler
        self.events = ClipEvents(session)
        self.threads: dict[int, threading.Thread] = {}  # running clip id -> its thread (under session._lock)

    def run(self) -> None:
        from core.device_scheduler import describe_rule

        s = self.session
        if len(s.clips) > 1 or s._open:  # (one clip: DeviceJob says how it is shared out)
            s.note("info", f"{len(self.pool.devices)} devices share the queue: {describe_rule(self.pool.short_seconds)}")
        try:
            while (clip := self._next_clip()) is not None:
                self._start(clip)
        except BaseException:  # a second Ctrl-C: every running clip stops, keeping its closed segments
            s.cancel.set()
            self._join(STOP_GRACE)
            raise
        self._join(None)

    def _waiting(self) -> list[Clip]:
        s = self.session
        return [c for c in s.clips if c.state is ClipState.WAITING and c.id not in self.threads]

    def _next_clip(self) -> Clip | None:
        """The clip to start now, once a device would otherwise idle; None when the queue is
        closed and nothing is left to start or running."""
        s = self.session
        s._measure()
        while not s.cancel.is_set():
            with s._lock:
                waiting = self._waiting()
                if not waiting and not self.threads and not s._open:
                    return None
            if waiting and not s.pause.is_set() and (self.scheduler.wants_work() or not self.scheduler.live()):
                return waiting[0]  # (with no device left it fails at once, in one sentence)
            self.scheduler.wait_for_change(POLL)
        return None

    def _start(self, clip: Clip) -> None:
        s = self.session
        submitted = threading.Event()
        thread = threading.Thread(target=self._clip, args=(clip, submitted), name=f"framedeck-clip-{clip.id}",
                                  daemon=True)
        with s._lock:
            self.threads[clip.id] = thread
        thread.start()
        submitted.wait()  # its tasks are in the list (or it ended): only then is the next start judged

    def _clip(self, clip: Clip, submitted: threading.Event) -> None:
        s = self.session
        try:
            with s._lock:
                others = bool(self._waiting())  # (this clip is in self.threads already)
            s._process(clip, route=self.events, others_waiting=others, submitted=submitted)
        finally:
            submitted.set()
            self.events.left(clip)
            with s._lock:
                self.threads.pop(clip.id, None)
            self.scheduler.poke()

    def _join(self, limit: float | None) -> None:
        with self.session._lock:
            threads = list(self.threads.values())
        for thread in threads:
            thread.join(limit)
