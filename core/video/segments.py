"""Parallel encoding of consecutive GOP-aligned segments, joined losslessly into one stream.

:class:`SegmentedVideoWriter` has the public interface of :class:`core.video.writer.VideoWriter`.
Frame ``i`` goes to segment ``i // segment_frames``; each segment is encoded by its own
encoder instance (so it starts with a keyframe and its GOPs are closed) in one of ``workers``
threads (libav encoders release the GIL). A mux thread takes the segments' packets in order
and writes them into the one output stream, interleaved with the source's copied audio, so
the file is one normal stream with continuous timestamps. Encoded packets of a segment wait
in memory only until the segments before it are muxed; raw frames wait (at most
``buffer_frames`` of them) until a worker encodes them.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np

from core.errors import EncodeError
from core.video.output_file import Picture
from core.video.probe import VideoInfo
from core.video.writer import BaseVideoWriter, EncoderSettings

_POLL = 0.05
CLOSE_TIMEOUT = 10.0  # seconds to wait for the threads when aborting
DEFAULT_SEGMENT_FRAMES = 120
SEGMENTABLE = ("libx264", "libx265", "ffv1")  # CPU encoders; NVENC is fast enough alone


@dataclass
class _Segment:
    """One run of consecutive frames and the packets its encoder made of them."""

    number: int
    first_frame: int
    frames: queue.Queue = field(
        default_factory=queue.Queue
    )  # (picture, pts, duration, index) | None
    packets: deque = field(default_factory=deque)
    done: bool = False
    extradata: bytes | None = None
    count: int = 0  # frames dispatched to it
    abandoned: bool = False  # an interrupted run gave it up; its packets are not kept


def default_workers(cores: int | None = None) -> int:
    """Encoder instances worth running at once: half the cores (the rest decode, convert, mux)."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(8, cores // 2))


