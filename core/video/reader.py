"""Threaded decoding of the input video into RGB frames with clean, increasing timestamps."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from core.errors import DecodeError
from core.video.probe import VideoInfo, stream_seconds

CLOSE_TIMEOUT = 10.0  # seconds to wait for the decode thread when closing
_POLL = 0.05  # seconds between checks of the stop flag while the queue is full


@dataclass
class DecodedFrame:
    """One decoded input frame."""

    index: int  # 0-based decode order after dropping broken/duplicate-pts frames
    pts: int  # in VideoInfo.time_base, strictly increasing
    time: Fraction  # pts * time_base, in seconds
    duration: int | None  # pts units if the container knows it
    rgb: np.ndarray  # (H, W, 3) uint8 RGB, C-contiguous (a thumbnail on the device frame path)
    source: av.VideoFrame  # the decoded frame itself, for bit-exact passthrough


@dataclass
class _End:
    """Sentinel: the stream ended normally."""


@dataclass
class _Failure:
    """Sentinel: the decode thread failed with ``error``."""

    error: BaseException


class _MissedStart(Exception):
    """A seek landed after the frame a resumed job starts at."""


class _Stopped(Exception):
    """The consumer closed the reader; the thread winds down."""


class FrameReader:
    """Decodes ``path`` in its own thread into a bounded queue; iterate to get DecodedFrames.

    Frames without a pts get one extrapolated from the previous frame; frames whose pts does
    not increase are dropped and counted in ``dropped``. A stream that breaks, or ends short of
    what its header promised, makes iteration raise DecodeError naming the frame number.
    ``fault``, if given, is called with each frame index before the frame is queued; whatever
    it raises reaches the consumer unchanged. ``interrupt``, if given, is called while the
    consumer waits for a frame; what it raises (a stall error) ends the iteration.
    ``convert`` makes ``DecodedFrame.rgb`` in the decode thread (default: the full frame as
    RGB through swscale; the device frame path passes a thumbnail maker instead).
    ``start_pts`` with ``start_index`` starts at a later frame (a resumed job): the decoder
    seeks to the keyframe at or before it, decodes forward, and hands over frames from the one
    at ``start_pts`` on, numbered from ``start_index``; when the seek lands past it, decoding
    starts over from the beginning. ``start_index`` alone decodes from the beginning and
    hands over frames from that index on.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        info: VideoInfo,
        queue_size: int = 8,
        fault: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        interrupt: Callable[[], None] | None = None,
        convert: Callable[[av.VideoFrame], np.ndarray] | None = None,
        start_index: int = 0,
        start_pts: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.info = info
        self.fault = fault
        self.interrupt = interrupt
        self.convert = convert or _to_rgb
        self.clock = clock
        self.start_index = start_index
        self.start_pts = start_pts
        self.decode_seconds = 0.0
        self.dropped = 0
        self.packets = 0  # non-empty packets demuxed
        self.discarded_packets = 0  # of those, the ones flagged 'discard' (edit lists trim them)
        self._queue: queue.Queue[DecodedFrame | _End | _Failure] = queue.Queue(max(1, queue_size))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = False

    # -- consumer side ---------------------------------------------------------------------

    def __enter__(self) -> FrameReader:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the decode thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="framedeck-decode", daemon=True)
            self._thread.start()

    def __iter__(self) -> Iterator[DecodedFrame]:
        self.start()
        while not self._done:
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                if self.interrupt is not None:
                    self.interrupt()
                if self._thread is not None and not self._thread.is_alive() and self._queue.empty():
                    self._done = True
                    raise DecodeError("The decoder thread stopped without a result.") from None
                continue
            if isinstance(item, DecodedFrame):
                yield item
            elif isinstance(item, _Failure):
                self._done = True
                raise item.error
            else:
                self._done = True

    def close(self) -> None:
        """Stop the decode thread, wait for it and release the input file."""
        self._stop.set()
        self._done = True
        if self._thread is not None:
            deadline = time.monotonic() + CLOSE_TIMEOUT
            while self._thread.is_alive() and time.monotonic() < deadline:
                self._drain()
                self._thread.join(timeout=_POLL)
            # a decoder hung inside libav cannot be stopped; it is a daemon thread, left behind
        self._drain()

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    # -- decode thread ---------------------------------------------------------------------

    def _put(self, item: DecodedFrame | _End | _Failure) -> None:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            self._decode_all()
            self._put(_End())
        except _Stopped:
            return
        except BaseException as exc:  # handed to the consumer unchanged
            try:
                self._put(_Failure(exc))
            except _Stopped:
                return

    def _expected(self) -> str:
        if self.info.frame_count:
            return f"about {self.info.frame_count}"
        if self.info.duration:
            return f"about {round(self.info.duration * float(self.info.fps))}"
        return "an unknown number"

    def _corrupt(self, at: int, reason: str) -> DecodeError:
        return DecodeError(
            f"The input stream is corrupt at frame {at} of {self._expected()} in {self.path.name} ({reason})."
        )

    def _decode_all(self) -> None:
        try:
            container = av.open(str(self.path))
        except av.FFmpegError as exc:
            raise DecodeError(f"The input file {self.path.name} can no longer be opened ({exc.strerror}).") from None
        with container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if self.start_pts is None:
                self._decode_stream(container, stream)
                return
            with contextlib.suppress(_MissedStart):
                self._seek(container, stream, self.start_pts)
                self._decode_stream(container, stream)
                return
            self.dropped = self.packets = self.discarded_packets = 0
            container.seek(0, stream=stream, backward=True, any_frame=False)
            self._decode_stream(container, stream)

    def _seek(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream, pts: int) -> None:
        """Seek to the keyframe at or before ``pts``, with a margin for frames decoded before it."""
        margin = round(2 / float(self.info.time_base))  # two seconds in the stream's time base
        try:
            container.seek(max(0, pts - margin), stream=stream, backward=True, any_frame=False)
        except av.FFmpegError:
            raise _MissedStart from None

    def _decode_stream(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> None:
        time_base = self.info.time_base
        nominal = max(1, round(1 / (self.info.fps * time_base)))
        skip_before = self.start_pts
        index = self.start_index if skip_before is not None else 0  # else frames before start_index are skipped
        last_pts: int | None = None
        last_duration: int | None = None
        first_pts: int | None = None
        packets = container.demux(stream)
        while True:
            if self._stop.is_set():
                raise _Stopped
            start = self.clock()
            try:
                packet = next(packets, None)
                if packet is None:
                    break
                if packet.size:
                    self.packets += 1
                    self.discarded_packets += packet.is_discard
                frames = packet.decode()
            except av.FFmpegError as exc:
                raise self._corrupt(index + self.dropped, exc.strerror or type(exc).__name__) from None
            for frame in frames:
                pts = frame.pts
                if pts is None:
                    pts = 0 if last_pts is None else last_pts + (last_duration or nominal)
                if skip_before is not None:  # a resumed job: frames before its first are not wanted
                    if pts < skip_before:
                        continue
                    if pts != skip_before:
                        raise _MissedStart
                    skip_before = None
                if frame.is_corrupt:
                    if index == self.start_index:  # leading frames that reference pictures before the cut
                        self.dropped += 1
                        continue
                    raise self._corrupt(index + self.dropped, "the decoder flagged the picture as damaged")
                if last_pts is not None and pts <= last_pts:
                    self.dropped += 1
                    continue
                if index < self.start_index:  # a start without its pts: count frames up to it
                    last_pts, last_duration = pts, frame.duration or None
                    index += 1
                    continue
                rgb = self.convert(frame)
                self.decode_seconds += self.clock() - start
                duration = frame.duration or None
                decoded = DecodedFrame(
                    index=index,
                    pts=pts,
                    time=pts * time_base,
                    duration=duration,
                    rgb=rgb,
                    source=frame,
                )
                if self.fault is not None:
                    self.fault(index)
                self._put(decoded)
                start = self.clock()
                if first_pts is None:
                    first_pts = pts
                last_pts, last_duration = pts, duration
                index += 1
            self.decode_seconds += self.clock() - start
        self._check_complete(stream, index, first_pts, last_pts, last_duration or nominal)

    def _check_complete(
        self,
        stream: av.video.stream.VideoStream,
        decoded: int,
        first_pts: int | None,
        last_pts: int | None,
        last_duration: int,
    ) -> None:
        """Raise DecodeError when the stream produced fewer frames than its header promised."""
        produced = decoded + self.dropped
        header = self.info.frame_count
        if header:
            # Each header frame is a packet; one that gave no picture was lost or silently skipped.
            if produced + self.discarded_packets < header:
                reason = "the stream ends early" if self.packets < header else "the decoder skipped damaged data"
                raise self._corrupt(produced, reason)
            return
        seconds = stream_seconds(stream)
        if seconds is None or first_pts is None or last_pts is None:
            return
        decoded_seconds = float((last_pts + last_duration - first_pts) * self.info.time_base)
        period = 1 / float(self.info.fps)
        if decoded_seconds < seconds - 1.5 * period:
            raise self._corrupt(produced, "the stream ends early")


def _to_rgb(frame: av.VideoFrame) -> np.ndarray:
    return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
