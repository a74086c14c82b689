"""One console session: the job, then the watchdog, on one worker thread, and the log file.

Plain Python without textual, so the same object keeps running when the terminal goes
away (SIGHUP) and the screen is gone: it writes every line to the log file and calls its
listeners (the app) only while they are subscribed.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from core.errors import FramedeckError
from core.events import (
    JobFailed,
    JobFinished,
    JobStarted,
    LogRecord,
    ModelChosen,
    ModelFetch,
    OomBackoff,
    Stage,
    StageChanged,
    Stalled,
)
from core.options import JobOptions
from monitor.events import StopOutcome, WatchStateChanged
from tui.watchdog_link import WatchdogLink

Listener = Callable[[object], None]


@dataclass(frozen=True)
class SessionSummary:
    """What the session left behind, for the exit message."""

    output: str | None
    error: str | None
    log_path: str
    sentinel: str | None = None
    uploaded: str | None = None
    watchdog_state: str | None = None
    detached: bool = False
    model: str | None = None  # ModelChosen.line: what ran and why


class LogFile:
    """Appends timestamped lines to a file; safe to call from any thread."""

    def __init__(self, path: Path, wall: Callable[[], float] = time.time) -> None:
        self.path = path
        self.wall = wall
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = path.open("a", encoding="utf-8")

    def write(self, level: str, message: str, when: float | None = None) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.wall() if when is None else when))
        with self._lock:
            if self._file is not None:
                self._file.write(f"{stamp} {level:<7} {message}\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def describe(event: object) -> tuple[str, str] | None:
    """The (level, line) a core event leaves in the log file, or None for progress noise."""
    if isinstance(event, LogRecord):
        return event.level, event.message
    if isinstance(event, StageChanged):
        level = "error" if event.stage is Stage.FAILED else "info"
        detail = f": {event.detail}" if event.detail else ""
        return level, f"stage {event.stage.value}{detail}"
    if isinstance(event, (ModelChosen, ModelFetch)):
        return "info", event.line
    if isinstance(event, JobStarted):
        return "info", (
            f"job {event.input} -> {event.output}: {event.width}x{event.height}, "
            f"{event.input_fps:.3f} -> {event.output_fps:.3f} fps, {event.total_pairs} pairs, "
            f"model {event.model} on {event.device} ({event.precision}), batch {event.batch}, "
            f"codec {event.codec}"
        )
    if isinstance(event, OomBackoff):
        return "warning", f"out of memory: batch {event.old_batch} -> {event.new_batch}"
    if isinstance(event, Stalled):
        return "warning", f"{event.stage} stalled for {event.seconds:.0f} s"
    if isinstance(event, JobFinished):
        return "info", (
            f"wrote {event.output}: {event.output_frames} frames from {event.input_frames} "
            f"in {event.seconds:.1f} s"
        )
    if isinstance(event, JobFailed):
        return ("warning" if event.aborted else "error"), event.message
    if isinstance(event, WatchStateChanged):
        detail = f": {event.detail}" if event.detail else ""
        return ("error" if event.new.value == "failed" else "info"), f"watchdog {event.new.value}{detail}"
    if isinstance(event, StopOutcome):
        return ("info" if event.ok else "error"), f"stop outcome: {event.message}"
    return None


class ConsoleSession:
    """Runs ``run_job`` and then drives the watchdog; controlled through its Events.

    ``run`` is called on a worker thread. ``cancel`` aborts the job between batches,
    ``pause`` holds it, ``quit`` stops driving the watchdog. ``run_job`` is injectable
    (the real :func:`core.job.run_job` by default) and gets ``job_kwargs`` (clock, faults,
    interpolator...); ``sleep`` paces the watchdog driver, ``wall`` stamps console log lines.
    """

    def __init__(
        self,
        input_path: str,
        output_path: str,
        options: JobOptions,
        *,
        log_path: Path,
        link: WatchdogLink | None = None,
        run_job: Callable[..., JobFinished] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
        job_kwargs: dict[str, object] | None = None,
        watchdog_interval: float = 0.5,
    ) -> None:
        self.input_path = input_path
        self.output_path = output_path
        self.options = options
        self.log_path = log_path
        self.log_file = LogFile(log_path, wall)
        self.link = link
        if link is not None:
            link.watchdog.on_event = self.emit
        self.watchdog_interval = watchdog_interval
        self._run_job = run_job
        self.sleep = sleep
        self.wall = wall
        self.job_kwargs = job_kwargs or {}
        self.discard_progress = False  # an abort chose to drop the journal kept by keep=True
        self.cancel = threading.Event()
        self.pause = threading.Event()
        self.quit = threading.Event()
        self.done = threading.Event()
        self.detached = False
        self.result: JobFinished | None = None
        self.model_chosen: ModelChosen | None = None
        self.error: str | None = None
        self.error_code = 0
        self._listeners: list[Listener] = []
        self._listeners_lock = threading.Lock()

    # -- listeners and the log ---------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        with self._listeners_lock:
            self._listeners.append(listener)

    def detach(self) -> None:
        """The screen is gone: stop calling listeners, keep running and logging."""
        with self._listeners_lock:
            self._listeners.clear()
        self.detached = True
        self.note("warning", "the terminal went away; the job and the watchdog continue headless")

    def emit(self, event: object) -> None:
        """Log ``event`` and pass it to the listeners (called from any thread)."""
        if isinstance(event, ModelChosen):  # said once: in the summary and the sentinel too
            self.model_chosen = event
            if self.link is not None:
                self.link.watchdog.job = {"input": self.input_path, **dataclasses.asdict(event)}
        line = describe(event)
        if line is not None:
            when = event.time if isinstance(event, LogRecord) else None
            self.log_file.write(*line, when=when)
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)

    def note(self, level: str, message: str) -> None:
        """A console-side log line (a key pressed, a state reached)."""
        self.emit(LogRecord(level, message, self.wall()))

    # -- the work --------------------------------------------------------------------------

    @property
    def job_running(self) -> bool:
        return self.result is None and self.error is None and not self.done.is_set()

    def run(self) -> SessionSummary:
        """The job, then the watchdog until it has nothing left to do (worker thread)."""
        try:
            self.note("info", f"log file {self.log_path}")
            if self.link is not None:
                self.link.watchdog.step()  # idle -> waiting for the output
            try:
                self.result = self._job()(
                    self.input_path,
                    self.output_path,
                    self.options,
                    on_event=self.emit,
                    cancel=self.cancel,
                    pause=self.pause,
                    **self.job_kwargs,
                )
            except FramedeckError as exc:
                self.error, self.error_code = str(exc), exc.exit_code
                if self.discard_progress:
                    self._discard_journal()
            except Exception as exc:  # a bug must still end the session cleanly
                self.error, self.error_code = f"Unexpected failure: {type(exc).__name__}: {exc}", 1
                self.note("error", self.error)
            if self.link is not None:
                self.drive_watchdog()
            return self.summary()
        finally:
            self.done.set()

    def _discard_journal(self) -> None:
        from core.journal import journal_folder

        folder = journal_folder(Path(self.output_path))
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
            self.error = "The job was aborted and its progress discarded; nothing was written to the output."
            self.note("warning", f"progress discarded: removed {folder.name}")

    def drive_watchdog(self) -> None:
        """Hand over the renamed output, say no more will come, and step the watchdog until it is
        finished or ``quit`` is set."""
        assert self.link is not None
        watchdog = self.link.watchdog
        if self.result is None:
            self.note("warning", "the job did not finish: nothing to upload; the machine keeps running")
            self.link.abandon()
            return
        watchdog.file_ready(self.result.output)
        watchdog.producer_done()  # one job, one result: the queue is closed
        while not self.quit.is_set() and not watchdog.finished:
            state = watchdog.state
            watchdog.step()
            if not watchdog.finished and watchdog.state is state:
                self.sleep(self.watchdog_interval)

    def _job(self) -> Callable[..., JobFinished]:
        if self._run_job is None:
            from core.job import run_job

            self._run_job = run_job
        return self._run_job

    def _uploaded(self) -> str | None:
        watchdog = self.link.watchdog if self.link else None
        if watchdog is None or watchdog.file_id is None:
            return None
        return f"{watchdog.target.rstrip('/')}/{watchdog.remote_name}"

    def close(self) -> None:
        """Close the log file; later lines are dropped."""
        self.log_file.close()

    def summary(self) -> SessionSummary:
        return SessionSummary(
            output=self.result.output if self.result else None,
            error=self.error,
            log_path=str(self.log_path),
            sentinel=self.link.watchdog.sentinel if self.link else None,
            uploaded=self._uploaded(),
            watchdog_state=self.link.watchdog.state.value if self.link else None,
            detached=self.detached,
            model=self.model_chosen.line if self.model_chosen else None,
        )
