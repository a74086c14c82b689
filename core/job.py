"""``run_job``: one whole interpolation job, input file to output file, in this process.

This is the library entry point that the CLI, the console and user scripts share::

    import threading
    from core.job import run_job
    from core.options import JobOptions

    cancel = threading.Event()
    result = run_job("in.mp4", "out.mp4", JobOptions(factor=2), on_event=print, cancel=cancel)

It decodes in one thread, runs the model in the calling thread, encodes in another, and
reports typed events (core/events.py) to ``on_event``. Setting ``cancel`` aborts between
batches; while ``pause`` is set the job waits between batches. Any failure raises a
:class:`core.errors.FramedeckError` with one sentence, after a ``JobFailed`` event, and
leaves nothing at the output path.
"""

from __future__ import annotations

import gc
import os
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch

from core.device import resolve_device
from core.errors import FramedeckError, JobAborted, ModelError, StallError
from core.events import (
    BatchChanged,
    EventCallback,
    JobFailed,
    JobFinished,
    JobStarted,
    LogRecord,
    OomBackoff,
    PairDone,
    Stage,
    StageChanged,
    StageTimes,
    Stalled,
    ignore_event,
)
from core.faults import FaultPlan
from core.frame_path import FramePath, RgbFramePath, choose_frame_path
from core.interpolators.base import Interpolator
from core.interpolators.registry import create_interpolator
from core.memory import (
    clean_up,
    cuda_facts,
    degrade,
    empty_device_cache,
    gib,
    is_out_of_memory,
    preflight,
    release_cuda_memory,
    trim_host_memory,
)
from core.options import JobOptions
from core.rate import RateEstimator
from core.scenecut import PairKind, SceneCutDetector
from core.schedule import OutputSchedule
from core.transfer import PendingDownload, Transfers
from core.video.codecs import resolve_codec
from core.video.probe import VideoInfo, probe_video
from core.video.reader import DecodedFrame, FrameReader
from core.video.segments import (
    DEFAULT_SEGMENT_FRAMES,
    SEGMENTABLE,
    SegmentedVideoWriter,
    default_workers,
)
from core.video.writer import EncoderSettings, VideoWriter

STAGE_EVENT_INTERVAL = 1.0  # seconds between StageTimes events
STALL_FACTOR = 10.0  # a stall is no pair within STALL_FACTOR x the median pair time...
STALL_FLOOR = 20.0  # ...and never less than this many seconds
MAX_IN_FLIGHT = 2  # batches whose results may still be on their way from the GPU
RESULT_POLL = 0.0005  # seconds between looks at a GPU result being waited for


@dataclass
class _Batch:
    """One forward's results on their way to the host (see core/transfer.py)."""

    pending: PendingDownload
    pictures: list[np.ndarray | av.VideoFrame] | None = None


@dataclass
class _Slot:
    """An output frame waiting for its picture (a source frame or a model result)."""

    pts: int
    pair: int
    picture: np.ndarray | av.VideoFrame | None = None
    source: tuple[_Batch, int] | None = None  # the batch and row its picture will come from


@dataclass
class _Request:
    slot: _Slot
    frame0: DecodedFrame
    frame1: DecodedFrame
    t: float


