"""Typed events the core reports to its callback.

Every event is a small frozen dataclass. A front end receives them through the
``on_event`` callback of :func:`core.job.run_job`, possibly from a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum


class Stage(str, Enum):
    PROBING = "probing"
    LOADING_MODEL = "loading model"
    INTERPOLATING = "interpolating"
    FINALIZING = "finalizing"
    DONE = "done"
    ABORTED = "aborted"
    FAILED = "failed"


@dataclass(frozen=True)
class StageChanged:
    stage: Stage
    detail: str = ""


@dataclass(frozen=True)
class JobStarted:
    """Facts about the job, sent once after probing and model loading."""

    input: str
    output: str
    width: int
    height: int
    input_fps: float
    output_fps: float
    total_pairs: int
    total_output_frames: int
    model: str
    device: str
    precision: str
    batch: int
    codec: str


@dataclass(frozen=True)
class ModelChosen:
    """What model runs and why (``--model auto`` or as asked), sent once before JobStarted."""

    model: str  # what --model resolved to: rife, flow, blend, torchscript
    title: str  # for people: "RIFE 4.25", "flow"
    weights: str | None  # the weights file, if any
    sha256: str | None  # of that file
    precision: str
    device: str
    reason: str  # "RIFE 4.25 from the cache", "RIFE 4.25 fetched", "flow: no GPU", "flow: offline", ...

    @property
    def line(self) -> str:
        weights = f" ({self.weights}, sha256 {self.sha256[:12]})" if self.weights and self.sha256 else ""
        return f"model {self.title}{weights}, {self.precision} on {self.device} ({self.reason})"


@dataclass(frozen=True)
class ModelFetch:
    """Progress of a download of weights that ``--model auto`` needs."""

    name: str
    done: int
    total: int | None

    @property
    def line(self) -> str:
        amount = f"{self.done * 100 // self.total}% of {self.total / 2**20:.0f} MiB" if self.total else (
            f"{self.done / 2**20:.0f} MiB"
        )
        return f"fetching RIFE {self.name}: {amount}"


@dataclass(frozen=True)
class PairDone:
    """One input pair is finished and all its output frames are queued for encoding."""

    index: int
    total: int
    seconds: float
    frames_written: int
    interpolated: bool
    pairs_per_second: float | None
    eta_seconds: float | None
    elapsed: float


@dataclass(frozen=True)
class WorkerRates:
    """A job shared out over several devices (core/device_job.py): each worker's device,
    pairs done in this job and current rate (pairs per second), in worker order."""

    workers: tuple[tuple[str, int, float | None], ...]

    @property
    def line(self) -> str:
        return "  ".join(f"{device} {pairs} {f'{rate:.2f}/s' if rate else '-/s'}" for device, pairs, rate in self.workers)


@dataclass(frozen=True)
class JobResumed:
    """A journal of an earlier run of the same job was found: work starts at ``pair``."""

    pair: int  # pairs already done (the first pair this run makes is pair + 1 of total)
    total: int
    percent: int
    segments: int  # segments kept from the earlier run


@dataclass(frozen=True)
class BatchChanged:
    batch: int
    reason: str


@dataclass(frozen=True)
class OomBackoff:
    old_batch: int
    new_batch: int
    scale: float
    detail: str


@dataclass(frozen=True)
class Stalled:
    stage: str
    seconds: float


@dataclass(frozen=True)
class StageTimes:
    """Cumulative seconds per pipeline stage (decode, upload, model, download, encode, wait)."""

    seconds: dict[str, float]


@dataclass(frozen=True)
class LogRecord:
    level: str  # "debug" | "info" | "warning" | "error"
    message: str
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class JobFailed:
    message: str
    aborted: bool = False


@dataclass(frozen=True)
class JobFinished:
    output: str
    input_frames: int
    output_frames: int
    pairs: int
    interpolated_frames: int
    seconds: float
    duration: float
    model: str = ""  # ModelChosen.line: what ran and why


Event = (
    StageChanged
    | ModelChosen
    | ModelFetch
    | JobStarted
    | PairDone
    | WorkerRates
    | JobResumed
    | BatchChanged
    | OomBackoff
    | Stalled
    | StageTimes
    | LogRecord
    | JobFailed
    | JobFinished
)
EventCallback = Callable[[Event], None]


def ignore_event(event: Event) -> None:
    """Default callback: drop the event."""
