"""Threaded decoding of the input video into RGB frames with clean, increasing timestamps."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from core.errors import DecodeError
from core.video.keyframe_index import Keyframe, KeyframeIndex
from core.video.probe import RAW_STREAM_FORMATS, VideoInfo, stream_seconds, truncated
from core.video.timeline import DamageReport, Timeline

CLOSE_TIMEOUT = 10.0  # seconds to wait for the decode thread when closing
_POLL = 0.05  # seconds between checks of the stop flag while the queue is full
# containers whose video packets carry no presentation timestamps
UNTIMED_FORMATS = frozenset({"avi", *RAW_STREAM_FORMATS})
UNREAD_SLACK = 8 * 1024  # bytes Matroska's cues and tags may take after the last video packet


@dataclass
class DecodedFrame:
    """One decoded input frame."""

    index: int  # 0-based presentation order after dropping broken/duplicate-pts frames
    pts: int  # in VideoInfo.time_base, strictly increasing (see core/video/timeline.py)
    time: Fraction  # pts * time_base, in seconds
    duration: int | None  # pts units if the container knows it; exact for the last frame
    rgb: np.ndarray  # (H, W, 3) uint8 RGB, C-contiguous (a thumbnail on the device frame path)
    source: av.VideoFrame  # the decoded frame itself, for bit-exact passthrough
    missing_before: int = 0  # frames lost to damage just before this one (0: none)
    damage_before: int = 0  # the reader's damage_seen when this frame was handed over


@dataclass
class _End:
    """Sentinel: the stream ended normally."""


@dataclass
class _Failure:
    """Sentinel: the decode thread failed with ``error``."""

    error: BaseException


class _MissedSeek(Exception):
    """Decoding from a keyframe did not give the frame the index predicted (nothing handed over yet)."""


class _Stopped(Exception):
    """The consumer closed the reader; the thread winds down."""


class FrameReader:
    """Decodes ``path`` in its own thread into a bounded queue; iterate to get DecodedFrames.

    Frames are timed by :class:`core.video.timeline.Timeline` (presentation order; index
    timing for AVI and raw streams); a frame repeating the previous timestamp is left out and
    counted in ``dropped``. Damage (packets that do not decode, gaps the frame spacing does not
    allow) is skipped and recorded in ``report``; with ``strict`` it raises DecodeError. A
    stream that breaks off (demuxer error, damaged tail, truncated file) raises
    DecodeError naming the frame number; one that ends cleanly before its header's count is
    complete, and ``report.short`` says so. ``warnings()`` and ``notes`` are for the user.
    ``fault``, if given, is called with each frame index before the frame is queued; whatever
    it raises reaches the consumer unchanged. ``interrupt``, if given, is called while the
    consumer waits for a frame; what it raises (a stall error) ends the iteration.
    ``convert`` makes ``DecodedFrame.rgb`` in the decode thread (default: the full frame as
    RGB through swscale; the device frame path passes a thumbnail maker instead).
    ``start_index`` starts at a later frame (a resumed job): every frame is still decoded and
    timed from the beginning, so timestamps and damage reports are those of a whole run, but
    frames before it are neither converted nor handed over.
    ``keyframes`` (core/video/keyframe_index.py) lets such a reader start at the keyframe at
    or before ``start_index`` instead: the timeline is brought to a whole run's state from the
    index, frames shown before the keyframe are dropped, and the first frame decoded must be
    the keyframe's, else decoding starts again from the first frame. The index cannot see
    damage before the keyframe; a caller that seeks checks its first frames against a reader
    that did not (core/seek_check.py). ``seek_frame`` says where decoding started (0: the
    first frame), ``frames_decoded`` how many frames the decoder gave, ``damage_seen`` how
    much damage was met (also before the frames handed over).
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
        strict: bool = False,
        start_index: int = 0,
        keyframes: KeyframeIndex | None = None,
    ) -> None:
        self.path = Path(path)
        self.info = info
        self.fault = fault
        self.interrupt = interrupt
        self.convert = convert or _to_rgb
        self.clock = clock
        self.strict = strict
        self.start_index = start_index
        self.keyframes = keyframes
        self.seek_frame = 0  # the frame decoding started at
        self.seek_note: str | None = None  # why a seek was given up
        self.frames_decoded = 0  # pictures the decoder gave, whether handed over or not
        self.preroll_errors = 0  # packets before a seek's keyframe that did not decode
        self.report = DamageReport(self.path.name)
        self.notes: list[str] = []
        self.last_packet_end = 0  # byte offset after the furthest video packet read
        self.held_slots = 0  # AVI: empty chunks (the frame before is held), counted in the header
        if info.container in UNTIMED_FORMATS:
            self.notes.append(
                f"{self.path.name} ({info.container}) has no presentation timestamps; "
                f"frames are timed by their index at {float(info.fps):g} fps"
            )
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

    def warnings(self) -> list[str]:
        """The damage and timing trouble seen, one sentence each (complete after iteration)."""
        return self.report.warnings()

    @property
    def damage_seen(self) -> int:
        """Every sign of damage met so far (frames left out, packets that did not decode, gaps)."""
        r = self.report
        return (self.dropped + self.preroll_errors + len(r.skipped) + len(r.gaps) + len(r.duplicates)
                + (r.backwards is not None))

    def decode_summary(self) -> str | None:
        """One line for a reader given a keyframe index: where decoding started and how much it decoded."""
        if self.keyframes is None:
            return None
        if self.seek_frame:
            return (f"decoded {self.frames_decoded} frames from the keyframe at frame {self.seek_frame} "
                    f"(the first frame needed: {self.start_index})")
        why = f" ({self.seek_note})" if self.seek_note else ""
        return f"decoded {self.frames_decoded} frames from the first frame{why}"

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
        point = self.keyframes.seek_point(self.start_index) if self.keyframes is not None else None
        if point is not None:
            try:
                self._decode_file(point)
                return
            except _MissedSeek as missed:  # nothing was handed over: start again from the first frame
                self.seek_note = str(missed)
                self.seek_frame = 0
                self.report = DamageReport(self.path.name)
                self.dropped = self.packets = self.discarded_packets = self.held_slots = 0
                self.last_packet_end = 0
        self._decode_file(None)

    def _decode_file(self, point: Keyframe | None) -> None:
        try:
            container = av.open(str(self.path))
        except av.FFmpegError as exc:
            raise DecodeError(f"The input file {self.path.name} can no longer be opened ({exc.strerror}).") from None
        with container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            self._decode_stream(container, stream, point)

    def _damage(self, at: int) -> None:
        """Under --strict, the first damage ends the job."""
        if self.strict and (self.report.damaged or self.report.short):
            raise DecodeError(
                f"The input stream of {self.path.name} is damaged near frame {at} ({self.report.first_problem()}); "
                "--strict allows no damage, so nothing was written."
            )

    def _seek(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream,
              timeline: Timeline, point: Keyframe) -> None:
        """Bring ``timeline`` to a whole run's state before ``point`` (from the index's pts) and
        seek the demuxer to it (backward: to the last keyframe whose timestamp is not after the
        keyframe's pts, which is this one or an earlier one; a later one fails the first-frame check)."""
        assert self.keyframes is not None
        report, timeline.report = timeline.report, DamageReport(self.path.name)
        for pts in self.keyframes.pts[: point.index]:
            timeline.place(pts, None)
        timeline.report = report
        self.packets = point.packets_before
        try:
            container.seek(point.pts, stream=stream, backward=True, any_frame=False)
        except av.FFmpegError as exc:
            raise _MissedSeek(f"the seek to frame {point.index} failed: {exc.strerror}") from None
        self.seek_frame = point.index

    def _decode_stream(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                       point: Keyframe | None = None) -> None:
        untimed = container.format.name in UNTIMED_FORMATS
        start_pts = stream.start_time if stream.start_time is not None else 0
        timeline = Timeline(self.info.time_base, self.info.fps, self.report,
                            index_timing=untimed, start=start_pts if untimed else 0)
        index = 0
        # a seek: packets before the keyframe's are not counted, frames before its frame are dropped
        preroll = point is not None
        counting = point is None
        if point is not None:
            self._seek(container, stream, timeline, point)
            index = point.index
        last: DecodedFrame | None = None
        # AVI: the decode timestamps of stored pictures, in order; the n-th frame shown takes
        # the n-th, so an empty chunk (a held frame) keeps its tick
        slots: deque[int] = deque()
        slot_before: int | None = None
        packets = container.demux(stream)
        while True:
            if self._stop.is_set():
                raise _Stopped
            start = self.clock()
            try:
                packet = next(packets, None)
            except av.FFmpegError as exc:  # the demuxer cannot go on: what follows is unknown
                raise self._corrupt(index + self.dropped, exc.strerror or type(exc).__name__) from None
            if packet is None:
                break
            if not counting and packet.size and packet.pts == point.pts and packet.is_keyframe:
                counting = True
            if packet.size and counting:
                self.packets += 1
                self.discarded_packets += packet.is_discard
                if packet.pos is not None and packet.pos >= 0:
                    self.last_packet_end = max(self.last_packet_end, packet.pos + packet.size)
                if untimed and packet.dts is not None:
                    if slot_before is not None:
                        self.held_slots += max(0, packet.dts - slot_before - 1)
                    slot_before = packet.dts
                    slots.append(packet.dts)
            try:
                frames = packet.decode()
            except av.FFmpegError:
                if preroll:
                    if counting:  # the keyframe itself or a packet after it: not a clean start
                        raise _MissedSeek(f"a packet near the keyframe at frame {index} did not decode") from None
                    self.preroll_errors += 1
                    continue
                if untimed and packet.dts is not None and packet.dts in slots:
                    slots.remove(packet.dts)  # its picture is lost: so is its tick
                stamp = packet.pts if packet.pts is not None else packet.dts
                self.report.skipped.append(None if stamp is None else float(stamp * packet.time_base))
                timeline.error_pending = True
                self._damage(index)
                continue
            for frame in frames:
                self.frames_decoded += 1
                if preroll:
                    if frame.pts is not None and frame.pts < point.pts:
                        continue  # shown before the keyframe: another worker's
                    if frame.pts != point.pts or frame.is_corrupt:
                        raise _MissedSeek(f"the first frame decoded after the seek to frame {index} was not "
                                          "the keyframe's")
                    preroll = False
                if frame.is_corrupt:
                    if index == 0:  # leading frames that reference pictures before the cut
                        self.dropped += 1
                        continue
                    stamp = frame.pts
                    self.report.skipped.append(None if stamp is None else float(stamp * self.info.time_base))
                    timeline.error_pending = True
                    self._damage(index)
                    continue
                duration = frame.duration or None
                placed = timeline.place(frame.pts, duration, slots.popleft() if slots else None)
                if placed is None:
                    self.dropped += 1
                    continue
                if index < self.start_index:  # a resumed job: this frame's pairs are done
                    index += 1
                    continue
                rgb = self.convert(frame)
                self.decode_seconds += self.clock() - start
                decoded = DecodedFrame(
                    index=index,
                    pts=placed.pts,
                    time=placed.pts * self.info.time_base,
                    duration=duration,
                    rgb=rgb,
                    source=frame,
                    missing_before=placed.missing,
                )
                decoded.damage_before = self.damage_seen
                if placed.missing:
                    self._damage(index)
                if self.fault is not None:
                    self.fault(index)
                self._put(decoded)
                start = self.clock()
                last = decoded
                index += 1
            self.decode_seconds += self.clock() - start
        if preroll:
            raise _MissedSeek(f"the keyframe at frame {index} was never decoded")
        if last is not None:
            last.duration = self._last_duration(stream, last, timeline)
        self._check_complete(stream, index, last, timeline)

    def _last_duration(self, stream: av.video.stream.VideoStream, last: DecodedFrame, timeline: Timeline) -> int:
        """The last frame's exact duration: to the stream's end where the header says, else its own.

        With B-frames the last frame shown is not the last one stored, so the duration of its
        own packet is wrong (mp4: its decode-order delta); the stream's end time is exact.
        """
        usual = max(timeline.recent) if timeline.recent else timeline.nominal
        if not timeline.index_timing and stream.duration and stream.start_time is not None:
            tail = stream.start_time + stream.duration - last.pts
            if 0 < tail <= 2 * usual:
                return tail
        if timeline.index_timing:
            return timeline.nominal
        return last.duration or (timeline.recent[-1] if timeline.recent else timeline.nominal)

    def _check_complete(
        self,
        stream: av.video.stream.VideoStream,
        decoded: int,
        last: DecodedFrame | None,
        timeline: Timeline,
    ) -> None:
        """Raise DecodeError when the stream broke off; a clean early end is only reported.

        A stream that delivers fewer frames than its header promises is broken when packets
        did not decode (with an error, or silently: more packets than pictures), when the
        demuxer left much of a Matroska file unread, or when the file is shorter than its own
        header says (truncated); otherwise every frame it has decoded cleanly, and it is
        complete (a warning; --strict refuses it).
        """
        produced = decoded + self.dropped + len(self.report.skipped)
        header = self.info.frame_count
        short: tuple[int, int] | None = None
        if header:
            # Each header frame is a packet; one that gave no picture was lost or silently skipped.
            if produced + self.discarded_packets + self.held_slots < header:
                short = (decoded, header)
        elif last is not None and last.duration is not None:
            header_end = _header_end(stream)
            end = float(last.time + last.duration * self.info.time_base)
            if header_end is not None and end < header_end - 1.5 / float(self.info.fps):
                start = float(stream.start_time * self.info.time_base) if stream.start_time is not None else 0.0
                short = (decoded, max(decoded + 1, round((header_end - start) * float(self.info.fps))))
        if short is None:
            return
        unread = self._unread_bytes()
        silent = self.packets - self.discarded_packets > produced  # packets that gave no picture
        if self.report.skipped or silent or truncated(self.path) or unread:
            if self.report.skipped or silent:
                reason = "the decoder skipped damaged data"
            elif unread:
                reason = f"the demuxer stopped with {unread} bytes of the file unread"
            else:
                reason = "the file is cut short"
            raise self._corrupt(produced, reason)
        self.report.short = short
        self._damage(decoded)

    def _unread_bytes(self) -> int:
        """Bytes of a Matroska file after the last video packet, when that is more than its cues
        and tags take (the demuxer gave up on damaged data). Other containers keep an index of
        unknown size at the end (AVI idx1, mp4 moov), so they are not judged this way."""
        if not self.info.container.startswith("matroska"):
            return 0
        try:
            size = self.path.stat().st_size
        except OSError:
            return 0
        unread = size - self.last_packet_end
        return unread if self.last_packet_end and unread > max(UNREAD_SLACK, size // 50) else 0


def _header_end(stream: av.video.stream.VideoStream) -> float | None:
    """The stream's end time in seconds by its header: start + duration, or a Matroska DURATION tag
    (which is already an end time)."""
    if stream.duration and stream.time_base:
        start = stream.start_time or 0
        return float((start + stream.duration) * stream.time_base)
    return stream_seconds(stream)


def _to_rgb(frame: av.VideoFrame) -> np.ndarray:
    return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
