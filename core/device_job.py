"""One job shared out over several devices: ranges of pairs, work stealing, one journal, one join.

The job's pairs are cut at segment boundaries into a few ranges per device (``plan_ranges``).
One worker per device (a thread of this process; see BENCHMARKS.md for why not a spawned
process) takes the next range from the shared list when it has finished the one before, so a
slower device simply takes fewer. Each range is an ordinary range job
(``run_job(..., pairs=range(a, b), worker=n)``) with the worker's own warm model replica,
its own preflight and its own decoder (the replica keeps the clip's batch, CUDA graphs and
caches from one of its ranges to the next: ``WarmModel.hold``), writing closed segments into the job's one journal
(core/journal.py locks the manifest across writers). When every range is stored, the same
final join as for one device remuxes the segments into the output, so the output is the one
a single device makes, frame for frame and timestamp for timestamp.

Each worker converts and models only its own range, plus up to 64 pairs before it for the
scene-cut state (core/scene_warmup.py), and decodes from the nearest keyframe at or before the
first frame it needs, so decoding scales with the workers: a demux-only index of the input
(core/video/keyframe_index.py, built once per clip) gives each keyframe's frame number and the
timestamps the reader's timeline needs to start there as a whole run would. Inputs that are
not plainly seekable (AVI and raw streams, other containers, missing or repeated timestamps,
edit lists that drop frames, keyframes that are not random access points) are decoded from the
first frame by every worker, and the log says why. Before the join, every range that started at
a keyframe is checked against the frame its neighbour decoded at their boundary, and against
damage met before it (core/seek_check.py); one that fails is made again decoding from the
first frame, so a seek never changes the output. Once a worker has met damage, the ranges not
started yet decode from the first frame (each would be made again otherwise).

Events come back as the same typed events: one ``JobStarted``, ``PairDone`` with pairs done,
rate and ETA summed over the workers, log lines prefixed with the worker. Abort and pause
reach every worker. A worker whose device fails (a model or CUDA error, a stall) gives its
range back and is left out for the rest of the session, said in the log; the job fails only
when an error is the job's own (the input, the output, an encoder), when the same range
fails on a second device, or when no device is left. Then, or after an abort, the journal
keeps every finished segment, and the same command resumes.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import (
    DecodeError,
    EncodeError,
    FramedeckError,
    InputError,
    JobAborted,
    OptionError,
    OutputError,
)
from core.events import (
    EventCallback,
    JobFailed,
    JobFinished,
    JobResumed,
    JobStarted,
    LogRecord,
    ModelChosen,
    PairDone,
    Stage,
    StageChanged,
    WorkerRates,
    ignore_event,
)
from core.faults import ENV_VAR, FaultPlan
from core.journal import journal_folder
from core.options import JobOptions
from core.rate import RateEstimator
from core.seek_check import damage_recorded, verify_seeks
from core.video.keyframe_index import KeyframeIndex

STOP_GRACE = 10.0  # seconds each worker gets to stop after an interrupt of the job itself
RANGES_PER_WORKER = 3  # ranges in the shared list per device: enough to even out a slower one
JOB_ERRORS = (InputError, OutputError, DecodeError, EncodeError, OptionError)  # the job's, not the device's


def plan_ranges(total_pairs: int, segment_pairs: int, workers: int, per_worker: int = RANGES_PER_WORKER) -> list[range]:
    """Contiguous ranges of whole segments covering ``total_pairs``, about ``per_worker`` per
    worker (fewer when there are fewer segments); the last one runs to the input's end."""
    segments = max(1, -(-total_pairs // segment_pairs))
    count = max(1, min(segments, workers * per_worker))
    ranges, first = [], 0
    for k in range(count):
        last = (k + 1) * segments // count
        stop = last * segment_pairs if k < count - 1 else max(total_pairs, first * segment_pairs + 1)
        ranges.append(range(first * segment_pairs, stop))
        first = last
    return ranges


def _is_job_error(exc: FramedeckError) -> bool:
    return isinstance(exc, JOB_ERRORS) or (isinstance(exc, JobAborted) and "no frames" in str(exc))


@dataclass
class _Worker:
    number: int
    device: str
    pairs: int = 0  # pairs this worker finished in this job
    rate: float | None = None
    ranges: int = 0

    @property
    def label(self) -> str:
        return f"worker {self.number} ({self.device})"


class DevicePool:
    """The devices of a session, a warm model replica on each, and the ones left out.

    Called like :func:`core.job.run_job` (the session engine's ``run_job``): each call shares
    one clip out over the devices still in use. :meth:`close` unloads every replica.
    """

    def __init__(self, devices: Sequence[str], *, run_job: Callable[..., JobFinished] | None = None,
                 models: Callable[[int, str, JobOptions, EventCallback], Any] | None = None) -> None:
        if not devices:
            raise OptionError("--devices names no device.")
        self.devices = list(devices)
        self.excluded: dict[int, str] = {}  # worker -> why it was left out
        self._models: dict[int, Any] = {}
        self._make_model = models
        self._run_job = run_job
        self._lock = threading.Lock()

    def run_job(self) -> Callable[..., JobFinished]:
        if self._run_job is None:
            from core.job import run_job

            self._run_job = run_job
        return self._run_job

    def model(self, number: int, options: JobOptions, emit: EventCallback) -> Any:
        """Worker ``number``'s replica, made (and its weights chosen) on first use."""
        with self._lock:
            model = self._models.get(number)
            if model is None:
                device = self.devices[number]
                model = (self._make_model or _warm_model)(number, device, options, emit)
                self._models[number] = model
            return model

    def let_go(self, clip: Any) -> None:
        """``clip``'s job has ended: each replica drops the set-up it kept between its ranges."""
        with self._lock:
            models = list(self._models.values())
        for model in models:
            if hasattr(model, "let_go"):
                model.let_go(clip)

    def close(self) -> None:
        for model in self._models.values():
            close = getattr(model, "close", None)
            if close is not None:
                close()
        self._models.clear()

    def __call__(self, input_path: str | Path, output_path: str | Path, options: JobOptions | None = None,
                 on_event: EventCallback = ignore_event, cancel: threading.Event | None = None,
                 pause: threading.Event | None = None, *, interpolator: Any = None, keep: bool = False,
                 restart: bool = False, clock: Callable[[], float] = time.monotonic,
                 inject: str | None = None) -> JobFinished:
        """Run one job over the pool's devices. ``interpolator`` (a session's warm model,
        chosen for the first device) becomes the first device's replica; the others get their own."""
        if interpolator is not None and 0 not in self._models:
            self._models[0] = interpolator
        job = DeviceJob(self, Path(input_path), Path(output_path), options or JobOptions(), on_event,
                        cancel or threading.Event(), pause or threading.Event(), keep=keep, restart=restart,
                        clock=clock, inject=inject)
        return job.run()


def _warm_model(number: int, device: str, options: JobOptions, emit: EventCallback) -> Any:
    """A model for ``device`` as ``--model`` chooses it there, kept loaded across ranges and clips."""
    from core.device import resolve_device
    from core.interpolators.registry import create_interpolator
    from core.models.auto import choose_model, fetch_progress
    from session.warm_model import WarmModel

    def log(level: str, message: str) -> None:
        emit(LogRecord(level, f"worker {number} ({device}): {message}"))

    choice = choose_model(
        options.model, options.weights, resolve_device(device), offline=options.offline, device_asked=device,
        progress=fetch_progress(emit), log=log,
    )
    inner = create_interpolator(
        choice.model, choice.weights, precision=options.precision, scale=options.scale,
        cuda_graphs=options.cuda_graphs,
    )
    return WarmModel(inner, choice)


def run_job_on_devices(input_path: str | Path, output_path: str | Path, options: JobOptions | None,
                       devices: Sequence[str], on_event: EventCallback = ignore_event, **kwargs: Any) -> JobFinished:
    """:func:`core.job.run_job` for one clip over ``devices``; the replicas are unloaded after."""
    pool = DevicePool(devices)
    try:
        return pool(input_path, output_path, options, on_event, **kwargs)
    finally:
        pool.close()


class DeviceJob:
    """One clip over a pool's devices; see the module docstring."""

    def __init__(self, pool: DevicePool, input_path: Path, output_path: Path, options: JobOptions,
                 emit: EventCallback, cancel: threading.Event, pause: threading.Event, *, keep: bool,
                 restart: bool, clock: Callable[[], float], inject: str | None) -> None:
        import os

        self.pool = pool
        self.input = input_path
        self.output = output_path
        self.options = options
        self._emit = emit
        self.cancel = cancel
        self.pause = pause
        self.keep = keep
        self.restart = restart
        self.clock = clock
        self.inject = inject if inject is not None else os.environ.get(ENV_VAR)
        self.device_faults = FaultPlan.parse(self.inject)
        self.stop = threading.Event()  # every worker's cancel: the user's abort, or a failure
        self.finished = threading.Event()
        self.emit_lock = threading.Lock()
        self.cond = threading.Condition()
        self.todo: deque[range] = deque()
        self.busy = 0
        self.failed_ranges: set[tuple[int, int]] = set()
        self.failure: FramedeckError | None = None
        self.done = 0
        self.interpolated = 0
        self.seen_stages: set[Stage] = set()
        self.started_sent = False
        self.model_line = ""
        self.workers = [_Worker(n, d) for n, d in enumerate(pool.devices) if n not in pool.excluded]
        self.clip_key = (str(input_path), str(output_path))  # what the replicas hold between ranges

    def emit(self, event: Any) -> None:
        with self.emit_lock:
            self._emit(event)

    def log(self, level: str, message: str) -> None:
        self.emit(LogRecord(level, message))

    # -- the whole job -------------------------------------------------------------------------

    def run(self) -> JobFinished:
        try:
            return self._run()
        except FramedeckError as exc:
            aborted = isinstance(exc, JobAborted)
            self.emit(StageChanged(Stage.ABORTED if aborted else Stage.FAILED, str(exc)))
            self.emit(JobFailed(str(exc), aborted=aborted))
            raise
        finally:
            self.pool.let_go(self.clip_key)

    def _run(self) -> JobFinished:
        from core.job import encode_workers
        from core.job_journal import JobJournal
        from core.journal import journal_folder
        from core.video.probe import probe_video

        started = self.clock()
        self.options.validate()
        if not self.workers:
            raise FramedeckError("Every device was left out after failing; no device is left for this job.")
        self.emit(StageChanged(Stage.PROBING, str(self.input)))
        self.seen_stages.add(Stage.PROBING)
        info = probe_video(self.input)
        input_frames = info.frame_count or max(1, round((info.duration or 0) * float(info.fps)))
        self.total = max(0, input_frames - 1)
        self.expected = max(1, input_frames * (self.options.factor or 2))
        folder = journal_folder(self.output)
        if self.restart and folder.exists():
            self.log("info", f"--restart: discarding the journal {folder}")
            shutil.rmtree(folder, ignore_errors=True)
        journal = JobJournal(self.output, self.options, info, False, lambda *a: None, self.total,
                             encode_workers(self.options))
        self.segment_pairs = journal.segment_pairs
        ranges = plan_ranges(self.total, self.segment_pairs, len(self.workers))
        kept = journal.stored.get("segments", {}) if journal.stored else {}
        self.kept = min(self.total, sum(min(self.segment_pairs, self.total - int(k) * self.segment_pairs)
                                        for k in kept if int(k) * self.segment_pairs < self.total))
        names = ", ".join(w.device for w in self.workers)
        if len(ranges) == 1 or len(self.workers) == 1:
            self.log("info", f"{self.total} pairs in one range: the whole clip runs on {self.workers[0].device}")
            return self._whole(self.workers[0])
        size = max(len(r) for r in ranges[:-1])
        self.keyframes = KeyframeIndex.build(self.input)  # where each range's decoding may start
        self.log("info", f"sharing {self.total} pairs out over {len(self.workers)} devices ({names}) in "
                         f"{len(ranges)} ranges of up to {size} pairs; {self.keyframes.describe()}")
        self.rate = RateEstimator(max(1, self.total - self.kept), clock=self.clock)
        self.todo.extend(ranges)
        threads = [threading.Thread(target=self._work, args=(w,), name=f"framedeck-device-{w.number}", daemon=True)
                   for w in self.workers]
        watcher = threading.Thread(target=self._watch_cancel, name="framedeck-device-cancel", daemon=True)
        watcher.start()
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except BaseException:  # a second Ctrl-C: every worker stops, keeping its closed segments
            self.stop.set()
            for thread in threads:
                thread.join(STOP_GRACE)
            raise
        finally:
            self.finished.set()
        watcher.join()
        for worker in self.workers:
            self.log("info", f"{worker.label}: {worker.pairs} pairs in {worker.ranges} ranges")
        if self.failure is not None:
            if not isinstance(self.failure, (OutputError, OptionError)) and folder.exists():
                self.log("warning", f"the journal {folder.name} keeps every finished segment: run the same "
                                    "command to resume")
            raise self.failure
        if self.cancel.is_set():
            raise self._aborted(folder)
        # never join a range whose frame numbers a seek may have shifted
        verify_seeks(folder, ranges, self.segment_pairs, self._redo, self.log, self.input.name)
        return self._join(started)

    def _redo(self, pairs: range) -> None:
        self._range(next((w for w in self.workers if w.number not in self.pool.excluded), self.workers[0]), pairs)

    def _range(self, worker: _Worker, pairs: range, keyframes: KeyframeIndex | None = None) -> None:
        """One range on ``worker``'s device. Where it started at a keyframe and the input then
        failed to decode (or to count) as a whole run's would, it is decoded again from the
        first frame before that counts as the input's error."""
        options = dataclasses.replace(self.options, device=worker.device)
        model = self.pool.model(worker.number, options, self.emit)
        if hasattr(model, "hold"):  # the clip's CUDA graphs and batch outlive each range
            model.hold(self.clip_key)
        try:
            self.pool.run_job()(
                self.input, self.output, options, on_event=lambda e: self._event(worker, e), cancel=self.stop,
                pause=self.pause, interpolator=model, pairs=pairs, keep=True, worker=worker.number,
                faults=FaultPlan.parse(self.inject), keyframes=keyframes,
            )
        except DecodeError as exc:
            if keyframes is None or not keyframes.seekable or pairs.start == 0 or self.stop.is_set():
                raise
            self.log("warning", f"{worker.label}: pairs {pairs.start + 1}-{pairs.stop} from a keyframe: {exc} "
                                "Decoding them again from the first frame.")
            self._range(worker, pairs)

    def _whole(self, worker: _Worker) -> JobFinished:
        """One range: an ordinary job on one device (its events pass through unchanged)."""
        options = dataclasses.replace(self.options, device=worker.device)
        model = self.pool.model(worker.number, options, self.emit)
        return self.pool.run_job()(
            self.input, self.output, options, on_event=self._pass_whole, cancel=self.cancel, pause=self.pause,
            interpolator=model, keep=self.keep, restart=False, faults=FaultPlan.parse(self.inject),
        )

    def _pass_whole(self, event: Any) -> None:
        if isinstance(event, StageChanged) and event.stage in (Stage.PROBING, Stage.FAILED, Stage.ABORTED):
            return  # said already / said by run()
        if isinstance(event, JobFailed):
            return
        self.emit(event)

    def _watch_cancel(self) -> None:
        while not self.finished.wait(0.05):
            if self.cancel.is_set():
                self.stop.set()
                with self.cond:
                    self.cond.notify_all()
                return

    # -- the workers ----------------------------------------------------------------------------

    def _take(self) -> range | None:
        """The next range, or None when nothing is left (waits while a busy worker may give one back)."""
        with self.cond:
            while True:
                if self.stop.is_set():
                    return None
                if self.todo:
                    self.busy += 1
                    return self.todo.popleft()
                if self.busy == 0:
                    return None
                self.cond.wait(0.2)

    def _work(self, worker: _Worker) -> None:
        while (pairs := self._take()) is not None:
            try:
                self._range(worker, pairs, self.keyframes)
                worker.ranges += 1
                if self.keyframes.seekable and damage_recorded(journal_folder(self.output)):
                    self.keyframes = KeyframeIndex(reason="the input is damaged")
                    self.log("info", "the input is damaged: the ranges not started yet decode from the first frame")
            except FramedeckError as exc:
                if isinstance(exc, JobAborted) and self.stop.is_set():
                    self._release()
                    return  # an abort, or another worker's failure: closed segments are kept
                if pairs.start > 0 and isinstance(exc, JobAborted) and "produced no frames" in str(exc):
                    self.log("info", f"{worker.label}: the input ends before pair {pairs.start + 1} "
                                     "(its header promised more frames)")
                    self._release()
                    continue
                if not self._failed(worker, pairs, exc):
                    self._release()
                    return
            except Exception as exc:  # a bug must not hang the other workers
                self._failed(worker, pairs, FramedeckError(f"Unexpected failure: {type(exc).__name__}: {exc}"))
                self._release()
                return
            self._release()

    def _release(self) -> None:
        with self.cond:
            self.busy -= 1
            self.cond.notify_all()

    def _failed(self, worker: _Worker, pairs: range, exc: FramedeckError) -> bool:
        """Give a failed range back to the others (True: this worker goes on, which it never
        does after a device failure) or stop the job with ``exc``."""
        key = (pairs.start, pairs.stop)
        with self.cond:
            others = [w for w in self.workers if w is not worker and w.number not in self.pool.excluded]
            if _is_job_error(exc) or key in self.failed_ranges or not others:
                if self.failure is None:
                    self.failure = exc
                self.stop.set()
                self.cond.notify_all()
                return False
            self.failed_ranges.add(key)
            self.pool.excluded[worker.number] = str(exc)
            self.todo.appendleft(pairs)
            self.cond.notify_all()
        last = min(pairs.stop, self.total)
        reason = str(exc).removeprefix("Unexpected failure: ")  # a CUDA error outside the forward
        self.log("warning", f"{worker.label} failed and is left out for the rest of the session: {reason} "
                            f"Its pairs {pairs.start + 1}-{last} go to the other devices.")
        return False

    def _event(self, worker: _Worker, event: Any) -> None:
        """A worker's event, as the whole job's: progress summed, job-level events once."""
        if isinstance(event, PairDone):
            self.device_faults.on_worker_pair(worker.number, event.index)
            with self.cond:
                worker.pairs += 1
                worker.rate = event.pairs_per_second
                self.done += 1
                self.rate.update(self.done)
                done = min(self.total, self.kept + self.done)
                combined = PairDone(
                    index=done - 1, total=self.total, seconds=event.seconds,
                    frames_written=done * self.expected // max(1, self.total), interpolated=event.interpolated,
                    pairs_per_second=self.rate.rate, eta_seconds=self.rate.eta, elapsed=self.rate.elapsed,
                )
                rates = WorkerRates(tuple((w.device, w.pairs, w.rate) for w in self.workers))
            self.emit(combined)
            self.emit(rates)
        elif isinstance(event, JobFinished):
            with self.cond:
                self.interpolated += event.interpolated_frames
        elif isinstance(event, (JobFailed, JobResumed)):
            return
        elif isinstance(event, StageChanged):
            if event.stage in (Stage.FINALIZING, Stage.DONE, Stage.FAILED, Stage.ABORTED):
                return
            with self.cond:
                if event.stage in self.seen_stages:
                    return
                self.seen_stages.add(event.stage)
            self.emit(event)
        elif isinstance(event, JobStarted):
            with self.cond:
                first, self.started_sent = not self.started_sent, True
            if first:
                devices = ", ".join(w.device for w in self.workers)
                self.emit(dataclasses.replace(event, device=devices, total_pairs=self.total))
        elif isinstance(event, ModelChosen):
            with self.cond:
                first, self.model_line = not self.model_line, self.model_line or event.line
            if first:
                self.emit(event)
        elif isinstance(event, LogRecord):
            self.emit(dataclasses.replace(event, message=f"{worker.label}: {event.message}"))
        else:
            self.emit(event)

    # -- the end --------------------------------------------------------------------------------

    def _aborted(self, folder: Path) -> JobAborted:
        from core.journal import read_manifest

        manifest = read_manifest(folder) if folder.exists() else None
        if not self.keep or manifest is None:
            shutil.rmtree(folder, ignore_errors=True)
            return JobAborted("The job was aborted; nothing was written to the output.")
        size = self.segment_pairs  # every stored segment counts, not only those before the first gap
        kept = sum(max(0, min(size, self.total - int(k) * size)) for k in manifest.get("segments", {}))
        percent = 100 * min(kept, self.total) // self.total if self.total else 0
        return JobAborted(f"interrupted at {percent}%: run the same command to resume")

    def _join(self, started: float) -> JobFinished:
        """The same final join as one device's (an ordinary run that finds every segment stored)."""
        options = dataclasses.replace(self.options, device=self.workers[0].device)
        result: list[JobFinished] = []

        def on_event(event: Any) -> None:
            if isinstance(event, JobFinished):
                result.append(event)
            elif not (isinstance(event, StageChanged) and event.stage in (Stage.PROBING, Stage.DONE)):
                self.emit(event)

        joined = self.pool.run_job()(
            self.input, self.output, options, on_event=on_event, cancel=self.cancel, pause=self.pause,
            interpolator=self.pool.model(self.workers[0].number, options, self.emit), keep=self.keep,
            faults=FaultPlan.parse(self.inject),
        )
        finished = dataclasses.replace(
            joined, seconds=self.clock() - started, interpolated_frames=joined.interpolated_frames + self.interpolated,
            model=joined.model or self.model_line,
        )
        self.emit(StageChanged(Stage.DONE, str(self.output)))
        self.emit(finished)
        return finished
