"""A stand-in for ``core.job.run_job`` in console tests: real core events, pair by pair.

It honours ``cancel`` and ``pause`` the way the core does (between pairs) and, when
gated, lets one pair through per :meth:`ScriptedJob.release`, so a test decides exactly
how far the job has got. Tests of the real pipeline use ``core.job.run_job`` itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from core.errors import JobAborted
from core.events import (
    JobFailed,
    JobFinished,
    JobStarted,
    LogRecord,
    PairDone,
    Stage,
    StageChanged,
)
from core.options import JobOptions

FIXED_TIME = 1_700_000_000.0  # wall time stamped on scripted log records


def yield_cpu(seconds: float) -> None:
    """A sleep for a session on a fixed clock: the watchdog's pacing takes no test time, but
    the loop gives up the CPU and the GIL. A sleep that returned at once made it spin a core
    beside the app, and Pilot, which waits for an idle process after each key, waited its
    full second per key."""
    time.sleep(0.002)


class ScriptedJob:
    """Callable like ``run_job``; ``pairs`` pairs of 0.5 s each on a virtual clock."""

    def __init__(self, pairs: int = 8, gated: bool = True) -> None:
        self.pairs = pairs
        self.gated = gated
        self.gate = threading.Semaphore(0)
        self.held = threading.Event()  # set while pause holds the job
        self.started = threading.Event()
        self.emitted_pairs = 0

    def release(self, n: int = 1) -> None:
        for _ in range(n):
            self.gate.release()

    def __call__(
        self,
        input_path: str,
        output_path: str,
        options: JobOptions,
        on_event: Callable[[object], None],
        cancel: threading.Event,
        pause: threading.Event,
        **_: object,
    ) -> JobFinished:
        on_event(StageChanged(Stage.PROBING, str(input_path)))
        on_event(
            JobStarted(
                str(input_path), str(output_path), 64, 48, 25.0, 50.0, self.pairs, self.pairs * 2 + 2,
                "flow", "cpu", "fp32", 1, "libx264",
            )
        )
        on_event(StageChanged(Stage.INTERPOLATING, f"{self.pairs} pairs"))
        self.started.set()
        for i in range(self.pairs):
            self._between_pairs(on_event, cancel, pause)
            rate = 2.0 if i >= 2 else None
            eta = (self.pairs - i - 1) * 0.5 if i >= 3 else None
            on_event(PairDone(i, self.pairs, 0.5, 2 * i + 2, True, rate, eta, 0.5 * (i + 1)))
            on_event(LogRecord("warning" if i == 1 else "info", f"pair {i} done", FIXED_TIME + i))
            self.emitted_pairs = i + 1
        self._between_pairs(on_event, cancel, pause, need_gate=False)
        result = JobFinished(str(output_path), self.pairs + 1, 2 * self.pairs + 2, self.pairs, self.pairs, 4.0, 1.0)
        on_event(StageChanged(Stage.DONE, str(output_path)))
        on_event(result)
        return result

    def _between_pairs(
        self,
        on_event: Callable[[object], None],
        cancel: threading.Event,
        pause: threading.Event,
        need_gate: bool = True,
    ) -> None:
        passed = not (self.gated and need_gate)
        while True:
            if cancel.is_set():
                message = "The job was aborted; nothing was written to the output."
                on_event(StageChanged(Stage.ABORTED, message))
                on_event(JobFailed(message, aborted=True))
                raise JobAborted(message)
            if pause.is_set():
                self.held.set()
                pause_wait = threading.Event()
                pause_wait.wait(0.01)
                continue
            self.held.clear()
            if passed:
                return
            passed = self.gate.acquire(timeout=0.01)