class SegmentedVideoWriter(BaseVideoWriter):
    """Like VideoWriter, but ``workers`` encoders each take a GOP-aligned segment.

    Extra parameters: ``segment_frames`` (frames per segment, a keyframe starts each),
    ``workers`` (parallel encoder instances; default half the cores), ``buffer_frames``
    (raw frames that may wait for a free encoder; default ``workers * segment_frames``,
    which is what full parallelism needs) and ``threads_per_encoder`` (libav threads of
    each encoder; default cores / workers).
    """

    write_header = False  # the header waits for the first segment's extradata

    def __init__(
        self,
        output: str | os.PathLike,
        *,
        width: int,
        height: int,
        time_base: Fraction,
        rate: Fraction,
        settings: EncoderSettings,
        source: VideoInfo,
        queue_size: int = 8,
        fault: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        segment_frames: int = DEFAULT_SEGMENT_FRAMES,
        workers: int | None = None,
        buffer_frames: int | None = None,
        threads_per_encoder: int | None = None,
    ) -> None:
        if segment_frames < 1:
            raise ValueError("segment_frames must be at least 1")
        self.segment_frames = segment_frames
        self.workers = max(1, workers if workers is not None else default_workers())
        cores = os.cpu_count() or 1
        self.threads_per_encoder = threads_per_encoder or max(1, cores // self.workers)
        super().__init__(
            output, width=width, height=height, time_base=time_base, rate=rate, settings=settings,
            source=source, fault=fault, clock=clock, threads=self.threads_per_encoder,
        )
        self.buffer_frames = max(1, buffer_frames or self.workers * segment_frames) + queue_size
        # frames_written counts frames handed to the writer; encode_seconds sums the encoder threads
        self.frames_encoded = 0
        self.segments = 0
        self.mux_seconds = 0.0
        self._slots = threading.Semaphore(self.buffer_frames)
        self._lock = threading.Lock()
        self._ready: threading.Condition = threading.Condition(self._lock)
        self._todo: queue.Queue[_Segment | None] = queue.Queue()
        self._order: queue.Queue[_Segment | None] = queue.Queue()
        self._current: _Segment | None = None
        self._frame_pts = array("q")  # pts of every dispatched frame, in order
        self._in_flight: dict[int, int] = {}  # id() of av.VideoFrames waiting or encoding
        self._reorder: int | None = None  # the encoders' reorder delay in frames
        self._packets_muxed = 0
        self._pending: tuple[Picture, int] | None = None
        self._last_delta: int | None = None
        self._threads: list[threading.Thread] = []

    # -- setup -----------------------------------------------------------------------------

    def _start_threads(self) -> None:
        for n in range(self.workers):
            self._start(self._work, f"framedeck-encode-{n}")
        self._start(self._mux_all, "framedeck-mux")

    def _start(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=self._guard, args=(target,), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _new_encoder(self) -> av.video.codeccontext.VideoCodecContext:
        assert self._file is not None and self._file.stream is not None
        ctx = av.CodecContext.create(self.codec_name, "w")
        self._setup.configure(ctx)
        ctx.flags = self._file.stream.codec_context.flags  # global header where the container needs it
        ctx.options = dict(self.options)
        ctx.open()
        return ctx

    # -- producer side -----------------------------------------------------------------------

    def write(self, frame: Picture, pts: int) -> None:
        """Queue one frame at ``pts`` (in ``time_base``); raises EncodeError if encoding failed."""
        if not self._threads or not self._writable():
            raise RuntimeError("SegmentedVideoWriter.write() outside an open 'with' block")
        self._raise_if_failed()
        pts = self.output_pts(pts)
        if self._pending is not None and pts <= self._pending[1]:
            raise ValueError(f"pts must increase: {pts} after {self._pending[1]}")
        self._setup.check_picture(frame)
        if self._pending is not None:
            self._last_delta = pts - self._pending[1]
            self._dispatch(*self._pending, self._last_delta)
        self._pending = (frame, pts)

    def _dispatch(self, picture: Picture, pts: int, duration: int) -> None:
        """Hand one frame with its known duration to its segment, opening segments as needed."""
        while not self._slots.acquire(timeout=_POLL):
            if self.interrupt is not None:
                self.interrupt()
            self._raise_if_failed()
            if not all(t.is_alive() for t in self._threads):
                self._raise_if_failed()
                raise EncodeError("An encoder thread stopped unexpectedly.")
        index = self.frames_written
        if self._starts_segment(index):
            self._close_segment()
            self._open_segment(index)
        assert self._current is not None
        self._current.count += 1
        if isinstance(picture, av.VideoFrame):
            with self._lock:
                if id(picture) in self._in_flight:
                    picture = _copy_frame(picture)  # its pts is set when it is encoded
                self._in_flight[id(picture)] = self._in_flight.get(id(picture), 0) + 1
        self._frame_pts.append(pts)
        self._current.frames.put((picture, pts, duration, index))
        self.frames_written += 1
        if self._ends_segment():
            self._close_segment()

    def _starts_segment(self, index: int) -> bool:
        """Whether output frame ``index`` opens a new segment (every ``segment_frames`` here)."""
        return index % self.segment_frames == 0

    def _ends_segment(self) -> bool:
        """Whether the frame just dispatched was its segment's last."""
        return self.frames_written % self.segment_frames == 0

    def _open_segment(self, first_frame: int) -> None:
        self._current = _Segment(self.segments, first_frame)
        self.segments += 1
        self._order.put(self._current)
        self._todo.put(self._current)

    def _close_segment(self) -> None:
        if self._current is not None:
            self._current.frames.put(None)
            self._current = None

    def _finish_encoding(self, end_pts: int | None) -> None:
        if self._pending is not None:
            picture, pts = self._pending
            tail = end_pts - pts if end_pts is not None and end_pts > pts else None
            self._dispatch(picture, pts, tail or self._last_delta or self._setup.nominal_duration())
            self._pending = None
        self._close_segment()
        for _ in range(self.workers):
            self._todo.put(None)
        self._order.put(None)
        for thread in self._threads:
            thread.join()

    def _stop_threads(self) -> None:
        with self._ready:
            self._ready.notify_all()
        deadline = time.monotonic() + CLOSE_TIMEOUT
        for thread in self._threads:  # every thread polls _stop; a hung encoder is left behind
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    # -- threads -----------------------------------------------------------------------------

    def _guard(self, target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # handed to the producer
            with self._ready:
                if self._error is None:
                    self._error = self._explain(exc)
                self._stop.set()
                self._ready.notify_all()

    def _encoder_failed_at(self) -> str:
        return f"The {self.codec_name} encoder failed near output frame {self.frames_encoded}"

    def _get(self, source: queue.Queue):
        """Next item of a queue, or raise _Stopped once abort() or a failure stops the run."""
        while True:
            if self._stop.is_set():
                raise _Stopped
            with contextlib.suppress(queue.Empty):
                return source.get(timeout=_POLL)

    def _work(self) -> None:
        """Encoder thread: take whole segments in order and encode each with a fresh encoder."""
        with contextlib.suppress(_Stopped):
            while (segment := self._get(self._todo)) is not None:
                self._encode_segment(segment)

    def _encode_segment(self, segment: _Segment) -> None:
        ctx = self._new_encoder()
        durations: dict[int, int] = {}
        with self._ready:
            segment.extradata = ctx.extradata
        while True:
            item = self._get(segment.frames)
            start = self.clock()
            if item is None:
                self._hand_over(segment, ctx.encode(None), durations, done=True)
                with self._ready:
                    self.encode_seconds += self.clock() - start
                return
            picture, pts, duration, index = item
            if self.fault is not None:
                self.fault(index)
            frame = self._setup.to_frame(picture)
            frame.pts, frame.time_base, frame.duration = pts, self.time_base, duration
            frame.pict_type = av.video.frame.PictureType.NONE
            durations[pts] = duration
            packets = ctx.encode(frame)
            self._slots.release()
            if isinstance(picture, av.VideoFrame):
                with self._lock:
                    if self._in_flight.get(id(picture), 0) > 1:
                        self._in_flight[id(picture)] -= 1
                    else:
                        self._in_flight.pop(id(picture), None)
            self._hand_over(segment, packets, durations, done=False)
            with self._ready:
                self.frames_encoded += 1
                self.encode_seconds += self.clock() - start

    def _hand_over(
        self, segment: _Segment, packets: list[av.Packet], durations: dict[int, int], done: bool
    ) -> None:
        for packet in packets:
            packet.time_base = self.time_base
            if packet.pts is not None and not packet.duration:
                packet.duration = durations.pop(packet.pts, 0) or packet.duration
            else:
                durations.pop(packet.pts, None)
        with self._ready:
            segment.packets.extend(packets)
            segment.done = done
            self._ready.notify_all()

    def _mux_all(self) -> None:
        """Mux thread: each segment's packets in segment order, audio interleaved."""
        with contextlib.suppress(_Stopped):
            first = True
            last_dts: int | None = None
            while (segment := self._get(self._order)) is not None:
                while True:
                    with self._ready:
                        while not segment.packets and not segment.done:
                            if self._stop.is_set():
                                raise _Stopped
                            self._ready.wait(_POLL)
                        packets = list(segment.packets)
                        segment.packets.clear()
                        finished = segment.done and not segment.packets
                        extradata = segment.extradata
                    if first and packets:
                        self._set_extradata(extradata)
                        first = False
                    elif packets and extradata != self._file.stream.codec_context.extradata:
                        raise EncodeError(
                            f"Segment {segment.number + 1}'s encoder used other stream headers; the segments cannot be joined."
                        )
                    start = self.clock()
                    last_dts = self._mux(packets, last_dts)
                    self.mux_seconds += self.clock() - start
                    if finished:
                        break
            self._file.finish_audio()

    def _set_extradata(self, extradata: bytes | None) -> None:
        assert self._file is not None and self._file.stream is not None
        if extradata is not None:
            self._file.stream.codec_context.extradata = extradata

    def _mux(self, packets: list[av.Packet], last_dts: int | None) -> int | None:
        assert self._file is not None and self._file.stream is not None
        for packet in packets:
            if packet.pts is not None:
                packet.dts = self._decode_stamp(packet)
                if packet.dts > packet.pts or (last_dts is not None and packet.dts <= last_dts):
                    raise EncodeError(
                        "A segment's encoder reordered frames more than the first one; the segments cannot be joined."
                    )
                last_dts = packet.dts
            self._packets_muxed += 1
            packet.stream = self._file.stream
            self._file.mux(packet)
        return last_dts

    def _decode_stamp(self, packet: av.Packet) -> int:
        """The joined stream's dts for the next packet: the pts ``reorder`` frames back.

        Each segment's encoder starts its dts over ``reorder`` frames before its first pts,
        and a short last segment may not reorder at all; restamping every packet this way
        gives one strictly increasing dts series, as a single encoder would have written.
        """
        first = self._frame_pts[0]
        step = self._frame_pts[1] - first if len(self._frame_pts) > 1 else self._setup.nominal_duration()
        if self._reorder is None:
            encoder_dts = packet.dts if packet.dts is not None else first
            self._reorder = max(0, round((first - encoder_dts) / step))
        j = self._packets_muxed - self._reorder
        return self._frame_pts[j] if j >= 0 else first + j * step


def _copy_frame(frame: av.VideoFrame) -> av.VideoFrame:
    """A copy of ``frame`` with its own buffers and colour tags, plane by plane (any format)."""
    copy = av.VideoFrame(frame.width, frame.height, frame.format.name)
    for src, dst in zip(frame.planes, copy.planes, strict=True):
        rows = np.frombuffer(src, np.uint8).reshape(-1, src.line_size)
        out = np.frombuffer(dst, np.uint8).reshape(-1, dst.line_size)
        width = min(src.line_size, dst.line_size)
        height = min(len(rows), len(out))
        out[:height, :width] = rows[:height, :width]
    copy.colorspace, copy.color_range = frame.colorspace, frame.color_range
    copy.color_primaries, copy.color_trc = frame.color_primaries, frame.color_trc
    return copy


class _Stopped(Exception):
    """Raised inside a thread when the run is aborted or another thread failed."""
