"""What a console attaching late is shown first: the session's recent events."""

from __future__ import annotations

from collections import OrderedDict

from core.events import PairDone, StageTimes, WorkerRates
from monitor.events import CountdownTick, UploadProgress
from session.clips import ClipChanged
from session.remote.protocol import dump_line, encode

HISTORY = 2000  # events replayed to a new console (the log panel keeps 500 lines)
LATEST_ONLY = (PairDone, StageTimes, WorkerRates, UploadProgress, CountdownTick)  # only the newest is replayed


class SentEvent:
    """An event on its way to the consoles: encoded once, by the first writer that sends it."""

    __slots__ = ("event", "line", "when")

    def __init__(self, event: object, when: float) -> None:
        self.event, self.when = event, when
        self.line: bytes | None = None

    def render(self) -> bytes:
        if self.line is None:  # two writers may both encode it: the same bytes either way
            self.line = dump_line({"type": "event", "time": self.when, "event": encode(self.event)})
        return self.line


class History:
    """The events a new console replays, oldest first: at most ``limit``, and of each kind in
    LATEST_ONLY (and each clip's ClipChanged) only the newest, in the place it arrived."""

    def __init__(self, limit: int = HISTORY) -> None:
        self.limit = limit
        self._items: OrderedDict[object, SentEvent] = OrderedDict()
        self._seq = 0

    def add(self, item: SentEvent) -> None:
        event = item.event
        if isinstance(event, LATEST_ONLY):
            key: object = type(event).__name__
        elif isinstance(event, ClipChanged):
            key = ("clip", event.clip.id)
        else:
            self._seq += 1
            key = self._seq
        self._items.pop(key, None)
        self._items[key] = item
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def items(self) -> list[SentEvent]:
        return list(self._items.values())
