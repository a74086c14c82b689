"""The session engine: clips in a queue through ``core.job.run_job`` with one warm model,
each result handed to the watchdog as it is renamed into place, the watchdog told when
the queue is closed. No UI here: the headless ``run``, ``tui --headless``, the console and
the library all drive this object and read its events.

Threads: :meth:`Session.run` works the queue on the calling thread; with a watchdog, a
second thread steps it, so clip i uploads while clip i+1 is interpolated. ``add``,
``move``, ``retry``, ``skip`` and ``close`` may be called from any thread. With a device
pool (``--devices``) as ``run_job``, several clips run at once, one thread each
(session/parallel.py); ``running`` lists them and ``current`` is the oldest.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import FramedeckError, JobAborted
from core.events import JobFinished, JobStarted, LogRecord, PairDone, Stage, StageChanged
from core.options import JobOptions
from monitor.states import WatchState
from session.clips import Clip, ClipChanged, ClipState, QueueClosed, SessionFinished
from session.lines import summary_table

if TYPE_CHECKING:
    from session.warm_model import WarmModel

Listener = Callable[[object], None]
_END = (ClipState.DONE, ClipState.VERIFIED, ClipState.SKIPPED, ClipState.FAILED)


def _ignore(event: object) -> None:
    """Default listener: drop the event."""


class _ClipCancel(threading.Event):
    """Set for this clip (skip) or for the whole session (cancel)."""

    def __init__(self, session: threading.Event) -> None:
        super().__init__()
        self.session = session

    def is_set(self) -> bool:
        return super().is_set() or self.session.is_set()


def output_complete(output: Path) -> bool:
    """True when ``output`` is a finished result: it exists, opens as a video with frames,
    and no job journal beside it says it is still being made."""
    from core.video.probe import probe_video

    if not output.is_file() or (output.parent / f".{output.name}.framedeck").exists():
        return False
    try:
        info = probe_video(output)
        return bool(info.frame_count or info.duration)
    except FramedeckError:
        return False


@dataclass(frozen=True)
class SessionResult:
    """Every clip as it ended; ``exit_code`` is non-zero when any clip failed."""

    clips: tuple[Clip, ...]
    cancelled: bool = False
    watchdog_state: str | None = None

    @property
    def failed(self) -> list[Clip]:
        return [c for c in self.clips if c.state is ClipState.FAILED]

    @property
    def exit_code(self) -> int:
        if self.cancelled:
            return 130
        return 1 if self.failed else 0

    def table(self) -> str:
        return summary_table(self.clips)


class Session:
    """A queue of clips; see the module docstring.

    ``run_job`` (default :func:`core.job.run_job`) gets ``job_kwargs`` on every call.
    ``interpolator`` is the model to keep warm (default: built once from ``options``).
    ``watchdog`` (a :class:`monitor.watchdog.Watchdog`) receives each output with
    ``file_ready`` and, once the queue is closed, ``producer_done``. ``open_queue`` keeps
    the queue open after the last clip until :meth:`close` (``--watch-input``).
    """

    def __init__(
        self,
        options: JobOptions | None = None,
        clips: Iterable[tuple[str | Path, str | Path]] = (),
        *,
        on_event: Listener = _ignore,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
        watchdog: Any = None,
        skip_complete: bool = True,
        keep_running_on_failure: bool = False,
        open_queue: bool = False,
        output_folder: str | Path | None = None,
        container: str | None = None,
        run_job: Callable[..., JobFinished] | None = None,
        interpolator: Any = None,
        job_kwargs: dict[str, object] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        watchdog_interval: float = 0.5,
        input_watcher: Any = None,
        idle: float = 120.0,
        watch_interval: float = 1.0,
        producer: bool = True,
        scan_interval: float | None = None,
        wait_for_change: Callable[[float], None] | None = None,
        ask: Callable[[str], str] | None = None,
        on_job_event: Callable[[Clip, object], None] | None = None,
    ) -> None:
        self.options = options or JobOptions()
        self.on_event = on_event
        self.cancel = cancel or threading.Event()
        self.pause = pause or threading.Event()
        self.quit = threading.Event()  # stop driving the watchdog
        self.done = threading.Event()
        self.watchdog = watchdog
        self.skip_complete = skip_complete
        self.keep_running_on_failure = keep_running_on_failure
        self.sleep = sleep
        self.watchdog_interval = watchdog_interval
        self.job_kwargs = dict(job_kwargs or {})
        self._run_job = run_job
        self._interpolator = interpolator or self.job_kwargs.pop("interpolator", None)
        self.model: WarmModel | None = None
        self.clips: list[Clip] = []
        self.running: list[Clip] = []  # the clips being made, oldest first
        self.last_result: JobFinished | None = None  # the last clip's run_job result
        self.on_job_event = on_job_event  # every clip's job events, as they come (the output checks)
        self._cancels: dict[int, _ClipCancel] = {}  # running clip id -> its cancel
        self._skips: set[int] = set()  # running clips the user skipped
        self._model_lock = threading.Lock()
        self.discard_progress = False  # an abort chose to drop the journal that keep=True keeps
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self.producer = producer  # False: no clips, the watchdog's own rule ends the work (framedeck watch)
        self.scan_interval = scan_interval
        self.wait_for_change = wait_for_change
        self.ask = ask
        self.watch_code: int | None = None  # run_watch's exit status once the watchdog is finished
        self.input_watcher = input_watcher  # session.input_watch.InputWatcher: keeps the queue open
        self.idle = idle
        self.watch_interval = watch_interval
        self._open = open_queue or input_watcher is not None
        self.output_folder = Path(output_folder) if output_folder is not None else None
        self.container = container
        self._uploads: dict[Path, Clip] = {}
        self._hold = False  # keep the machine up once every output is verified
        for source, target in clips:
            self.add(source, target)

    # -- the queue (any thread) ------------------------------------------------------------

    def add(self, source: str | Path, target: str | Path) -> Clip:
        clip = Clip(Path(source), Path(target))
        with self._lock:
            self.clips.append(clip)
        self._changed(clip)
        self._wake.set()
        return clip

    def add_input(self, source: str | Path) -> Clip:
        """Queue another file into the output folder; one sentence (InputError/OptionError)
        when it does not exist, has no folder to go to, or would clash with a queued clip."""
        from core.errors import InputError, OptionError
        from session.inputs import container_suffix

        path = Path(source).expanduser()
        if not path.is_file():
            raise InputError(f"The input {path} does not exist or is not a file.")
        if self.output_folder is None:
            raise OptionError("Clips can be added only when the outputs go into a folder (-o DIR/).")
        target = self.output_folder / f"{path.stem}{container_suffix(path, self.container, self.options.codec)}"
        with self._lock:
            for clip in self.clips:
                if clip.input.resolve() == path.resolve() and clip.state is not ClipState.FAILED:
                    raise OptionError(f"{path} is already in the queue.")
                if clip.output.name.lower() == target.name.lower():
                    raise OptionError(f"{clip.input} already writes {target}; rename {path.name} first.")
        return self.add(path, target)

    def close(self) -> None:
        """No more clips will be added (``--watch-input`` went idle)."""
        self._open = False
        self._wake.set()

    def move(self, clip_id: int, delta: int) -> bool:
        """Move a waiting clip ``delta`` places among the waiting clips; False if it cannot."""
        with self._lock:
            waiting = [c for c in self.clips if c.state is ClipState.WAITING]
            clip = next((c for c in waiting if c.id == clip_id), None)
            if clip is None:
                return False
            where = waiting.index(clip) + delta
            if not 0 <= where < len(waiting):
                return False
            other = waiting[where]
            i, j = self.clips.index(clip), self.clips.index(other)
            self.clips[i], self.clips[j] = other, clip
        self._changed(clip)
        self._changed(other)
        return True

    def retry(self, clip_id: int) -> bool:
        """Put a failed (or skipped) clip back in the queue, after the waiting ones."""
        with self._lock:
            clip = next((c for c in self.clips if c.id == clip_id), None)
            if clip is None or clip.state not in (ClipState.FAILED, ClipState.SKIPPED):
                return False
            self.clips.remove(clip)
            self.clips.append(clip)
            clip.state, clip.message, clip.code, clip.pairs_done = ClipState.WAITING, "", 0, 0
        self._changed(clip)
        self._wake.set()
        return True

    @property
    def current(self) -> Clip | None:
        """The oldest running clip (the only one without a device pool)."""
        with self._lock:
            return self.running[0] if self.running else None

    def skip(self, clip_id: int | None = None) -> bool:
        """Abort the running clip ``clip_id`` (default: the oldest), marked skipped; the
        queue goes on."""
        with self._lock:
            clip = next((c for c in self.running if clip_id is None or c.id == clip_id), None)
            cancel = self._cancels.get(clip.id) if clip is not None else None
            if clip is None or cancel is None:
                return False
            self._skips.add(clip.id)
            cancel.set()
        self.note("warning", f"skipping {clip.input.name} at the user's request")
        return True

    def position(self, clip: Clip) -> int:
        with self._lock:
            return self.clips.index(clip) if clip in self.clips else -1

    def snapshot(self) -> list[Clip]:
        with self._lock:
            return [c.snapshot() for c in self.clips]

    @property
    def has_work(self) -> bool:
        """A clip is running or waiting (the queue's own keys apply)."""
        with self._lock:
            return bool(self.running) or any(c.state is ClipState.WAITING for c in self.clips)

    # -- events ------------------------------------------------------------------------------

    def emit(self, event: object) -> None:
        self.on_event(event)

    def note(self, level: str, message: str) -> None:
        self.emit(LogRecord(level, message))

    def _changed(self, clip: Clip) -> None:
        self.emit(ClipChanged(clip.snapshot(), self.position(clip)))

    def _set(self, clip: Clip, state: ClipState, message: str = "") -> None:
        with self._lock:
            clip.state = state
            if message:
                clip.message = message
        self._changed(clip)

    # -- the work (run() on one thread) ---------------------------------------------------------

    def run(self) -> SessionResult:
        driver = None
        try:
            if not self.producer:  # only the watchdog (framedeck watch): its loop on this thread
                self._drive_watchdog()
                return SessionResult((), watchdog_state=self.watchdog.state.value)
            if self.watchdog is not None:
                self.watchdog.step()  # idle -> waiting for the outputs
                driver = threading.Thread(target=self._drive_watchdog, name="watchdog", daemon=True)
                driver.start()
            if self.input_watcher is not None:
                threading.Thread(target=self._watch_inputs, name="watch-input", daemon=True).start()
            from session.parallel import run_parallel, shares_devices

            if shares_devices(self._run_job):
                run_parallel(self)
            else:
                while not self.cancel.is_set():
                    clip = self._next_clip()
                    if clip is None:
                        break
                    self._process(clip)
            self._close_queue()
            if driver is not None:
                driver.join()
                self._sync_uploads()
            result = SessionResult(
                tuple(self.snapshot()),
                cancelled=self.cancel.is_set(),
                watchdog_state=self.watchdog.state.value if self.watchdog is not None else None,
            )
            self.emit(SessionFinished(result.clips))
            return result
        finally:
            if self.model is not None:
                self.model.close()
            self.done.set()

    def _measure(self) -> None:
        """Pairs and frame size of the clips not measured yet (for the queue's ETA)."""
        from core.video.probe import probe_video

        for clip in self.snapshot():
            if clip.state is not ClipState.WAITING or clip.pixels:
                continue
            try:
                info = probe_video(clip.input)
            except FramedeckError:
                continue  # the clip itself will say what is wrong with it
            frames = info.frame_count or round((info.duration or 0) * float(info.fps))
            with self._lock:
                real = next((c for c in self.clips if c.id == clip.id), None)
                if real is not None:
                    real.total_pairs, real.pixels = max(0, frames - 1), info.width * info.height

    def _watch_inputs(self) -> None:
        """Queue each finished video that appears; close the queue after ``idle`` seconds
        with nothing new and nothing left to do."""
        watcher = self.input_watcher
        busy_until = watcher.clock()
        while self._open and not self.cancel.is_set():
            for path in watcher.poll():
                try:
                    self.add_input(path)
                    self.note("info", f"new input {path}: queued")
                except FramedeckError as exc:
                    self.note("warning", f"new input {path} not queued: {exc}")
            if self.has_work:
                busy_until = watcher.clock()
            quiet = min(watcher.idle_for(), watcher.clock() - busy_until)
            if quiet >= self.idle:
                self.note("info", f"nothing new in {watcher.folder} for {self.idle:g} s: the queue is closed")
                self.close()
                return
            self.sleep(self.watch_interval)

    def _next_clip(self) -> Clip | None:
        self._measure()
        while True:
            with self._lock:
                clip = next((c for c in self.clips if c.state is ClipState.WAITING), None)
                if clip is not None or not self._open or self.cancel.is_set():
                    return clip
                self._wake.clear()
            self._wake.wait(0.2)

    def _process(self, clip: Clip, route: Callable[[Clip, object], None] | None = None, **extra: Any) -> None:
        """Make one clip; ``route`` passes its job events on (default: :meth:`emit`), ``extra``
        goes to ``run_job``."""
        if self.skip_complete and output_complete(clip.output):
            with self._lock:
                clip.size = clip.output.stat().st_size
            self._set(clip, ClipState.SKIPPED, "already complete")
            self.note("info", f"{clip.output} is already complete; skipping {clip.input.name}")
            self._hand_over(clip)
            return
        with self._lock:
            self.running.append(clip)
            self._cancels[clip.id] = cancel = _ClipCancel(self.cancel)
            self._skips.discard(clip.id)
            clip.pairs_done = 0
        self._set(clip, ClipState.RUNNING)

        def on_event(event: object) -> None:
            self._job_event(clip, event)
            if route is None:
                self.emit(event)
            else:
                route(clip, event)
            if self.on_job_event is not None:
                self.on_job_event(clip, event)

        try:
            result = self._job()(
                clip.input, clip.output, self.options, on_event=on_event,
                cancel=cancel, pause=self.pause, interpolator=self._model(), **self.job_kwargs, **extra,
            )
        except FramedeckError as exc:
            self._failed(clip, exc)
            return
        except Exception as exc:  # a bug in one clip must not end the queue
            self._failed(clip, FramedeckError(f"Unexpected failure: {type(exc).__name__}: {exc}"))
            return
        finally:
            with self._lock:
                self.running.remove(clip)
                self._cancels.pop(clip.id, None)
        with self._lock:
            self.last_result = result
            clip.frames, clip.seconds = result.output_frames, result.seconds
            clip.size = clip.output.stat().st_size if clip.output.exists() else None
            clip.pairs_done = clip.total_pairs or clip.pairs_done
        self._set(clip, ClipState.DONE)
        self._hand_over(clip)

    def _failed(self, clip: Clip, exc: FramedeckError) -> None:
        message = str(exc)
        if isinstance(exc, JobAborted) and self.discard_progress:
            message = self._discard_journal(clip) or message
        if isinstance(exc, JobAborted) and clip.id in self._skips and not self.cancel.is_set():
            self._set(clip, ClipState.SKIPPED, "skipped by the user")
        else:
            clip.code = exc.exit_code
            self._set(clip, ClipState.FAILED, message)

    def _discard_journal(self, clip: Clip) -> str | None:
        """Remove the journal an abort kept; the sentence that says so, or None if there was none."""
        from core.journal import journal_folder

        folder = journal_folder(clip.output)
        if not folder.exists():
            return None
        shutil.rmtree(folder, ignore_errors=True)
        self.note("warning", f"progress discarded: removed {folder.name}")
        return "The job was aborted and its progress discarded; nothing was written to the output."

    def _job_event(self, clip: Clip, event: object) -> None:
        with self._lock:
            if isinstance(event, JobStarted):
                clip.total_pairs, clip.pixels = event.total_pairs, event.width * event.height
            elif isinstance(event, StageChanged) and event.stage is Stage.FINALIZING:
                clip.state = ClipState.FINISHING
            elif isinstance(event, PairDone):
                clip.pairs_done = event.index + 1
                clip.total_pairs = max(clip.total_pairs, event.total)
                clip.frames = event.frames_written
                clip.rate, clip.eta, clip.seconds = event.pairs_per_second, event.eta_seconds, event.elapsed
            else:
                return
        self._changed(clip)

    def _model(self) -> WarmModel:
        with self._model_lock:  # several clips may start at once (session/parallel.py)
            return self._warm_model()

    def _warm_model(self) -> WarmModel:
        from session.warm_model import WarmModel  # torch is imported only when a clip runs

        if self.model is None:
            inner = self._interpolator
            choice = None
            if inner is None:
                from core.device import resolve_device
                from core.interpolators.registry import create_interpolator
                from core.models.auto import choose_model, fetch_progress

                o = self.options
                choice = choose_model(  # --model auto: chosen (and fetched) once for the session
                    o.model, o.weights, resolve_device(o.device), offline=o.offline, device_asked=o.device,
                    progress=fetch_progress(self.emit), log=self.note,
                )
                inner = create_interpolator(
                    choice.model, choice.weights, precision=o.precision, scale=o.scale, cuda_graphs=o.cuda_graphs
                )
            self.model = WarmModel(inner, choice)
        return self.model

    def _job(self) -> Callable[..., JobFinished]:
        if self._run_job is None:
            from core.job import run_job

            self._run_job = run_job
        return self._run_job

    # -- the watchdog --------------------------------------------------------------------------

    def _hand_over(self, clip: Clip) -> None:
        if self.watchdog is None:
            return
        with self._lock:
            self._uploads[clip.output.absolute()] = clip
            if clip.state is ClipState.DONE:
                clip.state = ClipState.UPLOADING
        self._changed(clip)
        self.watchdog.file_ready(clip.output.absolute())

    def _close_queue(self) -> None:
        clips = self.snapshot()
        failed = [c for c in clips if c.state is ClipState.FAILED]
        skipped = [c for c in clips if c.state is ClipState.SKIPPED]
        self.emit(QueueClosed(len(clips) - len(failed) - len(skipped), len(failed), len(skipped)))
        for clip in failed if len(clips) > 1 else ():
            self.note("warning", f"failed: {clip.input} ({clip.message})")
        if self.watchdog is None:
            return
        if self.cancel.is_set():
            self.note("warning", "the session was cancelled; the machine keeps running")
            self.watchdog.cancel()
        elif failed and self.keep_running_on_failure:
            self.note("warning", f"{len(failed)} clip(s) failed; --keep-running-on-failure keeps the machine up "
                                 "(the outputs are still uploaded and verified)")
            self._hold = True
        elif not self._uploads:
            self.note("warning", "the job did not finish: nothing to upload; the machine keeps running")
            self.watchdog.cancel()
        else:
            self.watchdog.producer_done(failed=tuple(str(c.input) for c in failed))

    def _drive_watchdog(self) -> None:
        """The one watchdog loop (monitor/watch_runner.py), until it is finished or ``quit``."""
        from monitor.watch_runner import run_watch

        self.watch_code = run_watch(
            self.watchdog,
            scan_interval=self.scan_interval or self.watchdog_interval,
            tick=self.watchdog_interval,
            sleep=self.sleep,
            wait_for_change=self.wait_for_change,
            ask=self.ask,
            stop=self.quit,
            after_step=self._after_step,
        )

    def _after_step(self) -> None:
        self._sync_uploads()
        if self._hold and self.watchdog.state is WatchState.VERIFIED:
            self.note("warning", "every output is verified; the machine keeps running for a person to look")
            self.watchdog.cancel()

    def _sync_uploads(self) -> None:
        """Mark the clips whose output the watchdog has verified."""
        for tracked in list(getattr(self.watchdog, "files", [])):
            clip = self._uploads.get(Path(tracked.path).absolute())
            if clip is not None and clip.state is ClipState.UPLOADING and tracked.state.value == "verified":
                self._set(clip, ClipState.VERIFIED)


def run_queue(
    inputs: Sequence[str | Path],
    output: str | Path,
    options: JobOptions | None = None,
    *,
    recursive: bool = False,
    container: str | None = None,
    **session_kwargs: Any,
) -> SessionResult:
    """Interpolate every input (files, folders, globs) into ``output`` with one warm model.

    ``output`` is a folder (or, for a single input, a file); see :mod:`session.inputs`.
    Keyword arguments go to :class:`Session` (``on_event``, ``watchdog``, ``cancel``...).
    """
    from session.inputs import expand_inputs, plan_outputs

    options = options or JobOptions()
    options.validate()
    planned = plan_outputs(expand_inputs(inputs, recursive), output, container, options.codec)
    return Session(options, planned, **session_kwargs).run()
