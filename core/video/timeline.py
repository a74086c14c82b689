"""Presentation timestamps of decoded frames, and an account of everything odd about them.

:class:`Timeline` turns the timestamps a decoder hands out into strictly increasing ones:

* containers without presentation timestamps (AVI, bare elementary streams) are timed by
  the frame index times the frame duration from the stream's start; so is everything after
  a timestamp that goes backwards (never dropped as a "duplicate");
* a frame with the same timestamp as the one before is left out and counted (VFR files);
* a gap that the stream's own frame spacing does not allow (frames lost to damage) is
  counted with its times, and the frame after it says how many frames are missing.

:class:`DamageReport` keeps the counts and turns them into one warning sentence each.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction

GAP_FACTOR = 1.5  # a gap over 1.5x the usual spacing has lost at least one frame
REGULAR_SPREAD = 0.1  # recent spacings within 10% of each other: a constant-rate stream
WINDOW = 16  # recent spacings that define the usual one
MIN_SEEN = 2  # spacings seen before a gap can be judged
LISTED = 3  # times named in one warning before "and N more"


@dataclass
class Gap:
    """Frames missing between two decoded frames."""

    before: float  # seconds of the last frame before the gap
    after: float  # seconds of the first frame after it
    missing: int


@dataclass
class DamageReport:
    """What the reader noticed while decoding one stream."""

    name: str
    gaps: list[Gap] = field(default_factory=list)
    skipped: list[float | None] = field(default_factory=list)  # seconds of packets that failed to decode
    duplicates: list[float] = field(default_factory=list)  # seconds of frames left out
    backwards: float | None = None  # seconds where a timestamp went backwards (index timing after it)
    short: tuple[int, int] | None = None  # (frames decoded, frames the header promised)

    @property
    def damaged(self) -> bool:
        """Frames were lost: gaps or packets that did not decode."""
        return bool(self.gaps or self.skipped)

    def warnings(self) -> list[str]:
        """One sentence (no final full stop) for each kind of trouble seen."""
        out = []
        if self.gaps:
            missing = sum(g.missing for g in self.gaps)
            places = _listed([f"{g.before:.3f}-{g.after:.3f} s ({g.missing})" for g in self.gaps])
            out.append(
                f"{missing} frames of {self.name} are missing in {len(self.gaps)} gap(s) at {places}; "
                "the frame before each gap is held, nothing is interpolated across it"
            )
        if self.skipped:
            places = _listed(["?" if t is None else f"{t:.3f} s" for t in self.skipped])
            out.append(f"{len(self.skipped)} damaged packet(s) of {self.name} did not decode and were skipped (at {places})")
        if self.duplicates:
            places = _listed([f"{t:.3f} s" for t in self.duplicates])
            out.append(
                f"{len(self.duplicates)} frame(s) of {self.name} repeat the timestamp of the frame before "
                f"and were left out (at {places})"
            )
        if self.backwards is not None:
            out.append(
                f"the timestamps of {self.name} go backwards at {self.backwards:.3f} s; "
                "from there frames are timed by their index at the nominal frame rate"
            )
        if self.short is not None:
            got, promised = self.short
            out.append(
                f"{self.name} holds {got} frames where its header says {promised}; every frame decoded "
                "without error, so the stream is taken as complete"
            )
        return out

    def first_problem(self) -> str:
        """The first damage as a phrase, for --strict's failure."""
        if self.gaps:
            g = self.gaps[0]
            return f"{g.missing} frame(s) missing between {g.before:.3f} s and {g.after:.3f} s"
        if self.skipped:
            t = self.skipped[0]
            return "a packet that does not decode" + ("" if t is None else f" at {t:.3f} s")
        if self.short is not None:
            return f"the stream ends after {self.short[0]} of the {self.short[1]} frames its header promises"
        return "damaged data"


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:LISTED])
    return shown if len(items) <= LISTED else f"{shown} and {len(items) - LISTED} more"


@dataclass
class Placed:
    """Where a decoded frame goes: its pts and how many frames are missing just before it."""

    pts: int
    missing: int = 0


class Timeline:
    """Assigns strictly increasing pts to decoded frames (see the module docstring).

    ``index_timing`` times every frame by its place in presentation order (AVI, raw streams):
    the ``slot`` it is given (AVI: the decode timestamp of the n-th stored picture, which
    counts the empty chunks of held frames), else ``start + index x nominal``.
    ``error_pending`` (set by the reader after a packet failed to decode) makes the next
    gap count as damage even in variable-rate input.
    """

    def __init__(self, time_base: Fraction, fps: Fraction, report: DamageReport, *,
                 index_timing: bool = False, start: int = 0) -> None:
        self.time_base = Fraction(time_base)
        self.nominal = max(1, round(1 / (Fraction(fps) * self.time_base)))
        self.report = report
        self.index_timing = index_timing
        self.start = start
        self.count = 0
        self.last: int | None = None
        self.last_duration: int | None = None
        self.error_pending = False
        # spacings seen so far; the nominal rate is not trusted for gaps (a field rate, an
        # average over pauses), so the first frames only teach the usual spacing
        self.recent: deque[int] = deque(maxlen=WINDOW)

    def seconds(self, pts: int) -> float:
        return float(pts * self.time_base)

    def place(self, pts: int | None, duration: int | None, slot: int | None = None) -> Placed | None:
        """The frame's place, or None when it repeats the previous timestamp (left out)."""
        if self.index_timing:
            at = slot if slot is not None else self.start + self.count * self.nominal
            if self.last is not None and at <= self.last:
                at = self.last + self.nominal
            return self._accept(at, duration, 0)
        if pts is None:
            pts = self.start if self.last is None else self.last + (self.last_duration or self.nominal)
        if self.last is None:
            return self._accept(pts, duration, 0)
        if pts == self.last:
            self.report.duplicates.append(self.seconds(pts))
            return None
        if pts < self.last:  # timestamps out of order: time the rest by index
            self.report.backwards = self.seconds(self.last)
            self.index_timing = True
            self.start = self.last + self.nominal - self.count * self.nominal
            return self._accept(self.start + self.count * self.nominal, duration, 0)
        delta = pts - self.last
        missing = 0
        usual = statistics.median(self.recent) if self.recent else self.nominal
        regular = len(self.recent) >= MIN_SEEN and max(self.recent) <= (1 + REGULAR_SPREAD) * min(self.recent)
        if delta > GAP_FACTOR * usual and (regular or (self.error_pending and self.recent)):
            missing = max(1, round(delta / usual) - 1)
            self.report.gaps.append(Gap(self.seconds(self.last), self.seconds(pts), missing))
        else:
            self.recent.append(delta)
        return self._accept(pts, duration, missing)

    def _accept(self, pts: int, duration: int | None, missing: int) -> Placed:
        self.last, self.last_duration = pts, duration
        self.count += 1
        self.error_pending = False
        return Placed(pts, missing)
