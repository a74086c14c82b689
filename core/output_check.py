"""Output checks at the end of each job: the written file's frames, duration and rate against
what the job promised (its input's duration, the expected frame count), with one warning
when they disagree by more than a frame.

:class:`OutputChecker` folds a job's events (any thread) and, on ``JobFinished``, reads the
output back with PyAV (the header, no decoding) and reports through ``report(level, line)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.events import JobFinished, JobStarted
from core.video.probe import probe_video


@dataclass(frozen=True)
class OutputCheck:
    """Expected against actual, for the console and the log."""

    output: str
    expected_frames: int
    actual_frames: int | None
    expected_duration: float | None
    actual_duration: float | None
    output_fps: float

    @property
    def actual_fps(self) -> float | None:
        if not self.actual_frames or not self.actual_duration:
            return None
        return self.actual_frames / self.actual_duration

    @property
    def problems(self) -> list[str]:
        """What disagrees by more than one frame (empty when the output is as expected)."""
        found = []
        frame = 1 / self.output_fps if self.output_fps else 0.0
        if self.actual_frames is not None and abs(self.actual_frames - self.expected_frames) > 1:
            found.append(f"{self.actual_frames} frames where {self.expected_frames} were expected")
        if (self.actual_duration is not None and self.expected_duration is not None
                and abs(self.actual_duration - self.expected_duration) > frame + 1e-6):
            found.append(f"{self.actual_duration:.3f} s where the input lasts {self.expected_duration:.3f} s")
        fps = self.actual_fps
        if fps is not None and self.actual_duration and abs(fps - self.output_fps) * self.actual_duration > 1:
            found.append(f"{fps:.3f} fps where {self.output_fps:.3f} fps was the target")
        return found

    def short(self) -> tuple[str, str]:
        """(level, text) for a panel row: the figures, or what disagrees."""
        if self.actual_frames is None and self.actual_duration is None:
            return "warning", "could not be read back"
        if self.problems:
            return "warning", "⚠ " + "; ".join(self.problems)
        fps = f"{self.actual_fps:.3f}".rstrip("0").rstrip(".") if self.actual_fps else "?"
        return "info", f"✓ {self.actual_frames} frames, {self.actual_duration or 0:.3f} s, {fps} fps"

    def line(self) -> tuple[str, str]:
        """(level, text) for the log."""
        name = Path(self.output).name
        if self.actual_frames is None and self.actual_duration is None:
            return "warning", f"output check: {name} could not be read back"
        if self.problems:
            return "warning", f"output check: {name} has " + "; ".join(self.problems)
        fps = f"{self.actual_fps:.3f}".rstrip("0").rstrip(".") if self.actual_fps else "?"
        duration = f"{self.actual_duration:.3f} s" if self.actual_duration is not None else "? s"
        return "info", f"output check: {name} {self.actual_frames} frames, {duration} at {fps} fps, as expected"


class OutputChecker:
    """Checks each finished output; ``last`` holds the newest check."""

    def __init__(self, report: Callable[[str, str], None], probe: Callable[[str], object] = probe_video) -> None:
        self.report = report
        self.probe = probe
        self.started: JobStarted | None = None
        self.input_duration: float | None = None
        self.last: OutputCheck | None = None
        self._jobs: dict[str, tuple[JobStarted, float | None]] = {}  # by output: several clips at once

    def on_event(self, event: object) -> None:
        if isinstance(event, JobStarted):
            self.started, self.input_duration, self.last = event, self._duration(event.input), None
            self._jobs[_key(event.output)] = (event, self.input_duration)
        elif isinstance(event, JobFinished) and (self.started is not None or _key(event.output) in self._jobs):
            if event.output and Path(event.output).is_file():  # a sink or a partial range writes none
                self.last = self.check(event.output)
                self.report(*self.last.line())
            self._jobs.pop(_key(event.output), None)
            self.started = None

    def check(self, output: str) -> OutputCheck:
        started, input_duration = self._jobs.get(_key(output), (self.started, self.input_duration))
        assert started is not None
        frames = duration = None
        try:
            info = self.probe(output)
            frames = getattr(info, "frame_count", None)
            duration = getattr(info, "stream_duration", None) or getattr(info, "duration", None)
        except Exception:  # an unreadable output is reported as such
            pass
        return OutputCheck(output, started.total_output_frames, frames, input_duration,
                           duration, started.output_fps)

    def _duration(self, path: str) -> float | None:
        try:
            info = self.probe(path)
        except Exception:
            return None
        return getattr(info, "stream_duration", None) or getattr(info, "duration", None)


def _key(output: str) -> str:
    return os.path.abspath(output) if output else ""
