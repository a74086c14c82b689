"""One console session: the queue of clips and the watchdog (session/engine.py) on one
worker thread, and the log file.

Plain Python without textual, so the same object keeps running when the terminal goes
away (SIGHUP) and the screen is gone: it writes every line to the log file and calls its
listeners (the app) only while they are subscribed.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from core.events import JobFinished, LogRecord, ModelChosen
from core.options import JobOptions
from monitor.events import UploadProgress
from session.engine import Session
from session.lines import describe
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
    table: str | None = None  # the summary table of a queue of several clips
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
        clips: list[tuple[str, str]] | None = None,
        keep_running_on_failure: bool = False,
        skip_complete: bool = False,
        output_folder: str | Path | None = None,
        container: str | None = None,
        input_watcher: object | None = None,
        idle: float = 120.0,
        price_per_hour: float | None = None,
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
        self.started = wall()  # the session's start, for the cost so far (session/outlook.py)
        self.price_per_hour = price_per_hour
        self.upload_rate: float | None = None  # bytes/s of the newest upload, for the stop time
        from core.output_check import OutputChecker  # PyAV only once a session is made

        self.checker = OutputChecker(self.note)  # each finished output read back (core/output_check.py)
        self.job_kwargs = job_kwargs or {}
        self.cancel = threading.Event()
        self.pause = threading.Event()
        self.quit = threading.Event()
        self.done = threading.Event()
        self.detached = False
        self.result: JobFinished | None = None
        self.model_chosen: ModelChosen | None = None
        self.error: str | None = None
        self.error_code = 0
        self.table: str | None = None
        self._listeners: list[Listener] = []
        self._lasting: list[Listener] = []  # kept when the screen goes (the attach socket)
        self._listeners_lock = threading.Lock()
        self.engine = Session(
            options,
            clips if clips is not None else [(input_path, output_path)],
            on_event=self.emit,
            cancel=self.cancel,
            pause=self.pause,
            watchdog=link.watchdog if link is not None else None,
            skip_complete=skip_complete,
            keep_running_on_failure=keep_running_on_failure,
            output_folder=output_folder,
            container=container,
            input_watcher=input_watcher,
            idle=idle,
            run_job=run_job,
            job_kwargs=self.job_kwargs,
            sleep=sleep,
            watchdog_interval=watchdog_interval,
            on_job_event=self._check_output,  # every clip's, even while several run at once
        )
        self.engine.quit = self.quit

    # -- listeners and the log ---------------------------------------------------------------

    def subscribe(self, listener: Listener, *, lasting: bool = False) -> None:
        """Call ``listener`` with every event; a ``lasting`` one also after :meth:`detach`."""
        with self._listeners_lock:
            (self._lasting if lasting else self._listeners).append(listener)

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
                clip = self.engine.current
                source = str(clip.input) if clip is not None else self.input_path
                self.link.watchdog.job = {"input": source, **dataclasses.asdict(event)}
        if isinstance(event, UploadProgress) and event.rate:
            self.upload_rate = event.rate
        line = describe(event)
        if line is not None:
            when = event.time if isinstance(event, LogRecord) else None
            self.log_file.write(*line, when=when)
        with self._listeners_lock:
            listeners = self._listeners + self._lasting
        for listener in listeners:
            listener(event)

    def _check_output(self, clip: object, event: object) -> None:
        """Each finished output read back; called after the listeners had the event, so its
        line follows the job's last."""
        self.checker.on_event(event)

    def event_time(self, event: object) -> float:
        """When ``event`` happened, for its log line (a remote session's proxy says otherwise)."""
        return self.wall()

    def note(self, level: str, message: str) -> None:
        """A console-side log line (a key pressed, a state reached)."""
        self.emit(LogRecord(level, message, self.wall()))

    # -- the work --------------------------------------------------------------------------

    @property
    def discard_progress(self) -> bool:
        """An abort chose to drop the journal that ``keep=True`` would keep."""
        return self.engine.discard_progress

    @discard_progress.setter
    def discard_progress(self, value: bool) -> None:
        self.engine.discard_progress = value

    @property
    def job_running(self) -> bool:
        return not self.done.is_set() and self.engine.has_work

    def run(self) -> SessionSummary:
        """The queue, with the watchdog beside it until it has nothing left to do (worker thread)."""
        try:
            self.note("info", f"log file {self.log_path}")
            result = self.engine.run()
            self.result = self.engine.last_result
            failed = result.failed
            if failed:
                self.error, self.error_code = failed[0].message, failed[0].code or 1
                if len(result.clips) > 1:
                    self.error = f"{len(failed)} of {len(result.clips)} clips failed; first: {self.error}"
                    self.error_code = 1
            elif result.cancelled:
                self.error, self.error_code = "The session was cancelled.", 130
            self.table = result.table() if len(result.clips) > 1 else None
            return self.summary()
        finally:
            self.done.set()

    def _uploaded(self) -> str | None:
        watchdog = self.link.watchdog if self.link else None
        if watchdog is None:
            return None
        files = list(getattr(watchdog, "files", []))
        if len(files) > 1:  # a queue: every output, not only the last one
            verified = sum(1 for f in files if f.state.value == "verified")
            return f"{verified} of {len(files)} outputs verified in {watchdog.target.rstrip('/')}/"
        if watchdog.file_id is None:
            return None
        return f"{watchdog.target.rstrip('/')}/{watchdog.remote_name}"

    def _output(self) -> str | None:
        """The output, or for a queue how many were written where (the table lists each)."""
        if self.table is None:
            return self.result.output if self.result else None
        clips = self.engine.snapshot()
        written = [c for c in clips if c.state.value in ("done", "uploading", "verified")]
        folders = {str(c.output.parent) for c in written}
        where = f" in {folders.pop()}/" if len(folders) == 1 else ""
        return f"{len(written)} of {len(clips)} clips written{where}"

    def close(self) -> None:
        """Close the log file; later lines are dropped."""
        self.log_file.close()

    def summary(self) -> SessionSummary:
        return SessionSummary(
            output=self._output(),
            error=self.error,
            log_path=str(self.log_path),
            sentinel=self.link.watchdog.sentinel if self.link else None,
            uploaded=self._uploaded(),
            watchdog_state=self.link.watchdog.state.value if self.link else None,
            detached=self.detached,
            table=self.table,
            model=self.model_chosen.line if self.model_chosen else None,
        )