class _Job:
    """The state of one running job; ``run_job`` is its only user."""

    def __init__(
        self,
        input_path: Path,
        output_path: Path,
        options: JobOptions,
        emit: EventCallback,
        cancel: threading.Event,
        pause: threading.Event,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        faults: FaultPlan,
        interpolator: Interpolator | None,
        writer_factory: Callable[..., VideoWriter] | None = None,
    ) -> None:
        self.writer_factory = writer_factory
        self.input_path = input_path
        self.output_path = output_path
        self.options = options
        self.emit = emit
        self.cancel = cancel
        self.pause = pause
        self.clock = clock
        self.sleep = sleep
        self.faults = faults
        self.model = interpolator
        self.stage = "decode"
        self.timers = dict.fromkeys(("decode", "upload", "model", "download", "encode", "wait"), 0.0)
        self.pending: deque[_Slot] = deque()
        self.requests: list[_Request] = []
        self.outstanding: dict[int, int] = {}
        self.pair_started: dict[int, float] = {}
        self.pair_interpolated: dict[int, bool] = {}
        self.pair_times: deque[float] = deque(maxlen=50)  # recent pair seconds, for stalls
        self.tensors: dict[int, torch.Tensor] = {}
        self.forwards = 0
        self.pairs_done = 0
        self.frames_queued = 0
        self.interpolated = 0
        self.last_progress = clock()
        self.stall_error: StallError | None = None
        self.stall_reported = False
        self.restore_threads: int | None = None
        self.frame_path: FramePath = RgbFramePath()
        self.transfers = Transfers(torch.device("cpu"))
        self.in_flight: list[_Batch] = []
        self._abort = threading.Event()  # set by cancel or by the stall monitor

    # -- small helpers -----------------------------------------------------------------------

    def log(self, level: str, message: str) -> None:
        self.emit(LogRecord(level, message))

    def check_control(self) -> None:
        """Honour abort and pause; called between batches."""
        while True:
            self.raise_if_stalled()
            if self.cancel.is_set():
                raise JobAborted("The job was aborted; nothing was written to the output.")
            if not self.pause.is_set():
                return
            self.sleep(0.05)
            self.last_progress = self.clock()  # a paused job is not stalled

    def raise_if_stalled(self) -> None:
        """Raise the stall error once the stall monitor has given up on the job."""
        if self.stall_error is not None:
            raise self.stall_error

    def tensor(self, frame: DecodedFrame) -> torch.Tensor:
        """(3, H, W) float in [0, 1] on the job's device, converted once per frame."""
        cached = self.tensors.get(frame.index)
        if cached is None:
            start = self.clock()
            cached = self.frame_path.to_tensor(frame, self.device)
            self.timers["upload"] += self.clock() - start
            self.tensors[frame.index] = cached
        return cached

    # -- the stall monitor -------------------------------------------------------------------

    def stall_threshold(self) -> float:
        median = statistics.median(self.pair_times) if self.pair_times else 0.0
        return max(STALL_FACTOR * median, STALL_FLOOR)

    def watch_stalls(self, stop: threading.Event) -> None:
        timeout = self.options.stall_timeout
        while not stop.wait(0.2):
            if self.cancel.is_set():
                self._abort.set()  # releases an injected model hang too
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
                self._abort.set()
                self.faults.release.set()
                return

    # -- model calls with out-of-memory back-off ----------------------------------------------

    def forward(self, requests: list[_Request]) -> list[tuple[_Batch, int]]:
        """Interpolate ``requests``; on out-of-memory, free, back off and redo the same pairs.

        Returns where each request's picture will come from: on CUDA the results are still
        being copied to the host when this returns (see :meth:`resolve`).
        """
        assert self.model is not None
        results: list[tuple[_Batch, int]] = []
        i = 0
        retried_at_one = False
        while i < len(requests):
            chunk = requests[i : i + self.batch]
            self.forwards += 1
            self.stage = "model"
            start = self.clock()
            try:
                self.faults.before_forward(self.forwards, self._abort)
                self.raise_if_stalled()
                img0 = torch.stack([self.tensor(r.frame0) for r in chunk])
                img1 = torch.stack([self.tensor(r.frame1) for r in chunk])
                t = self.transfers.timesteps([r.t for r in chunk])  # pinned: no host stall
                began = self.transfers.mark()
                with torch.inference_mode():
                    if getattr(self.model, "takes_frame_keys", False):  # frames known by index
                        keys = ([r.frame0.index for r in chunk], [r.frame1.index for r in chunk])
                        out = self.model.interpolate(img0, img1, t, keys=keys)  # type: ignore[call-arg]
                    else:
                        out = self.model.interpolate(img0, img1, t)
                    ended = self.transfers.mark()
                    modelled = self.clock()
                    on_device = self.frame_path.device_output(out)
            except FramedeckError:
                raise
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise ModelError(f"The model {self.options.model!r} failed: {exc}") from exc
                detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                del exc
                img0 = img1 = t = out = on_device = None  # let the failed batch go
                self.free_cached_memory()
                retried_at_one = self.back_off(detail, retried_at_one)
                continue
            if began is None:  # off CUDA the forward has finished here; on CUDA see resolve()
                self.timers["model"] += modelled - start
            self.timers["download"] += self.clock() - modelled
            batch = _Batch(self.transfers.download(on_device, (began, ended)))
            self.in_flight.append(batch)
            results.extend((batch, row) for row in range(len(chunk)))
            i += len(chunk)
            retried_at_one = False
        return results

    def resolve(self, batch: _Batch) -> None:
        """Wait for a batch's copy to the host and turn it into pictures for the writer.

        The wait polls, so a GPU that never finishes is a stall the monitor can report and
        ``--stall-timeout`` can end, not a thread blocked for good.
        """
        stage, self.stage = self.stage, "model"
        while not batch.pending.ready():  # the GPU is still on it: that time is the model's,
            self.raise_if_stalled()  # which its CUDA events measure, so no timer counts it here
            self.sleep(RESULT_POLL)
        self.stage = stage
        start = self.clock()
        arrays = batch.pending.wait()
        batch.pictures = self.frame_path.from_host(arrays)
        self.timers["download"] += self.clock() - start
        gpu_seconds = batch.pending.model_seconds()
        if gpu_seconds is not None:
            self.timers["model"] += gpu_seconds
        self.in_flight.remove(batch)

    def free_cached_memory(self) -> None:
        drop_graphs = getattr(self.model, "drop_graphs", None)
        if drop_graphs is not None:
            drop_graphs()
        gc.collect()
        empty_device_cache(self.device)

    def back_off(self, detail: str, retried_at_one: bool) -> bool:
        """Halve the batch; at batch 1 retry once, then lower the scale or tile.

        Returns whether the next try is a retry at batch 1.
        """
        assert self.model is not None
        old = self.batch
        if self.batch > 1:
            self.batch = max(1, self.batch // 2)
            action = f"batch {old} -> {self.batch}"
            self.emit(BatchChanged(self.batch, "out-of-memory back-off"))
            retry = False
        elif not retried_at_one:
            action = "retrying the same pair once after freeing memory"
            retry = True
        else:
            self.model = degrade(self.model)
            action = f"now running {self.model.name}"
            retry = False
        scale = float(getattr(self.model, "scale", None) or 1.0)
        self.emit(OomBackoff(old, self.batch, scale, f"{detail}; {action}"))
        self.log("warning", f"out of memory ({detail}): {action}; the same pairs are redone")
        return retry

    # -- scheduling ------------------------------------------------------------------------------

    def add_pair(self, index: int, frame0: DecodedFrame, frame1: DecodedFrame) -> None:
        kind = self.detector.compare(frame0.rgb, frame1.rgb)
        if kind is PairKind.CUT:
            self.log("info", f"scene cut between frames {frame0.index} and {frame1.index}")
        slots = self.schedule.pair_slots(frame0.pts, frame1.pts)
        self.pair_started[index] = self.clock()
        self.pair_interpolated[index] = False
        self.outstanding[index] = len(slots)
        for s in slots:
            slot = _Slot(s.pts, index)
            self.pending.append(slot)
            if s.t == 0 or kind is not PairKind.NORMAL:
                slot.picture = frame0.source
            else:
                self.requests.append(_Request(slot, frame0, frame1, float(s.t)))
                self.pair_interpolated[index] = True
        if not slots:
            self.finish_pair(index)

    def add_tail(self, frame: DecodedFrame, duration: int) -> None:
        for s in self.schedule.tail_slots(frame.pts, duration):
            self.pending.append(_Slot(s.pts, -1, frame.source))

    def run_requests(self) -> None:
        if not self.requests:
            return
        requests, self.requests = self.requests, []
        for request, source in zip(requests, self.forward(requests), strict=True):
            request.slot.source = source
        self.interpolated += len(requests)
        keep = requests[-1].frame1.index  # frame 0 of the next pair: convert it only once
        for key in [k for k in self.tensors if k != keep]:
            del self.tensors[key]

    def flush(self, writer: VideoWriter, final: bool = False) -> None:
        """Write every leading slot whose picture is ready, in output order.

        A batch still on its way from the GPU is waited for only when ``final``, or when more
        than :data:`MAX_IN_FLIGHT` batches are; otherwise the next flush takes it.
        """
        while self.pending:
            slot = self.pending[0]
            if slot.picture is None:
                if slot.source is None:
                    break  # not interpolated yet
                batch, row = slot.source
                if batch.pictures is None:
                    waiting = final or len(self.in_flight) > MAX_IN_FLIGHT
                    if not waiting and not batch.pending.ready():
                        break
                    self.resolve(batch)
                assert batch.pictures is not None
                slot.picture, slot.source = batch.pictures[row], None
            slot = self.pending.popleft()
            self.stage = "encode"
            start = self.clock()
            self.faults.on_encode(self.frames_queued)
            self.frames_queued += 1
            writer.write(slot.picture, slot.pts)
            self.timers["wait"] += self.clock() - start
            if slot.pair >= 0:
                self.outstanding[slot.pair] -= 1
                if self.outstanding[slot.pair] == 0:
                    self.finish_pair(slot.pair)

    def finish_pair(self, index: int) -> None:
        del self.outstanding[index]
        seconds = self.clock() - self.pair_started.pop(index)
        self.pair_times.append(seconds)
        self.pairs_done += 1
        self.last_progress = self.clock()
        self.rate.update(self.pairs_done)
        self.emit(
            PairDone(
                index=index,
                total=max(self.total_pairs, self.pairs_done),
                seconds=seconds,
                frames_written=self.writer.frames_written,
                interpolated=self.pair_interpolated.pop(index),
                pairs_per_second=self.rate.rate,
                eta_seconds=self.rate.eta,
                elapsed=self.rate.elapsed,
            )
        )
        now = self.clock()
        if now - self.last_stage_event >= STAGE_EVENT_INTERVAL:
            self.last_stage_event = now
            self.emit(StageTimes(self.stage_times()))

    def stage_times(self) -> dict[str, float]:
        times = dict(self.timers)
        times["decode"] = self.reader.decode_seconds
        times["encode"] = self.writer.encode_seconds
        return times

    # -- the whole job -------------------------------------------------------------------------

    def run(self) -> JobFinished:
        started = self.clock()
        self.emit(StageChanged(Stage.PROBING, str(self.input_path)))
        self.info = info = probe_video(self.input_path)
        self.device = resolve_device(self.options.device)
        self.detector = SceneCutDetector(self.options.scene_cut)
        self.schedule = OutputSchedule(
            info.time_base, info.fps, self.options.factor, self.options.target_fps
        )
        input_frames = info.frame_count or max(1, round((info.duration or 0) * float(info.fps)))
        self.total_pairs = max(0, input_frames - 1)
        self.expected_frames = expected = self.schedule.expected_frames(input_frames, info.duration or 0.0)
        self.log(
            "info",
            f"input {info.width}x{info.height} {info.codec} {float(info.fps):.3f} fps, "
            f"about {input_frames} frames, audio streams: {info.audio_streams}",
        )

        self.emit(StageChanged(Stage.LOADING_MODEL, self.options.model))
        if self.model is None:
            self.model = create_interpolator(
                self.options.model,
                self.options.weights,
                precision=self.options.precision,
                scale=self.options.scale,
                cuda_graphs=self.options.cuda_graphs,
            )
        if hasattr(self.model, "on_note"):
            self.model.on_note = lambda message: self.log("warning", message)
        self.model.load(self.device)
        if getattr(self.model, "graphed", None) is not None:
            self.log("info", "CUDA graphs on: each batch shape is captured on its second use")
        threads = getattr(self.model, "cpu_torch_threads", None)
        if self.device.type == "cpu" and threads and threads != torch.get_num_threads():
            self.restore_threads = torch.get_num_threads()
            torch.set_num_threads(threads)
        self.batch = self.choose_batch(info.height, info.width)
        precision = getattr(self.model, "precision_used", None) or "fp32"  # what the model runs
        settings = EncoderSettings(
            codec=self.options.codec,
            crf=self.options.crf,
            preset=self.options.preset,
            pix_fmt=self.options.pix_fmt,
        )
        self.rate = RateEstimator(self.total_pairs, clock=self.clock)
        self.last_stage_event = self.clock()
        stop_watch = threading.Event()
        watcher = threading.Thread(target=self.watch_stalls, args=(stop_watch,), daemon=True)
        writer = self.open_writer(info, settings)
        self.frame_path, why = choose_frame_path(
            self.options.colour, self.device, info,
            getattr(writer, "pix_fmt", None),  # a sink may take any picture
        )
        self.log("info", why)
        self.transfers = self.frame_path.transfers = Transfers(self.device)
        reader = FrameReader(
            self.input_path,
            info,
            fault=self.faults.on_decode,
            interrupt=self.raise_if_stalled,
            convert=self.frame_path.decode_picture,
        )
        with writer as self.writer, reader as self.reader:
            self.writer.interrupt = self.raise_if_stalled
            for note in getattr(self.writer, "notes", []):
                self.log("info", note)
            self.emit(
                JobStarted(
                    input=str(self.input_path),
                    output=str(self.output_path),
                    width=info.width,
                    height=info.height,
                    input_fps=float(info.fps),
                    output_fps=float(self.schedule.rate),
                    total_pairs=self.total_pairs,
                    total_output_frames=expected,
                    model=self.model.name,
                    device=str(self.device),
                    precision=precision,
                    batch=self.batch,
                    codec=self.writer.codec_name,
                )
            )
            self.emit(StageChanged(Stage.INTERPOLATING, f"{self.total_pairs} pairs"))
            self.last_progress = self.clock()
            watcher.start()
            try:
                previous = self.stream(self.reader)
            finally:
                stop_watch.set()
                watcher.join()
            self.emit(StageChanged(Stage.FINALIZING, str(self.output_path)))
            self.writer.finish(self.schedule.output_pts(self.end_pts))
        input_count = previous.index + 1
        self.emit(StageTimes(self.stage_times()))
        duration = float((self.end_pts - self.first_pts) * info.time_base)
        result = JobFinished(
            output=str(self.output_path),
            input_frames=input_count,
            output_frames=self.writer.frames_written,
            pairs=self.pairs_done,
            interpolated_frames=self.interpolated,
            seconds=self.clock() - started,
            duration=duration,
        )
        self.emit(StageChanged(Stage.DONE, str(self.output_path)))
        self.emit(result)
        return result

    def open_writer(self, info: VideoInfo, settings: EncoderSettings) -> VideoWriter:
        """One encoder, or several on consecutive segments when one CPU encoder would be the limit."""
        common = dict(
            width=info.width,
            height=info.height,
            time_base=self.schedule.time_base,
            rate=self.schedule.rate,
            settings=settings,
            source=info,
            fault=self.faults.in_encoder,
        )
        if self.writer_factory is not None:
            return self.writer_factory(self.output_path, **common)
        workers = self.options.encode_workers
        if workers is None:
            cores = os.cpu_count() or 1
            workers = default_workers(cores) if cores >= 8 else 1
        codec = resolve_codec(settings.codec)
        if workers > 1 and codec in SEGMENTABLE:
            # short jobs get shorter segments so that every encoder has work
            segment = max(24, min(DEFAULT_SEGMENT_FRAMES, self.expected_frames // (2 * workers)))
            self.log("info", f"encoding with {workers} {codec} encoders on segments of {segment} frames")
            return SegmentedVideoWriter(
                self.output_path, workers=workers, segment_frames=segment, **common
            )
        return VideoWriter(self.output_path, **common)

    def choose_batch(self, height: int, width: int) -> int:
        """The user's --batch, else 1 on the CPU, else the preflight's choice on CUDA."""
        assert self.model is not None
        if self.device.type != "cuda":
            return self.options.batch or 1
        self.log("info", cuda_facts(self.device))
        if self.options.batch:
            return self.options.batch
        for _ in range(4):
            choice = preflight(self.model, self.device, height, width)
            if choice.batch >= 1:
                self.log("info", f"batch {choice.batch}: {choice.reason}")
                return choice.batch
            self.free_cached_memory()
            try:
                self.model = degrade(self.model)
            except ModelError:
                break
            self.log("warning", f"one pair does not fit ({choice.reason}); trying {self.model.name}")
        raise ModelError(
            f"One pair at {width}x{height} needs {gib(choice.per_pair_bytes)} of GPU memory "
            f"but only {gib(choice.free_bytes)} is free."
        )

    def stream(self, reader: FrameReader) -> DecodedFrame:
        """Feed pairs through the model as frames arrive; returns the last input frame."""
        previous: DecodedFrame | None = None
        last_delta: int | None = None
        frames = iter(reader)
        while True:
            self.check_control()
            self.stage = "decode"
            start = self.clock()
            current = next(frames, None)
            self.timers["wait"] += self.clock() - start
            if current is None:
                break
            if previous is None:
                self.first_pts = current.pts
            else:
                last_delta = current.pts - previous.pts
                self.add_pair(previous.index, previous, current)
                if len(self.requests) >= self.batch:
                    self.run_requests()
                self.flush(self.writer)
            previous = current
        if previous is None:
            raise JobAborted("The input produced no frames; nothing was written.")
        self.check_control()
        self.run_requests()
        self.flush(self.writer, final=True)
        nominal = max(1, round(1 / (self.info.fps * self.info.time_base)))
        tail = previous.duration or last_delta or nominal
        self.add_tail(previous, tail)
        self.end_pts = previous.pts + tail
        self.flush(self.writer, final=True)
        return previous


def run_job(
    input_path: str | Path,
    output_path: str | Path,
    options: JobOptions | None = None,
    on_event: EventCallback = ignore_event,
    cancel: threading.Event | None = None,
    pause: threading.Event | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    faults: FaultPlan | None = None,
    interpolator: Interpolator | None = None,
    writer_factory: Callable[..., VideoWriter] | None = None,
) -> JobFinished:
    """Interpolate ``input_path`` into ``output_path`` and return the summary.

    ``options`` defaults to ``JobOptions()`` (2x with the weight-free ``flow`` model).
    ``on_event`` receives every core event, from the calling thread (``Stalled`` and its log
    line come from the stall monitor's thread, so the callback must be thread-safe). ``cancel`` and
    ``pause`` are checked between batches. ``faults`` defaults to ``FRAMEDECK_INJECT``.
    ``interpolator`` overrides ``options.model`` with a ready-made instance.
    ``writer_factory`` replaces the encoder: it is called like ``VideoWriter`` (output path,
    then width, height, time_base, rate, settings, source) and must act like one (a sink).
    Raises :class:`core.errors.FramedeckError` (with one sentence) on any failure; the
    model is unloaded and memory released whatever happens.
    """
    options = options or JobOptions()
    options.validate()
    job = _Job(
        Path(input_path),
        Path(output_path),
        options,
        on_event,
        cancel or threading.Event(),
        pause or threading.Event(),
        clock,
        sleep,
        faults if faults is not None else FaultPlan.from_env(),
        interpolator,
        writer_factory,
    )
    try:
        return job.run()
    except FramedeckError as exc:
        _report_failure(on_event, exc)
        raise
    except Exception as exc:
        error = FramedeckError(f"Unexpected failure: {type(exc).__name__}: {exc}")
        _report_failure(on_event, error)
        raise error from exc
    finally:
        _release(job)


def _report_failure(on_event: EventCallback, exc: FramedeckError) -> None:
    aborted = isinstance(exc, JobAborted)
    on_event(StageChanged(Stage.ABORTED if aborted else Stage.FAILED, str(exc)))
    on_event(JobFailed(str(exc), aborted=aborted))


def _release(job: _Job) -> None:
    """Unload the model and return memory to the pre-job baseline. Each step is attempted
    even when one before it raised (after a CUDA error they do): failures are logged, and the
    job's own error, if any, stays the one raised."""
    failures = clean_up([("unloading the model", job.model.unload if job.model is not None else None)])
    if job.restore_threads is not None:
        torch.set_num_threads(job.restore_threads)
    job.tensors.clear()
    job.requests.clear()
    job.pending.clear()
    job.in_flight.clear()
    device = getattr(job, "device", None)
    job.model = None
    gc.collect()
    trim_host_memory()
    if device is not None and device.type == "cuda":
        failures += release_cuda_memory(device)
    for failure in failures:
        clean_up([("logging", lambda failure=failure: job.log("warning", f"clean-up: {failure}"))])
