"""``run_job``: one whole interpolation job, input file to output file, in this process.

This is the library entry point that the CLI, the console and user scripts share::

    import threading
    from core.job import run_job
    from core.options import JobOptions

    cancel = threading.Event()
    result = run_job("in.mp4", "out.mp4", JobOptions(factor=2), on_event=print, cancel=cancel)

It decodes in one thread, runs the model in the calling thread, encodes in other threads, and
reports typed events (core/events.py) to ``on_event``. Setting ``cancel`` aborts between
batches; while ``pause`` is set the job waits between batches. Any failure raises a
:class:`core.errors.FramedeckError` with one sentence, after a ``JobFailed`` event, and
leaves nothing at the output path.

The result goes through a journal beside the output (core/journal.py): closed segment files
and a manifest, joined losslessly into the output at the end. Running the same job again
after a crash, a kill or an interrupt kept with ``keep=True`` continues from the first
segment missing from the journal, and gives the same output as an uninterrupted run.
``pairs=range(a, b)`` runs only those input pairs into the journal (the output is joined
once the journal holds every segment).
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from core.device import resolve_device
from core.errors import FramedeckError, JobAborted
from core.events import (
    EventCallback,
    JobFailed,
    JobFinished,
    JobResumed,
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
from core.job_journal import JobJournal, StartPoint, estimate_output_bytes
from core.job_slots import FinishedPair, OutputSlots
from core.memory import clean_up, release_cuda_memory, trim_host_memory
from core.model_runner import ModelRunner
from core.models.auto import choice_for_job, chosen_event
from core.options import JobOptions
from core.preview import FrameTap
from core.rate import RateEstimator
from core.scene_warmup import SceneWarmup
from core.scenecut import PairKind, SceneCutDetector
from core.schedule import OutputSchedule
from core.transfer import Transfers
from core.video.containers import codec_for_output
from core.video.journal_writer import JournalVideoWriter
from core.video.keyframe_index import KeyframeIndex
from core.video.output_file import check_output
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
KEEP_GRACE = 5.0  # seconds an interrupted job waits for closed segments to be stored
FINISH_SECONDS = 3.0  # an interrupted job finishes its segment when that takes less than this


class _Job:
    """One running job: composes the control (core/job_control.py), the model runner
    (core/model_runner.py), the output slots (core/job_slots.py) and the journal
    (core/job_journal.py) around a reader and a writer; ``run_job`` is its only user."""

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
        *,
        journaled: bool = True,
        pairs: range | None = None,
        keep: bool = False,
        restart: bool = False,
        preview: FrameTap | None = None,
        worker: int | None = None,
        keyframes: KeyframeIndex | None = None,
    ) -> None:
        self.keyframes = keyframes  # where the reader may start decoding (core/video/keyframe_index.py)
        self.preview = preview  # small copies of a made frame and its neighbours (core/preview.py)
        self.input_path = input_path
        self.output_path = output_path
        self.options = options
        self.emit = emit
        self.control = control
        self.clock = control.clock
        self.faults = faults
        self.interpolator = interpolator
        self.writer_factory = writer_factory
        self.journaled = journaled and writer_factory is None
        self.pairs = pairs
        self.keep = keep
        self.restart = restart
        self.worker = worker  # one of several workers sharing the journal (core/device_job.py)
        self.runner: ModelRunner | None = None
        self.slots: OutputSlots | None = None
        self.journal: JobJournal | None = None
        self.start = StartPoint(0, 0, None, None, 0)
        self.pairs_done = 0
        self.scene_after: dict[int, list[float]] = {}  # segment -> detector scores before it
        self.first_pts: int | None = None
        self.end_pts: int | None = None
        self.finishing = False  # an interrupt is waiting for the segment in progress to end

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
        self.input_frames = info.frame_count or max(1, round((info.duration or 0) * float(info.fps)))
        self.total_pairs = max(0, self.input_frames - 1)
        self.expected_frames = self.schedule.expected_frames(self.input_frames, info.duration or 0.0)
        self.log(
            "info",
            f"input {info.width}x{info.height} {info.codec} {float(info.fps):.3f} fps, "
            f"about {self.input_frames} frames, audio streams: {info.audio_streams}",
        )
        settings = EncoderSettings(
            codec=options.codec, crf=options.crf, preset=options.preset, pix_fmt=options.pix_fmt
        )
        if self.journaled:
            check_output(self.output_path, info)  # before a journal folder is made beside it
            self.journal = JobJournal(
                self.output_path, options, info, self.restart, self.log, self.total_pairs, self.encode_workers(),
                shared=self.worker is not None,
            )
        writer = self.open_writer(info, settings)
        frame_path, why = choose_frame_path(
            options.colour, device, info, getattr(writer, "pix_fmt", None)  # a sink may take any picture
        )
        if self.journal is not None:
            assert isinstance(writer, JournalVideoWriter)
            estimate = estimate_output_bytes(info, writer.codec_name, self.expected_frames, self.input_frames)
            self.journal.open(writer, device.type, type(frame_path).__name__, estimate)
            start = self.journal.start(self.pairs, self.total_pairs)
            if start is None:
                return self.join_only(writer, started)
            self.start = start
            writer.segments, writer.frames_written = start.segment, start.frames_before
            self.first_pts = self.journal.first_pts

        self.emit(StageChanged(Stage.LOADING_MODEL, options.model))
        choice = choice_for_job(options, device, self.interpolator, self.emit, self.log)
        model = self.interpolator or create_interpolator(
            choice.model,
            choice.weights,
            precision=options.precision,
            scale=options.scale,
            cuda_graphs=options.cuda_graphs,
        )
        self.runner = runner = ModelRunner(model, device, self.control, self.faults, self.emit, choice.model)
        runner.load()
        self.chosen = chosen_event(choice, getattr(model, "label", model.name), model.precision_used, str(device))
        self.emit(self.chosen)
        runner.choose_batch(info.height, info.width, options.batch)
        self.log("info", why)
        runner.use(frame_path, Transfers(device))
        self.pairs_done = self.start.pair
        self.rate = RateEstimator(  # the work left, timed without pauses
            max(0, self.total_pairs - self.start.pair), clock=self.control.working_clock
        )
        self.last_stage_event = self.clock()
        self.warmup = SceneWarmup.for_start(self.detector, self.start.pair, self.start.scene)
        reader = FrameReader(
            self.input_path,
            info,
            fault=self.faults.on_decode,
            interrupt=self.control.raise_if_stalled,
            convert=frame_path.decode_picture,
            strict=options.strict,
            start_index=self.warmup.first_frame,
            keyframes=self.keyframes,
        )
        with writer as self.writer, reader as self.reader:
            self.writer.interrupt = self.control.raise_if_stalled
            for note in [*getattr(self.writer, "notes", []), *self.reader.notes]:
                self.log("info", note)
            self.emit(self.started_event())
            if self.start.pair and self.worker is None:  # a worker's range is not a resume
                self.announce_resume()
            self.emit(StageChanged(Stage.INTERPOLATING, f"{self.total_pairs} pairs"))
            try:
                with self.control.watching():
                    previous = self.stream()
                for warning in self.reader.warnings():
                    self.log("warning", warning)
                if (summary := self.reader.decode_summary()) is not None:
                    self.log("info", summary)
                self.emit(StageChanged(Stage.FINALIZING, str(self.output_path)))
                self.finish_writer(previous)
            except BaseException as exc:
                self.wind_down(exc)
                raise
        self.emit(StageTimes(self.stage_times()))
        first_pts = self.first_pts if self.first_pts is not None else 0
        result = JobFinished(
            output="" if self.journal is not None else str(self.output_path),
            input_frames=previous.index + 1,
            output_frames=self.writer.frames_written,
            pairs=self.pairs_done,
            interpolated_frames=runner.interpolated,
            seconds=self.clock() - started,
            duration=float(((self.end_pts or previous.pts) - first_pts) * info.time_base),
            model=self.chosen.line,
        )
        if self.journal is not None and self.journal.complete and self.worker is None:  # joined: its figures
            result = self.journal_result(result)
        self.emit(StageChanged(Stage.DONE, str(self.output_path)))
        self.emit(result)
        return result

    def finish_writer(self, previous: DecodedFrame) -> None:
        if not isinstance(self.writer, JournalVideoWriter):
            self.writer.finish(self.schedule.output_pts(self.end_pts))
            return
        assert self.journal is not None
        join = self.journal.files_if_complete if self.worker is None else None  # workers leave it to their job
        if self.end_pts is None:  # a range that stops before the end: its last segment is closed
            self.writer.finish(None, join=join)  # joined if the rest is done
            return
        self.journal.mark_end(self.writer.last_segment(), previous.index + 1, self.end_pts)
        self.writer.finish(self.schedule.output_pts(self.end_pts), join=join)

    def wind_down(self, exc: BaseException) -> None:
        """An interrupt with ``keep``: let closed segments be stored, and say how to resume
        (otherwise run_job removes the journal once the writer has stopped)."""
        if self.journal is None or self.journal.journal is None or not _kept(self, exc, self.keep):
            return
        if isinstance(self.writer, JournalVideoWriter):
            self.writer.wind_down(KEEP_GRACE)
        if isinstance(exc, JobAborted):
            kept = self.journal.kept_pairs(self.total_pairs)
            percent = self.journal.percent(kept, self.total_pairs)
            raise JobAborted(f"interrupted at {percent}%: run the same command to resume") from None

    def announce_resume(self) -> None:
        assert self.journal is not None
        pair, total = self.start.pair, self.total_pairs
        percent = self.journal.percent(pair, total)
        self.emit(JobResumed(pair, total, percent, self.start.segment))
        self.log("info", f"resuming at pair {pair + 1} of {total} ({percent}%): "
                         f"{self.start.segment} segments kept in {self.journal.folder.name}")

    def join_only(self, writer: VideoWriter, started: float) -> JobFinished:
        """Every segment is already in the journal: join them (nothing to decode or model)."""
        assert self.journal is not None and self.journal.journal is not None
        journal = self.journal.journal
        end = journal.manifest.get("end")
        if end is None or self.worker is not None:  # a range already done (a worker never joins)
            self.log("info", f"pairs {self.pairs} are already in the journal {journal.folder.name}")
            return JobFinished("", 0, 0, 0, 0, self.clock() - started, 0.0)
        self.log("info", f"all {end['last_segment'] + 1} segments are in the journal; joining them")
        self.emit(StageChanged(Stage.FINALIZING, str(self.output_path)))
        assert isinstance(writer, JournalVideoWriter)
        with writer:
            writer.finish(None, join=self.journal.files_if_complete)
        result = self.journal_result(JobFinished("", 0, 0, 0, 0, self.clock() - started, 0.0))
        self.emit(StageChanged(Stage.DONE, str(self.output_path)))
        self.emit(result)
        return result

    def journal_result(self, run: JobFinished) -> JobFinished:
        """The whole output's figures once the journal is joined (this run's own time and
        interpolated frames), and the journal removed."""
        assert self.journal is not None and self.journal.journal is not None
        journal = self.journal.journal
        end = journal.manifest["end"]
        first_pts = self.journal.first_pts or 0
        self.journal.remove()
        return JobFinished(
            output=str(self.output_path),
            input_frames=end["input_frames"],
            output_frames=sum(s["frames"] for s in journal.segments.values()),
            pairs=max(0, end["input_frames"] - 1),
            interpolated_frames=run.interpolated_frames,
            seconds=run.seconds,
            duration=float((end["end_pts"] - first_pts) * self.info.time_base),
            model=run.model,
        )

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
        """The journal's segment writer, or (without a journal) one encoder, or several on
        consecutive segments when one CPU encoder would be the limit."""
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
        workers = self.encode_workers()
        cores = os.cpu_count() or 1
        codec = codec_for_output(self.output_path, settings.codec)
        if self.journal is not None:
            frames_per_segment = max(1, self.expected_frames * self.journal.segment_pairs // max(1, self.total_pairs))
            if workers > 1:
                self.log("info", f"encoding with {workers} encoders on segments in parallel")
            return JournalVideoWriter(
                self.output_path,
                folder=self.journal.folder,
                on_segment=self.journal.on_segment,
                workers=workers,
                threads_per_encoder=self.journal.encoder_threads() or max(1, cores // workers),
                # raw frames that may wait: the segments the other encoders take meanwhile
                buffer_frames=max(1, (workers - 1) * frames_per_segment),
                store_fault=self.faults.before_store,
                join_name="joining" if self.worker is None else f"joining-worker{self.worker}",
                join_fault=self.faults.in_join,
                **common,
            )
        if workers > 1 and codec in SEGMENTABLE:
            # short jobs get shorter segments so that every encoder has work
            segment = max(24, min(DEFAULT_SEGMENT_FRAMES, self.expected_frames // (2 * workers)))
            self.log("info", f"encoding with {workers} {codec} encoders on segments of {segment} frames")
            return SegmentedVideoWriter(
                self.output_path, workers=workers, segment_frames=segment, **common
            )
        return VideoWriter(self.output_path, **common)

    def encode_workers(self) -> int:
        return encode_workers(self.options)

    # -- frames in, pairs through, slots out ------------------------------------------------------

    def stream(self) -> DecodedFrame:
        """Feed pairs through the model as frames arrive; returns the last input frame."""
        assert self.runner is not None and self.slots is not None
        control, runner, slots = self.control, self.runner, self.slots
        pairs = self.pairs
        stop = pairs.stop if pairs is not None and pairs.stop < self.total_pairs else None  # else: to the end
        previous: DecodedFrame | None = None
        last_delta: int | None = None
        frames = iter(self.reader)
        while True:
            if not self.finishing_segment(previous):
                control.check()
            control.stage = "decode"
            start = self.clock()
            current = next(frames, None)
            control.add_time("wait", self.clock() - start)
            if current is None:
                break
            if previous is None:
                if self.first_pts is None and current.index == 0:
                    self.first_pts = current.pts
                    if self.journal is not None:
                        self.journal.note_first_pts(current.pts)
            elif previous.index < self.start.pair:  # before this run's pairs: scene-cut state only
                self.warmup.feed(previous, current)
                if current.index == self.start.pair:
                    self.warmup.report(self.log)
            elif stop is not None and previous.index >= stop:  # a range that ends before the input
                control.check()
                runner.run(slots.take_requests())
                self.flush(final=True)
                return previous
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

    def finishing_segment(self, previous: DecodedFrame | None) -> bool:
        """After a cancel with ``keep``: whether to go on to the end of the segment in progress
        (it is expected to take under FINISH_SECONDS) before stopping. At that end, the pairs
        still waiting are run and written, so the segment is closed and kept."""
        if not (self.keep and self.control.cancel.is_set() and self.journal is not None and previous):
            return False
        assert self.runner is not None and self.slots is not None
        size = self.journal.segment_pairs
        left = (size - previous.index % size) % size  # pairs until the segment's end
        if left == 0:  # at a boundary: close the segment, then stop
            self.runner.run(self.slots.take_requests())
            self.flush(final=True)
            return False
        done, elapsed = self.pairs_done - self.start.pair, self.rate.elapsed
        rate = self.rate.rate or (done / elapsed if done and elapsed > 0 else None)
        if self.finishing or (rate and left / rate < FINISH_SECONDS):
            if not self.finishing:
                self.log("info", f"interrupted: finishing the segment in progress ({left} pairs) first")
            self.finishing = True
            return True
        return False

    def add_pair(self, index: int, frame0: DecodedFrame, frame1: DecodedFrame) -> None:
        assert self.slots is not None
        if self.journal is not None and index % self.journal.segment_pairs == 0:
            runner = self.runner
            if runner is not None and self.slots.requests:  # batches never span two segments,
                runner.run(self.slots.take_requests())  # so a resumed run batches the same pairs
        if self.journal is not None:  # what core/seek_check.py compares at range boundaries
            self.journal.note_pair(index, frame0, frame1, self.reader.seek_frame)
        kind = self.detector.classify(frame0.rgb, frame1.rgb, frame1.missing_before)
        if kind is PairKind.CUT:
            self.log("info", f"scene cut between frames {frame0.index} and {frame1.index}")
        if self.journal is not None and (index + 1) % self.journal.segment_pairs == 0:
            self.scene_after[(index + 1) // self.journal.segment_pairs] = list(self.detector.recent)
        self.slots.add_pair(index, frame0, frame1, kind)
        if self.preview is not None and kind is PairKind.NORMAL:
            self.preview.offer_pair(index, frame0, frame1)

    def flush(self, final: bool = False) -> None:
        """Write every leading slot whose picture is ready, in output order."""
        assert self.runner is not None and self.slots is not None
        runner, control = self.runner, self.control

        def fetch(source: tuple) -> object:
            return runner.fetch(source, final)

        while (slot := self.slots.pop_ready(fetch)) is not None:
            if not slot.marker:  # a marker only ends a segment
                control.stage = "encode"
                start = self.clock()
                self.writer.write(slot.picture, slot.pts)
                control.add_time("wait", self.clock() - start)
                if self.preview is not None:
                    self.preview.offer_slot(slot.pair, slot.picture)
            finished = self.slots.written(slot)
            if finished is not None:
                self.pair_done(finished)

    def pair_done(self, pair: FinishedPair) -> None:
        self.control.pair_finished(pair.seconds)
        self.pairs_done += 1
        self.rate.update(self.pairs_done - self.start.pair)
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
        if self.journal is not None and (pair.index + 1) % self.journal.segment_pairs == 0:
            segment = pair.index // self.journal.segment_pairs
            self.journal.boundary(segment, pair.next_pts, self.scene_after.pop(segment + 1, None))
            assert isinstance(self.writer, JournalVideoWriter)
            self.writer.end_segment(self.schedule.output_pts(pair.next_pts))
        now = self.clock()
        if now - self.last_stage_event >= STAGE_EVENT_INTERVAL:
            self.last_stage_event = now
            self.emit(StageTimes(self.stage_times()))

    def stage_times(self) -> dict[str, float]:
        times = dict(self.control.timers)
        times["decode"] = self.reader.decode_seconds
        times["encode"] = self.writer.encode_seconds
        return times


def encode_workers(options: JobOptions) -> int:
    """--encode-workers, else half the cores on machines with 8 or more, else 1."""
    if options.encode_workers is not None:
        return options.encode_workers
    cores = os.cpu_count() or 1
    return default_workers(cores) if cores >= 8 else 1


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
    pairs: range | None = None,
    keep: bool = False,
    restart: bool = False,
    journal: bool = True,
    preview: FrameTap | None = None,
    worker: int | None = None,
    keyframes: KeyframeIndex | None = None,
) -> JobFinished:
    """Interpolate ``input_path`` into ``output_path`` and return the summary.

    ``options`` defaults to ``JobOptions()`` (2x with ``--model auto``: see core/models/auto.py).
    ``on_event`` receives every core event, from the calling thread (``Stalled`` and its log
    line come from the stall monitor's thread, so the callback must be thread-safe). ``cancel`` and
    ``pause`` are checked between batches. ``faults`` defaults to ``FRAMEDECK_INJECT``.
    ``interpolator`` overrides ``options.model`` with a ready-made instance.
    ``writer_factory`` replaces the encoder: it is called like ``VideoWriter`` (output path,
    then width, height, time_base, rate, settings, source) and must act like one (a sink);
    such a job has no journal.
    The journal (``.NAME.framedeck/`` beside the output) is resumed when it matches this job;
    ``restart`` discards it first; one that does not match is refused (OutputError) and left
    as it is. ``keep`` keeps it when the job is cancelled (JobAborted then says
    "interrupted at N%: run the same command to resume"); a failure removes it.
    ``pairs`` (a range starting at a segment boundary) runs only those pairs into the journal.
    ``journal=False`` encodes straight into the output, as before journals existed.
    ``preview`` (a :class:`core.preview.FrameTap`) is offered each made frame and its neighbours.
    ``worker`` (a number) makes this run one of several writing ranges into one journal at
    once (core/device_job.py): it never joins the output and never removes the journal.
    ``keyframes`` (a :class:`core.video.keyframe_index.KeyframeIndex` of the input) lets a run
    that starts late decode from the keyframe before its first frame; the caller checks the
    journal's boundary records before joining (core/seek_check.py).
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
    faults.note = lambda message: control.log("warning", message)
    job = _Job(
        Path(input_path), Path(output_path), options, on_event, control, faults, interpolator, writer_factory,
        journaled=journal, pairs=pairs, keep=keep, restart=restart, preview=preview, worker=worker,
        keyframes=keyframes,
    )
    try:
        return job.run()
    except FramedeckError as exc:
        _discard_journal(job, _kept(job, exc, keep))
        _report_failure(on_event, exc)
        raise
    except Exception as exc:
        _discard_journal(job, False)
        error = FramedeckError(f"Unexpected failure: {type(exc).__name__}: {exc}")
        _report_failure(on_event, error)
        raise error from exc
    except BaseException as exc:
        _discard_journal(job, _kept(job, exc, keep))
        raise
    finally:
        _release(job)


def _kept(job: _Job, exc: BaseException, keep: bool) -> bool:
    """Whether the journal outlives ``exc``: with ``keep``, an interrupt (cancel, a second
    Ctrl-C) keeps it; a failure never does, so a mistake leaves nothing behind."""
    interrupted = isinstance(exc, KeyboardInterrupt) or (isinstance(exc, JobAborted) and job.control.cancel.is_set())
    return keep and interrupted


def _discard_journal(job: _Job, keep: bool) -> None:
    """A job that is not kept leaves no journal (one it refused is not its own; a worker's
    belongs to the job that shares it out)."""
    if job.journal is not None and not keep and job.worker is None:
        job.journal.remove()


def _report_failure(on_event: EventCallback, exc: FramedeckError) -> None:
    aborted = isinstance(exc, JobAborted)
    on_event(StageChanged(Stage.ABORTED if aborted else Stage.FAILED, str(exc)))
    on_event(JobFailed(str(exc), aborted=aborted))


def _release(job: _Job) -> None:
    """Unload the model and return memory to the pre-job baseline. Each step is attempted
    even when one before it raised (after a CUDA error they do): failures are logged, and the
    job's own error, if any, stays the one raised."""
    failures: list[str] = []
    if job.runner is not None:
        failures += job.runner.release()
    elif job.interpolator is not None:
        failures += clean_up([("unloading the model", job.interpolator.unload)])
    if job.slots is not None:
        job.slots.clear()
    device = getattr(job, "device", None)
    job.runner = None
    gc.collect()
    trim_host_memory()
    if device is not None and device.type == "cuda":
        failures += release_cuda_memory(device)
    for failure in failures:
        clean_up([("logging", lambda failure=failure: job.log("warning", f"clean-up: {failure}"))])
