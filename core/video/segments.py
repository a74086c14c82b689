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
from pathlib import Path

import av
import numpy as np

from core.errors import EncodeError, FramedeckError, OutputError
from core.video.audio import AudioCarrier
from core.video.codecs import NVENC, resolve_codec
from core.video.formats import choose_pix_fmt, encoder_options
from core.video.probe import VideoInfo
from core.video.writer import EncoderSettings, check_output, temp_path_for

_POLL = 0.05
DEFAULT_SEGMENT_FRAMES = 120
SEGMENTABLE = ("libx264", "libx265", "ffv1")  # CPU encoders; NVENC is fast enough alone

Picture = np.ndarray | av.VideoFrame


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


def default_workers(cores: int | None = None) -> int:
    """Encoder instances worth running at once: half the cores (the rest decode, convert, mux)."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(8, cores // 2))


class SegmentedVideoWriter:
    """Like VideoWriter, but ``workers`` encoders each take a GOP-aligned segment.

    Extra parameters: ``segment_frames`` (frames per segment, a keyframe starts each),
    ``workers`` (parallel encoder instances; default half the cores), ``buffer_frames``
    (raw frames that may wait for a free encoder; default ``workers * segment_frames``,
    which is what full parallelism needs) and ``threads_per_encoder`` (libav threads of
    each encoder; default cores / workers).
    """

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
        self.output = Path(output)
        self.width, self.height = width, height
        self.time_base = Fraction(time_base)
        self.rate = Fraction(rate)
        self.settings = settings
        self.source = source
        self.fault = fault
        self.clock = clock
        self.codec_name = resolve_codec(settings.codec)
        self.notes: list[str] = []
        self.pix_fmt = choose_pix_fmt(
            self.codec_name, settings.pix_fmt, source, width, height, self.notes
        )
        self.options = encoder_options(self.codec_name, settings, self.notes)
        self.segment_frames = segment_frames
        self.workers = max(1, workers if workers is not None else default_workers())
        cores = os.cpu_count() or 1
        self.threads_per_encoder = threads_per_encoder or max(1, cores // self.workers)
        self.buffer_frames = max(1, buffer_frames or self.workers * segment_frames) + queue_size
        self.frames_written = 0  # frames handed to the writer
        self.frames_encoded = 0
        self.segments = 0
        self.encode_seconds = 0.0  # summed over the encoder threads
        self.mux_seconds = 0.0
        self.temp_path: Path | None = None
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
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._audio: AudioCarrier | None = None
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._finished = False
        self._closed = False

    # -- setup -----------------------------------------------------------------------------

    def __enter__(self) -> SegmentedVideoWriter:
        check_output(self.output, self.source)
        self.temp_path = temp_path_for(self.output)
        try:
            self._open()
        except BaseException:
            self._discard()
            raise
        for n in range(self.workers):
            self._start(self._work, f"framedeck-encode-{n}")
        self._start(self._mux_all, "framedeck-mux")
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self._finished:
            self.abort()

    def _start(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=self._guard, args=(target,), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _open(self) -> None:
        assert self.temp_path is not None
        try:
            container = av.open(str(self.temp_path), "w")
        except (av.FFmpegError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or "unknown container"
            raise OutputError(
                f"The output {self.output.name} cannot be written as {self.output.suffix} ({reason}); use .mp4 or .mkv."
            ) from None
        except OSError as exc:
            raise OutputError(
                f"The output folder {self.output.parent} cannot be written ({exc.strerror})."
            ) from None
        self._container = container
        if av.codec.Codec(self.codec_name, "w").name not in container.supported_codecs:
            raise OutputError(
                f"The {self.output.suffix} container cannot hold {self.codec_name} video; use .mkv."
            )
        stream = container.add_stream(self.codec_name, rate=self.rate, options=dict(self.options))
        self._configure(stream.codec_context)
        stream.time_base = self.time_base
        if self.source.rotation:
            stream.set_display_rotation(self.source.rotation)
        try:
            stream.codec_context.open()  # validates the settings once, before any thread starts
        except (av.FFmpegError, ValueError) as exc:
            raise OutputError(
                f"The {self.codec_name} encoder refused these settings ({getattr(exc, 'strerror', None) or exc})."
            ) from None
        self._stream = stream
        if self.source.audio_streams:
            try:
                self._audio = AudioCarrier(self.source.path, container)
            except av.FFmpegError as exc:
                raise OutputError(
                    f"The input's audio cannot be copied into {self.output.name} ({exc.strerror})."
                ) from None
            self.notes.extend(self._audio.notes)

    def _configure(self, ctx: av.video.codeccontext.VideoCodecContext) -> None:
        ctx.width, ctx.height, ctx.pix_fmt = self.width, self.height, self.pix_fmt
        ctx.time_base = self.time_base
        ctx.framerate = self.rate
        if self.codec_name not in NVENC:
            ctx.thread_count = self.threads_per_encoder

    def _new_encoder(self) -> av.video.codeccontext.VideoCodecContext:
        assert self._stream is not None
        ctx = av.CodecContext.create(self.codec_name, "w")
        self._configure(ctx)
        ctx.flags = self._stream.codec_context.flags  # global header where the container needs it
        ctx.options = dict(self.options)
        ctx.open()
        return ctx

    # -- producer side -----------------------------------------------------------------------

    def write(self, frame: Picture, pts: int) -> None:
        """Queue one frame at ``pts`` (in ``time_base``); raises EncodeError if encoding failed."""
        if not self._threads or self._finished or self._closed:
            raise RuntimeError("SegmentedVideoWriter.write() outside an open 'with' block")
        self._raise_if_failed()
        if self._pending is not None and pts <= self._pending[1]:
            raise ValueError(f"pts must increase: {pts} after {self._pending[1]}")
        if isinstance(frame, np.ndarray):
            if frame.dtype != np.uint8 or frame.shape != (self.height, self.width, 3):
                raise ValueError(
                    f"expected a ({self.height}, {self.width}, 3) uint8 array, got {frame.shape} {frame.dtype}"
                )
        elif frame.width != self.width or frame.height != self.height:
            raise ValueError(
                f"frame is {frame.width}x{frame.height}, writer is {self.width}x{self.height}"
            )
        if self._pending is not None:
            self._last_delta = pts - self._pending[1]
            self._dispatch(*self._pending, self._last_delta)
        self._pending = (frame, pts)

    def _dispatch(self, picture: Picture, pts: int, duration: int) -> None:
        """Hand one frame with its known duration to its segment, opening segments as needed."""
        while not self._slots.acquire(timeout=_POLL):
            self._raise_if_failed()
            if not all(t.is_alive() for t in self._threads):
                self._raise_if_failed()
                raise EncodeError("An encoder thread stopped unexpectedly.")
        index = self.frames_written
        if index % self.segment_frames == 0:
            self._close_segment()
            self._current = _Segment(self.segments, index)
            self.segments += 1
            self._order.put(self._current)
            self._todo.put(self._current)
        assert self._current is not None
        if isinstance(picture, av.VideoFrame):
            with self._lock:
                if id(picture) in self._in_flight:
                    picture = _copy_frame(picture)  # its pts is set when it is encoded
                self._in_flight[id(picture)] = self._in_flight.get(id(picture), 0) + 1
        self._frame_pts.append(pts)
        self._current.frames.put((picture, pts, duration, index))
        self.frames_written += 1
        if self.frames_written % self.segment_frames == 0:
            self._close_segment()

    def _close_segment(self) -> None:
        if self._current is not None:
            self._current.frames.put(None)
            self._current = None

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            error = self._error
            if isinstance(error, FramedeckError):
                raise error
            raise EncodeError(f"Encoding {self.output.name} failed ({error}).") from None

    def finish(self, end_pts: int | None = None) -> None:
        """Encode what is left, join the segments, copy the remaining audio, fsync, rename."""
        if self._finished:
            return
        try:
            if self._pending is not None:
                picture, pts = self._pending
                tail = end_pts - pts if end_pts is not None and end_pts > pts else None
                self._dispatch(picture, pts, tail or self._last_delta or self._nominal())
                self._pending = None
            self._close_segment()
            for _ in range(self.workers):
                self._todo.put(None)
            self._order.put(None)
            for thread in self._threads:
                thread.join()
            self._raise_if_failed()
            self._close_container()
            self._commit()
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise EncodeError(
                    f"Finishing {self.output.name} failed ({exc.strerror})."
                ) from None
            raise
        self._finished = True

    def _commit(self) -> None:
        assert self.temp_path is not None
        with open(self.temp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(self.temp_path, self.output)
        with contextlib.suppress(OSError):
            folder = os.open(self.output.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)

    def abort(self) -> None:
        """Stop every thread and delete the temporary file; the destination is untouched."""
        if self._finished:
            return
        self._stop.set()
        with self._ready:
            self._ready.notify_all()
        for thread in self._threads:
            thread.join()  # every thread polls _stop
        with contextlib.suppress(Exception):
            self._close_container()
        self._discard()
        self._finished = True

    def _discard(self) -> None:
        if self._container is not None and not self._closed:
            with contextlib.suppress(Exception):
                self._close_container()
        if self.temp_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.temp_path.unlink()

    def _close_container(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._audio is not None:
                self._audio.close()
        finally:
            if self._container is not None:
                self._container.close()

    def _nominal(self) -> int:
        return max(1, round(1 / (self.rate * self.time_base)))

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

    def _explain(self, exc: BaseException) -> BaseException:
        if isinstance(exc, FramedeckError):
            return exc
        if isinstance(exc, av.FFmpegError):
            return EncodeError(
                f"The {self.codec_name} encoder failed near output frame {self.frames_encoded} ({exc.strerror})."
            )
        if isinstance(exc, OSError):
            return EncodeError(f"Writing {self.output.name} failed ({exc.strerror}).")
        return exc

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
            frame = self._to_frame(picture)
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

    def _to_frame(self, picture: Picture) -> av.VideoFrame:
        if isinstance(picture, av.VideoFrame):
            if picture.format.name == self.pix_fmt:
                return picture
            return picture.reformat(format=self.pix_fmt)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        return frame if self.pix_fmt == "rgb24" else frame.reformat(format=self.pix_fmt)

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
                    elif packets and extradata != self._stream.codec_context.extradata:
                        raise EncodeError(
                            f"Segment {segment.number + 1}'s encoder used other stream headers; the segments cannot be joined."
                        )
                    start = self.clock()
                    last_dts = self._mux(packets, last_dts)
                    self.mux_seconds += self.clock() - start
                    if finished:
                        break
            if self._audio is not None:
                self._audio.finish()

    def _set_extradata(self, extradata: bytes | None) -> None:
        assert self._stream is not None
        if extradata is not None:
            self._stream.codec_context.extradata = extradata

    def _mux(self, packets: list[av.Packet], last_dts: int | None) -> int | None:
        assert self._container is not None and self._stream is not None
        for packet in packets:
            if packet.pts is not None:
                packet.dts = self._decode_stamp(packet)
                if packet.dts > packet.pts or (last_dts is not None and packet.dts <= last_dts):
                    raise EncodeError(
                        "A segment's encoder reordered frames more than the first one; the segments cannot be joined."
                    )
                last_dts = packet.dts
            self._packets_muxed += 1
            packet.stream = self._stream
            if self._audio is not None:
                stamp = packet.dts if packet.dts is not None else packet.pts
                if stamp is not None:
                    self._audio.mux_until(float(stamp * self.time_base))
            self._container.mux(packet)
        return last_dts

    def _decode_stamp(self, packet: av.Packet) -> int:
        """The joined stream's dts for the next packet: the pts ``reorder`` frames back.

        Each segment's encoder starts its dts over ``reorder`` frames before its first pts,
        and a short last segment may not reorder at all; restamping every packet this way
        gives one strictly increasing dts series, as a single encoder would have written.
        """
        first = self._frame_pts[0]
        step = self._frame_pts[1] - first if len(self._frame_pts) > 1 else self._nominal()
        if self._reorder is None:
            encoder_dts = packet.dts if packet.dts is not None else first
            self._reorder = max(0, round((first - encoder_dts) / step))
        j = self._packets_muxed - self._reorder
        return self._frame_pts[j] if j >= 0 else first + j * step


def _copy_frame(frame: av.VideoFrame) -> av.VideoFrame:
    """A copy of ``frame`` with its own buffers and colour tags."""
    copy = av.VideoFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name)
    copy.colorspace, copy.color_range = frame.colorspace, frame.color_range
    return copy


class _Stopped(Exception):
    """Raised inside a thread when the run is aborted or another thread failed."""
