"""Output timing: which output instants fall in each input pair, and at which timestep.

Timestamps are integers in the input stream's time base, so the arithmetic is exact.
``--factor N`` keeps the input's own clock (output time base = input time base / N), which
also covers variable-frame-rate input; ``--target-fps F`` uses a time base of 1/F.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Slot:
    """One output frame: its pts in the output time base and its timestep in [0, 1)."""

    pts: int
    t: Fraction


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


class OutputSchedule:
    """Maps input pairs to output slots for a factor or a target frame rate."""

    def __init__(
        self,
        input_time_base: Fraction,
        input_rate: Fraction,
        factor: int | None = None,
        target_fps: Fraction | None = None,
    ) -> None:
        if (factor is None) == (target_fps is None):
            raise ValueError("give exactly one of factor and target_fps")
        self.input_time_base = Fraction(input_time_base)
        self.factor = factor
        self.target_fps = Fraction(target_fps) if target_fps is not None else None
        if factor is not None:
            self.time_base = self.input_time_base / factor
            self.rate = Fraction(input_rate) * factor
        else:
            assert self.target_fps is not None
            self.time_base = 1 / self.target_fps
            self.rate = self.target_fps

    def pair_slots(self, pts0: int, pts1: int) -> list[Slot]:
        """Output slots in [pts0, pts1); the first has t = 0 when an instant falls on pts0."""
        if pts1 <= pts0:
            raise ValueError(f"timestamps must increase: {pts0} -> {pts1}")
        span = pts1 - pts0
        if self.factor is not None:
            n = self.factor
            return [Slot(pts0 * n + k * span, Fraction(k, n)) for k in range(n)]
        assert self.target_fps is not None
        tau0 = pts0 * self.input_time_base
        tau1 = pts1 * self.input_time_base
        first, end = _ceil(tau0 * self.target_fps), _ceil(tau1 * self.target_fps)
        return [
            Slot(j, (j / self.target_fps - tau0) / (tau1 - tau0)) for j in range(first, end)
        ]

    def output_pts(self, input_pts: int) -> int:
        """The first output pts at or after the input instant ``input_pts``."""
        if self.factor is not None:
            return input_pts * self.factor
        assert self.target_fps is not None
        return _ceil(input_pts * self.input_time_base * self.target_fps)

    def tail_slots(self, pts_last: int, duration: int) -> list[Slot]:
        """Slots that hold the last input frame for its duration (all with t = 0)."""
        duration = max(1, duration)
        return [Slot(s.pts, Fraction(0)) for s in self.pair_slots(pts_last, pts_last + duration)]

    def expected_frames(self, input_frames: int, duration_s: float) -> int:
        """The output frame count for a constant-rate input (an estimate for progress)."""
        if self.factor is not None:
            return input_frames * self.factor
        assert self.target_fps is not None
        return math.ceil(Fraction(duration_s).limit_denominator(10**6) * self.target_fps)
