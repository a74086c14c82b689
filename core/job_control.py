"""Control of a running job: pause, cancel, the stall monitor and the stage timers.

The job's stages call :meth:`JobControl.check` between batches and
:meth:`JobControl.raise_if_stalled` while they wait; the stall monitor thread watches
:attr:`JobControl.last_progress` and, past ``--stall-timeout``, stops the job.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
from collections import deque
from collections.abc import Callable, Iterator

from core.errors import JobAborted, StallError
from core.events import EventCallback, LogRecord, Stalled
from core.faults import FaultPlan

STALL_FACTOR = 10.0  # a stall is no pair within STALL_FACTOR x the median pair time...
STALL_FLOOR = 20.0  # ...and never less than this many seconds
STAGES = ("decode", "upload", "model", "download", "encode", "wait")
ABORTED = "The job was aborted; nothing was written to the output."


class JobControl:
    """Pause and cancel events, the stall monitor, the current stage and its timers."""

    def __init__(
        self,
        emit: EventCallback,
        cancel: threading.Event,
        pause: threading.Event,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        faults: FaultPlan,
        stall_timeout: float | None,
    ) -> None:
        self.emit = emit
        self.cancel = cancel
        self.pause = pause
        self.clock = clock
        self.sleep = sleep
        self.faults = faults
        self.stall_timeout = stall_timeout
        self.aborted_message = ABORTED
        self.stage = "decode"  # the stage running now, named in stall reports
        self.timers = dict.fromkeys(STAGES, 0.0)  # seconds per stage, for StageTimes
        self.abort = threading.Event()  # set by cancel or by the stall monitor; ends injected hangs
        self.pair_times: deque[float] = deque(maxlen=50)  # recent pair seconds, for stalls
        self.last_progress = clock()
        self.stall_error: StallError | None = None
        self.stall_reported = False
        self.paused_seconds = 0.0  # time held by pause, left out of rate, ETA and elapsed

    def log(self, level: str, message: str) -> None:
        self.emit(LogRecord(level, message))

    def add_time(self, stage: str, seconds: float) -> None:
        self.timers[stage] += seconds

    # -- between batches --------------------------------------------------------------------

    def check(self) -> None:
        """Honour abort and pause; called between batches. Time spent paused is added to
        ``paused_seconds`` (the rate, the ETA and the elapsed time leave it out)."""
        paused_at = None
        try:
            while True:
                self.raise_if_stalled()
                if self.cancel.is_set():
                    raise JobAborted(self.aborted_message)
                if not self.pause.is_set():
                    return
                if paused_at is None:
                    paused_at = self.clock()
                self.sleep(0.05)
                self.last_progress = self.clock()  # a paused job is not stalled
        finally:
            if paused_at is not None:
                self.paused_seconds += self.clock() - paused_at

    def working_clock(self) -> float:
        """The job's clock without the time it spent paused."""
        return self.clock() - self.paused_seconds

    def raise_if_stalled(self) -> None:
        """Raise the stall error once the stall monitor has given up on the job."""
        if self.stall_error is not None:
            raise self.stall_error

    def pair_finished(self, seconds: float) -> None:
        """A pair was written: progress, and a sample for the stall threshold."""
        self.pair_times.append(seconds)
        self.last_progress = self.clock()

    # -- the stall monitor -------------------------------------------------------------------

    def stall_threshold(self) -> float:
        median = statistics.median(self.pair_times) if self.pair_times else 0.0
        return max(STALL_FACTOR * median, STALL_FLOOR)

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Run the stall monitor thread for the duration of the block."""
        stop = threading.Event()
        self.last_progress = self.clock()
        watcher = threading.Thread(target=self._watch, args=(stop,), name="framedeck-stall", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()
            if self.cancel.is_set():  # the watcher may have stopped before its next look
                self.abort.set()
                self.faults.release.set()

    def _watch(self, stop: threading.Event) -> None:
        timeout = self.stall_timeout
        while not stop.wait(0.2):
            if self.cancel.is_set():
                self.abort.set()  # releases an injected model hang too
                self.faults.release.set()
            stalled_for = self.clock() - self.last_progress
            limit = self.stall_threshold() if timeout is None else min(timeout, self.stall_threshold())
            if stalled_for < limit:
                self.stall_reported = False
                continue
            if not self.stall_reported:
                self.stall_reported = True
                self.emit(Stalled(self.stage, stalled_for))
                self.log("warning", f"the {self.stage} stage has made no progress for {stalled_for:.0f} s")
            if timeout is not None and stalled_for >= timeout:
                self.stall_error = StallError(
                    f"The {self.stage} stage made no progress for {stalled_for:.0f} s "
                    f"(--stall-timeout {timeout:g}); the job was stopped and nothing was written."
                )
                self.abort.set()
                self.faults.release.set()
                return
