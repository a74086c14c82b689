"""One clip of a session: its paths, its state and its figures; and the session's events."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path


class ClipState(str, Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHING = "finishing"
    UPLOADING = "uploading"
    VERIFIED = "verified"
    DONE = "done"  # written (no upload in this session)
    SKIPPED = "skipped"
    FAILED = "failed"


_ids = itertools.count(1)


@dataclass
class Clip:
    """A clip in the queue. ``frames`` is the output frame count; ``seconds`` its run time."""

    input: Path
    output: Path
    state: ClipState = ClipState.WAITING
    id: int = field(default_factory=lambda: next(_ids))
    pairs_done: int = 0
    total_pairs: int = 0
    frames: int = 0
    seconds: float = 0.0
    size: int | None = None
    message: str = ""  # the one sentence of a failure, or why it was skipped
    code: int = 0  # the failure's exit code (core/errors.py), 0 unless failed
    pixels: int = 0  # width x height, for the queue's estimate
    rate: float | None = None  # pairs/s while running
    eta: float | None = None

    @property
    def percent(self) -> int:
        return int(100 * self.pairs_done / self.total_pairs) if self.total_pairs else 0

    def snapshot(self) -> Clip:
        return replace(self)


@dataclass(frozen=True)
class ClipChanged:
    """A clip was added, moved, started, progressed, finished, failed or skipped."""

    clip: Clip
    position: int  # index in the queue


@dataclass(frozen=True)
class QueueClosed:
    """No clip will be added: the watchdog is told that the producer is done."""

    done: int
    failed: int
    skipped: int


@dataclass(frozen=True)
class SessionFinished:
    clips: tuple[Clip, ...]


@dataclass(frozen=True)
class PanelSwitched:
    """Several clips run at once (session/parallel.py) and the job panel now follows ``clip``
    (the oldest running one): its latest job events, to draw the panel afresh."""

    clip: Clip
    started: object = None  # core.events.JobStarted, once it came
    stage: object = None  # core.events.StageChanged: the stage it is in
    pair: object = None  # core.events.PairDone: its latest progress

    def events(self) -> list[object]:
        return [e for e in (self.started, self.stage, self.pair) if e is not None]
