"""Output slots of a running job and their order (no torch).

Each input pair becomes a run of output slots (see :class:`core.schedule.OutputSchedule`).
A slot holds a source frame at once, or waits for a model result; slots leave in output
order only, and a pair is done when its last slot has been written (a pair without any
output frame leaves a marker slot, so pairs are done in order too).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from core.scenecut import PairKind
from core.schedule import OutputSchedule
from core.video.reader import DecodedFrame

Picture = np.ndarray | av.VideoFrame
TAIL = -1  # the pair index of the slots that hold the last frame for its duration


@dataclass
class Slot:
    """An output frame waiting for its picture (a source frame or a model result)."""

    pts: int
    pair: int  # the input pair it belongs to, TAIL for the last frame's own slots
    picture: Picture | None = None
    source: tuple[Any, int] | None = None  # the model runner's batch and row it will come from
    marker: bool = False  # no frame: only marks the end of a pair that has no output frame


@dataclass
class Request:
    """One frame for the model to make: ``slot`` gets the frame at ``t`` between two frames."""

    slot: Slot
    frame0: DecodedFrame
    frame1: DecodedFrame
    t: float


@dataclass(frozen=True)
class FinishedPair:
    """A pair whose slots have all been written."""

    index: int
    seconds: float  # from being scheduled to its last slot written
    interpolated: bool  # whether the model made any of its frames
    next_pts: int  # the input pts of its second frame (where the next pair starts)


class OutputSlots:
    """Slots in output order, the requests for the model, and which pairs are still open."""

    def __init__(self, schedule: OutputSchedule, clock: Callable[[], float] = time.monotonic) -> None:
        self.schedule = schedule
        self.clock = clock
        self.pending: deque[Slot] = deque()
        self.requests: list[Request] = []
        self._outstanding: dict[int, int] = {}  # pair -> slots not yet written
        self._started: dict[int, float] = {}
        self._interpolated: dict[int, bool] = {}
        self._next_pts: dict[int, int] = {}

    def add_pair(self, index: int, frame0: DecodedFrame, frame1: DecodedFrame, kind: PairKind) -> None:
        """Schedule pair ``index``."""
        slots = self.schedule.pair_slots(frame0.pts, frame1.pts)
        self._started[index] = self.clock()
        self._interpolated[index] = False
        self._next_pts[index] = frame1.pts
        self._outstanding[index] = max(1, len(slots))
        if not slots:
            self.pending.append(Slot(-1, index, marker=True))
        for s in slots:
            slot = Slot(s.pts, index)
            self.pending.append(slot)
            if s.t == 0 or kind is not PairKind.NORMAL:
                slot.picture = frame0.source
            else:
                self.requests.append(Request(slot, frame0, frame1, float(s.t)))
                self._interpolated[index] = True

    def add_tail(self, frame: DecodedFrame, duration: int) -> None:
        """Slots that hold the last input frame for ``duration`` (input time base)."""
        for s in self.schedule.tail_slots(frame.pts, duration):
            self.pending.append(Slot(s.pts, TAIL, frame.source))

    def take_requests(self) -> list[Request]:
        requests, self.requests = self.requests, []
        return requests

    def pop_ready(self, fetch: Callable[[tuple[Any, int]], Picture | None]) -> Slot | None:
        """The next slot in output order if its picture is there, else None.

        ``fetch`` turns a slot's model source into its picture, or None while not ready.
        """
        if not self.pending:
            return None
        slot = self.pending[0]
        if slot.picture is None and not slot.marker:
            if slot.source is None:
                return None  # not interpolated yet
            picture = fetch(slot.source)
            if picture is None:
                return None
            slot.picture, slot.source = picture, None
        return self.pending.popleft()

    def written(self, slot: Slot) -> FinishedPair | None:
        """Count ``slot`` as written; returns its pair when that was the pair's last slot."""
        if slot.pair == TAIL:
            return None
        self._outstanding[slot.pair] -= 1
        return self._finish(slot.pair) if self._outstanding[slot.pair] == 0 else None

    def _finish(self, index: int) -> FinishedPair:
        del self._outstanding[index]
        seconds = self.clock() - self._started.pop(index)
        return FinishedPair(index, seconds, self._interpolated.pop(index), self._next_pts.pop(index))

    def clear(self) -> None:
        self.pending.clear()
        self.requests.clear()
