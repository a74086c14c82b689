"""When the work is over: the rule the watchdog checks before it may stop the machine.

The machine may stop only when every file seen is verified (and unchanged: a change puts
a file back to settling), none is settling, queued, uploading or verifying, at least one
file is verified, and the producer is done. The producer counts as done when any of:

* it said so (``producer_done()``: framedeck's own session when its queue is closed),
* ``expect`` files are verified,
* ``done_file`` exists,
* nothing new or changed was seen for ``idle`` seconds after the last verification.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.tracked_files import FileSet


@dataclass(frozen=True)
class Verdict:
    ready: bool
    reason: str  # why the work is over, or what the rule still waits for


@dataclass
class StopRule:
    """``expect``: files to verify; ``done_file``: a path whose existence ends the work;
    ``idle``: seconds of quiet after the last verification (None: never by idleness)."""

    expect: int | None = None
    done_file: Path | None = None
    idle: float | None = 120.0
    producer_done: bool = False

    def __post_init__(self) -> None:
        if self.expect is not None and self.expect < 1:
            raise ValueError("expect must be at least 1")
        if self.idle is not None and not (math.isfinite(self.idle) and self.idle >= 0):
            raise ValueError("idle must be a finite number of seconds, 0 or more")

    def evaluate(
        self,
        files: FileSet,
        now: float,
        quiet_since: float,
        exists: Callable[[Path], bool] = Path.exists,
    ) -> Verdict:
        """Whether the machine may stop now, given the files and the last activity time."""
        unfinished = files.unfinished
        if unfinished:
            names = ", ".join(f"{f.name} ({f.state.value})" for f in unfinished[:5])
            more = f" and {len(unfinished) - 5} more" if len(unfinished) > 5 else ""
            return Verdict(False, f"waiting for {names}{more}")
        verified = len(files.verified)
        if verified == 0:
            return Verdict(False, "waiting for a finished file")
        if self.producer_done:
            return Verdict(True, "the producer is done")
        if self.expect is not None and verified >= self.expect:
            return Verdict(True, f"{verified} of --expect {self.expect} files verified")
        if self.done_file is not None and exists(self.done_file):
            return Verdict(True, f"the done file {self.done_file} exists")
        if self.idle is not None and now - quiet_since >= self.idle:
            return Verdict(True, f"nothing new or changed for {self.idle:g} s after the last verification")
        return Verdict(False, self.waiting_for(verified, now, quiet_since))

    def waiting_for(self, verified: int, now: float, quiet_since: float) -> str:
        """What would end the work, in words."""
        parts = []
        if self.expect is not None:
            parts.append(f"{verified} of {self.expect} expected files verified")
        if self.done_file is not None:
            parts.append(f"waiting for {self.done_file}")
        if self.idle is not None:
            parts.append(f"idle {max(0.0, now - quiet_since):.0f} of {self.idle:g} s")
        if not parts:
            parts.append("waiting for the producer to finish")
        return "; ".join(parts)
