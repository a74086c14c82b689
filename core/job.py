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
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from core.device import resolve_device
from core.errors import FramedeckError, JobAborted
from core.events import (
    EventCallback,
    JobFailed,
    JobFinished,
    JobStarted,
    PairDone,
    Stage,
    StageChanged,
    StageTimes,
    ignore_event,
)
from core.faults import FaultPlan
from core.frame_path import choose_frame_path
from core.interpolators.base import Interpolator
from core.interpolators.registry import create_interpolator
from core.job_control import JobControl
from core.job_slots import FinishedPair, OutputSlots
from core.memory import release_pinned_memory, trim_host_memory
from core.model_runner import ModelRunner
from core.options import JobOptions
from core.rate import RateEstimator
from core.scenecut import PairKind, SceneCutDetector
from core.schedule import OutputSchedule
from core.transfer import Transfers
from core.video.containers import codec_for_output
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


class _Job:
    """One running job: composes the control (core/job_control.py), the model runner
    (core/model_runner.py) and the output slots (core/job_slots.py) around a reader and a
    writer; ``run_job`` is its only user."""

    def __init__(
        self,
        input_path: Path,
        output_path: Path,
        options: JobOptions,
        emit: EventCallback,
        control: JobControl,
        faults: FaultPlan,
        interpolator: Interpolator | None,
        writer_factory: Callable[..., VideoWriter] | None = None,
    ) -> None:
        self.input_path = input_path
        self.output_path = output_path
        self.options = options
        self.emit = emit
        self.control = control
        self.clock = control.clock
        self.faults = faults
        self.interpolator = interpolator
        self.writer_factory = writer_factory
        self.runner: ModelRunner | None = None
        self.slots: OutputSlots | None = None
        self.pairs_done = 0
        self.frames_queued = 0  # frames handed to the writer (the encode fault counts them)

    def log(self, level: str, message: str) -> None:
        self.control.log(level, message)

    # -- the whole job -------------------------------------------------------------------------

    def run(self) -> JobFinished:
        started = self.clock()
        options = self.options
        self.emit(StageChanged(Stage.PROBING, str(self.input_path)))
        self.info = info = probe_video(self.input_path)
        codec_for_output(self.output_path, options.codec)  # a codec the container refuses: fail now
        self.device = device = resolve_device(options.device)
        self.detector = SceneCutDetector(options.scene_cut)
        self.schedule = OutputSchedule(info.time_base, info.fps, options.factor, options.target_fps)
        self.slots = OutputSlots(self.schedule, self.clock)
        input_frames = info.frame_count or max(1, round((info.duration or 0) * float(info.fps)))
        self.total_pairs = max(0, input_frames - 1)
        self.expected_frames = self.schedule.expected_frames(input_frames, info.duration or 0.0)
        self.log(
            "info",
            f"input {info.width}x{info.height} {info.codec} {float(info.fps):.3f} fps, "
            f"about {input_frames} frames, audio streams: {info.audio_streams}",
        )

        self.emit(StageChanged(Stage.LOADING_MODEL, options.model))
        model = self.interpolator or create_interpolator(
            options.model,
            options.weights,
            precision=options.precision,
            scale=options.scale,
            cuda_graphs=options.cuda_graphs,
        )
        self.runner = runner = ModelRunner(model, device, self.control, self.faults, self.emit, options.model)
        runner.load()
        runner.choose_batch(info.height, info.width, options.batch)
        settings = EncoderSettings(
            codec=options.codec, crf=options.crf, preset=options.preset, pix_fmt=options.pix_fmt
        )
        self.rate = RateEstimator(self.total_pairs, clock=self.control.working_clock)  # pauses left out
        self.last_stage_event = self.clock()
        writer = self.open_writer(info, settings)
        frame_path, why = choose_frame_path(
            options.colour, device, info, getattr(writer, "pix_fmt", None)  # a sink may take any picture
        )
        self.log("info", why)
        runner.use(frame_path, Transfers(device))
        reader = FrameReader(
            self.input_path,
            info,
            fault=self.faults.on_decode,
            interrupt=self.control.raise_if_stalled,
            convert=frame_path.decode_picture,
            strict=options.strict,
        )
        with writer as self.writer, reader as self.reader:
            self.writer.interrupt = self.control.raise_if_stalled
            for note in [*getattr(self.writer, "notes", []), *self.reader.notes]:
                self.log("info", note)
            self.emit(self.started_event())
            self.emit(StageChanged(Stage.INTERPOLATING, f"{self.total_pairs} pairs"))
            with self.control.watching():
                previous = self.stream()
            for warning in self.reader.warnings():
                self.log("warning", warning)
            self.emit(StageChanged(Stage.FINALIZING, str(self.output_path)))
            self.writer.finish(self.schedule.output_pts(self.end_pts))
        self.emit(StageTimes(self.stage_times()))
        result = JobFinished(
            output=str(self.output_path),
            input_frames=previous.index + 1,
            output_frames=self.writer.frames_written,
            pairs=self.pairs_done,
            interpolated_frames=runner.interpolated,
            seconds=self.clock() - started,
            duration=float((self.end_pts - self.first_pts) * info.time_base),
        )
        self.emit(StageChanged(Stage.DONE, str(self.output_path)))
        self.emit(result)
        return result

    def started_event(self) -> JobStarted:
        assert self.runner is not None
        info = self.info
        return JobStarted(
            input=str(self.input_path),
            output=str(self.output_path),
            width=info.width,
            height=info.height,
            input_fps=float(info.fps),
            output_fps=float(self.schedule.rate),
            total_pairs=self.total_pairs,
            total_output_frames=self.expected_frames,
            model=self.runner.model.name,
            device=str(self.device),
            precision=self.runner.model.precision_used,
            batch=self.runner.batch,
            codec=self.writer.codec_name,
        )

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
        codec = codec_for_output(self.output_path, settings.codec)
        if workers > 1 and codec in SEGMENTABLE:
            # short jobs get shorter segments so that every encoder has work
            segment = max(24, min(DEFAULT_SEGMENT_FRAMES, self.expected_frames // (2 * workers)))
            self.log("info", f"encoding with {workers} {codec} encoders on segments of {segment} frames")
            return SegmentedVideoWriter(
                self.output_path, workers=workers, segment_frames=segment, **common
            )
        return VideoWriter(self.output_path, **common)

    # -- frames in, pairs through, slots out ------------------------------------------------------

    def stream(self) -> DecodedFrame:
        """Feed pairs through the model as frames arrive; returns the last input frame."""
        assert self.runner is not None and self.slots is not None
        control, runner, slots = self.control, self.runner, self.slots
        previous: DecodedFrame | None = None
        last_delta: int | None = None
        frames = iter(self.reader)
        while True:
            control.check()
            control.stage = "decode"
            start = self.clock()
            current = next(frames, None)
            control.add_time("wait", self.clock() - start)
            if current is None:
                break
            if previous is None:
                self.first_pts = current.pts
            else:
                last_delta = current.pts - previous.pts
                self.add_pair(previous.index, previous, current)
                if len(slots.requests) >= runner.batch:
                    runner.run(slots.take_requests())
                self.flush()
            previous = current
        if previous is None:
            raise JobAborted("The input produced no frames; nothing was written.")
        control.check()
        runner.run(slots.take_requests())
        self.flush(final=True)
        nominal = max(1, round(1 / (self.info.fps * self.info.time_base)))
        tail = previous.duration or last_delta or nominal
        slots.add_tail(previous, tail)
        self.end_pts = previous.pts + tail
        self.flush(final=True)
        return previous

    def add_pair(self, index: int, frame0: DecodedFrame, frame1: DecodedFrame) -> None:
        assert self.slots is not None
        kind = self.detector.classify(frame0.rgb, frame1.rgb, frame1.missing_before)
        if kind is PairKind.CUT:
            self.log("info", f"scene cut between frames {frame0.index} and {frame1.index}")
        finished = self.slots.add_pair(index, frame0, frame1, kind)
        if finished is not None:
            self.pair_done(finished)

    def flush(self, final: bool = False) -> None:
        """Write every leading slot whose picture is ready, in output order."""
        assert self.runner is not None and self.slots is not None
        runner, control = self.runner, self.control

        def fetch(source: tuple) -> object:
            return runner.fetch(source, final)

        while (slot := self.slots.pop_ready(fetch)) is not None:
            control.stage = "encode"
            start = self.clock()
            self.faults.on_encode(self.frames_queued)
            self.frames_queued += 1
            self.writer.write(slot.picture, slot.pts)
            control.add_time("wait", self.clock() - start)
            finished = self.slots.written(slot)
            if finished is not None:
                self.pair_done(finished)

    def pair_done(self, pair: FinishedPair) -> None:
        self.control.pair_finished(pair.seconds)
        self.pairs_done += 1
        self.rate.update(self.pairs_done)
        self.emit(
            PairDone(
                index=pair.index,
                total=max(self.total_pairs, self.pairs_done),
                seconds=pair.seconds,
                frames_written=self.writer.frames_written,
                interpolated=pair.interpolated,
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
        times = dict(self.control.timers)
        times["decode"] = self.reader.decode_seconds
        times["encode"] = self.writer.encode_seconds
        return times


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
    faults = faults if faults is not None else FaultPlan.from_env()
    control = JobControl(
        on_event, cancel or threading.Event(), pause or threading.Event(), clock, sleep, faults,
        options.stall_timeout,
    )
    job = _Job(Path(input_path), Path(output_path), options, on_event, control, faults, interpolator, writer_factory)
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
    """Unload the model and return memory to the pre-job baseline."""
    if job.runner is not None:
        job.runner.release()
    elif job.interpolator is not None:
        job.interpolator.unload()
    if job.slots is not None:
        job.slots.clear()
    device = getattr(job, "device", None)
    job.runner = None
    gc.collect()
    trim_host_memory()
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        release_pinned_memory()
