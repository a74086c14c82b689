"""Facts about an input video, proven by decoding its first frame."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from core.errors import InputError

AV_TIME_BASE = 1_000_000


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline needs to know about the input's first video stream."""

    path: str
    width: int
    height: int
    fps: Fraction  # nominal rate (average_rate, else guessed_rate, else from timestamps;
    # for a bare .h264/.hevc stream the codec's own rate first)
    time_base: Fraction  # the video stream's time base
    frame_count: int | None  # from the header if present
    duration: float | None  # seconds
    codec: str  # e.g. "h264"
    pix_fmt: str  # decoded pixel format, e.g. "yuv420p", "gbrp"
    is_rgb: bool  # pix_fmt is an RGB family (gbrp*, rgb24, bgr0, rgba...)
    rotation: int  # degrees from the display matrix / 'rotate' metadata, 0 if none
    audio_streams: int
    stream_duration: float | None = None  # seconds of the video stream alone, when the header says
    colorspace: int = 2  # the first frame's AVColorSpace (2: unspecified)
    color_range: int = 0  # the first frame's AVColorRange (0: unspecified)
    container: str = ""  # the demuxer's short name, e.g. "matroska,webm", "avi"


def is_rgb_format(pix_fmt: str) -> bool:
    """True for RGB-family pixel formats (packed or planar)."""
    try:
        return bool(av.VideoFormat(pix_fmt).is_rgb)
    except (ValueError, av.FFmpegError):
        return pix_fmt.startswith(("gbr", "rgb", "bgr", "argb", "abgr", "0rgb", "0bgr"))


def stream_seconds(stream: av.video.stream.VideoStream) -> float | None:
    """Duration of one stream in seconds from its header, or its Matroska DURATION tag."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        match = re.fullmatch(r"(\d+):(\d+):(\d+(?:\.\d+)?)", tag.strip())
        if match:
            hours, minutes, seconds = match.groups()
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return None


def truncated(path: str | os.PathLike) -> bool:
    """True when an AVI (RIFF) or Matroska file is shorter than the size its own header gives."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return False
    if head[:4] == b"RIFF" and len(head) >= 8:
        return int.from_bytes(head[4:8], "little") + 8 > size
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: skip the EBML header, read the Segment's size
        pos = 4
        length, value = _ebml_vint(head, pos)
        pos += length + value
        if head[pos : pos + 4] != b"\x18\x53\x80\x67":
            return False
        length, value = _ebml_vint(head, pos + 4)
        if value < 0:  # "unknown size" (live streams)
            return False
        return pos + 4 + length + value > size
    return False


def _ebml_vint(data: bytes, pos: int) -> tuple[int, int]:
    """(length, value) of the EBML variable-size integer at ``pos``; value -1 for all ones."""
    if pos >= len(data):
        return 1, -1
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(data):
        return 1, -1
    value = first & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    if value == (1 << (7 * length)) - 1:
        return length, -1
    return length, value


def _rotation(stream: av.video.stream.VideoStream, first: av.VideoFrame) -> int:
    degrees = first.rotation
    if not degrees:
        try:
            degrees = int(float(stream.metadata.get("rotate", "0")))
        except ValueError:
            degrees = 0
    return round(degrees) % 360


def _first_frames(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, want: int
) -> list[av.VideoFrame]:
    """Decode up to ``want`` frames from the start; an error after the first one is ignored."""
    frames: list[av.VideoFrame] = []
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                frames.append(frame)
                if len(frames) >= want:
                    return frames
    except av.FFmpegError:
        if not frames:
            raise
    return frames


# Demuxers of bare elementary streams: they have no timestamps, and their average rate is
# their own default (25 fps), not the stream's; the codec's rate (H.264/HEVC VUI timing) is.
RAW_STREAM_FORMATS = frozenset({"h264", "hevc", "m4v", "mpegvideo", "obu", "vvc"})


def _nominal_rate(
    stream: av.video.stream.VideoStream, frames: list[av.VideoFrame], raw_stream: bool = False
) -> Fraction | None:
    rates = (stream.average_rate, stream.guessed_rate)
    if raw_stream:
        rates = (stream.codec_context.framerate, stream.guessed_rate, stream.average_rate)
    for rate in rates:
        if rate and rate > 0:
            return Fraction(rate)
    if len(frames) >= 2 and frames[0].pts is not None and frames[1].pts is not None:
        delta = frames[1].pts - frames[0].pts
        if delta > 0 and stream.time_base:
            return 1 / (delta * Fraction(stream.time_base))
    return None


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Open ``path``, decode its first frame and describe its first video stream.

    Raises InputError with one sentence for a missing file, a folder, a file that is not a
    video, a file without a video stream and a video stream from which no frame decodes.
    """
    file = Path(path)
    if not file.exists():
        raise InputError(f"The input file {file} does not exist.")
    if file.is_dir():
        raise InputError(f"The input {file} is a folder, not a video file.")
    if not os.access(file, os.R_OK):
        raise InputError(f"The input file {file} cannot be read (permission denied).")
    try:
        container = av.open(str(file))
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise InputError(f"The input file {file} is not a video file that can be read ({reason}).") from None
    with container:
        audio_streams = len(container.streams.audio)
        if not container.streams.video:
            if audio_streams:
                raise InputError(f"The input file {file} holds only audio, no video stream.")
            raise InputError(f"The input file {file} has no video stream.")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate_known = bool(stream.average_rate or stream.guessed_rate)
        try:
            frames = _first_frames(container, stream, 1 if rate_known else 2)
        except av.FFmpegError as exc:
            raise InputError(
                f"The video stream of {file} is broken: its first frame does not decode ({exc.strerror})."
            ) from None
        if not frames:
            raise InputError(f"The video stream of {file} has no frame that decodes.")
        first = frames[0]
        fps = _nominal_rate(stream, frames, container.format.name in RAW_STREAM_FORMATS)
        if fps is None:
            raise InputError(f"The frame rate of {file} cannot be determined from its header or timestamps.")
        stream_duration = stream_seconds(stream)
        duration = stream_duration
        if duration is None and container.duration:
            duration = container.duration / AV_TIME_BASE
        pix_fmt = first.format.name
        return VideoInfo(
            path=str(file),
            width=first.width,
            height=first.height,
            fps=fps,
            time_base=Fraction(stream.time_base) if stream.time_base else 1 / fps,
            frame_count=stream.frames or None,
            duration=duration,
            codec=stream.codec_context.name,
            pix_fmt=pix_fmt,
            is_rgb=is_rgb_format(pix_fmt),
            rotation=_rotation(stream, first),
            audio_streams=audio_streams,
            stream_duration=stream_duration,
            colorspace=int(first.colorspace),
            color_range=int(first.color_range),
            container=container.format.name,
        )
