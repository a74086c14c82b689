"""Where a range worker may start decoding: the input's keyframes, found by demuxing alone.

A worker that makes pairs ``[a, b)`` of a clip shared out over several devices
(core/device_job.py) needs frames from ``a`` (less the scene-cut look-back) on. Decoding from the
first frame costs a decode of everything before; :class:`KeyframeIndex` lets the reader
(core/video/reader.py) start at the keyframe at or before the first frame it needs instead.

The index is one demux pass over the video stream's packets (nothing is decoded): every
packet's pts, so each keyframe's presentation index is the rank of its pts, and the reader's
:class:`core.video.timeline.Timeline` can be brought to the state a whole run has there by
feeding it the pts before the keyframe. That is exact only for a plain stream, so the input is
**seekable** only when all of these hold (else every worker decodes from the first frame, as
before, and the log says why once):

* a timed container whose seeking is by the sample index: mp4/mov, Matroska/WebM (AVI and
  raw streams are timed by their index and read from the start; MPEG-TS seeks by bytes);
* every video packet has a pts, no two have the same, none is flagged ``discard`` (edit lists
  that trim frames), and the demuxer reads to the end without an error;
* the first packet is a keyframe that shows the first frame (no leading frames to drop);
* a codec whose keyframes are random access points: H.264 keyframes count only when they hold
  an IDR slice, HEVC ones an IRAP picture (IDR, CRA, BLA; a CRA's leading pictures come
  before it in presentation order and are dropped), and VP8/VP9/AV1, MPEG-2/4 and the
  intra-only codecs as flagged.

Damage the demuxer cannot see (a packet that does not decode, before a seek point) would shift
the frame numbers of a worker that seeks past it; the reader checks its first frame against the
index, and core/seek_check.py checks every range's first frame against the frame its neighbour
decoded there before the output is joined.
"""

from __future__ import annotations

import bisect
import os
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av

SEEKABLE_FORMATS = frozenset({"mov", "mp4", "matroska", "webm"})  # any name of the demuxer's
# codecs whose container keyframes decode on their own (intra-only ones, and those whose key
# frames reset every reference); H.264 and HEVC are checked packet by packet
TRUSTED_KEYFRAMES = frozenset({
    "vp8", "vp9", "av1", "mpeg2video", "mpeg1video", "mpeg4", "prores", "ffv1", "mjpeg", "dnxhd",
    "png", "qtrle", "utvideo", "huffyuv", "ffvhuff", "rawvideo", "v210", "cfhd", "dvvideo",
})
H264_IDR = 5
HEVC_IRAP = range(16, 24)  # BLA, IDR, CRA and the reserved IRAP types


@dataclass(frozen=True)
class Keyframe:
    """A point the reader may start decoding at."""

    index: int  # presentation index of the frame it shows (the rank of its pts)
    pts: int
    dts: int | None
    packets_before: int  # non-empty video packets before it in demux order


@dataclass
class KeyframeIndex:
    """The keyframes of a video stream and every frame's pts; ``reason`` says why it cannot be sought."""

    pts: Sequence[int] = field(default_factory=list)  # every frame's pts, in presentation order
    keyframes: list[Keyframe] = field(default_factory=list)
    reason: str | None = None

    @property
    def seekable(self) -> bool:
        return self.reason is None

    @classmethod
    def build(cls, path: str | os.PathLike) -> KeyframeIndex:
        """Demux ``path``'s first video stream (no decoding) and judge whether it can be sought."""
        name = Path(path).name
        try:
            container = av.open(str(path))
        except av.FFmpegError:
            return cls(reason=f"{name} could not be opened for its keyframe index")
        with container:
            if not container.streams.video:
                return cls(reason=f"{name} has no video stream")
            formats = set(container.format.name.split(","))
            if not formats & SEEKABLE_FORMATS:
                return cls(reason=f"{name} is {container.format.name}, which framedeck reads from the start")
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            if codec not in TRUSTED_KEYFRAMES and codec not in ("h264", "hevc"):
                return cls(reason=f"the keyframes of {codec} are not known to decode on their own")
            return cls._scan(container, stream, name, codec)

    @classmethod
    def _scan(cls, container: av.container.InputContainer, stream: av.video.stream.VideoStream, name: str,
              codec: str) -> KeyframeIndex:
        nal_size = _nal_length_size(codec, stream.codec_context.extradata)
        pts: list[int] = []
        keys: list[tuple[int, int | None, int]] = []
        try:
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                if packet.pts is None:
                    return cls(reason=f"a video packet of {name} has no presentation timestamp")
                if packet.is_discard:
                    return cls(reason=f"{name} has frames its edit list leaves out")
                if packet.is_keyframe and _random_access(codec, bytes(packet), nal_size):
                    keys.append((packet.pts, packet.dts, len(pts)))
                elif not pts:
                    return cls(reason=f"{name} does not start with a keyframe")
                pts.append(packet.pts)
        except av.FFmpegError:
            return cls(reason=f"the demuxer stopped early in {name}")
        ordered = sorted(pts)
        if not ordered:
            return cls(reason=f"{name} has no video packets")
        if len(set(ordered)) != len(ordered):
            return cls(reason=f"two frames of {name} have the same timestamp")
        if keys[0][0] != ordered[0]:
            return cls(reason=f"{name} has frames shown before its first keyframe")
        keyframes = [Keyframe(bisect.bisect_left(ordered, p), p, d, before) for p, d, before in keys]
        return cls(array("q", ordered), keyframes)  # 8 bytes a frame

    def seek_point(self, first_frame: int) -> Keyframe | None:
        """The last keyframe at or before frame ``first_frame``; None when that is the first
        frame or the input cannot be sought."""
        if not self.seekable or first_frame <= 0:
            return None
        best = None
        for keyframe in self.keyframes:
            if keyframe.index > first_frame:
                break
            best = keyframe
        return best if best is not None and best.index > 0 else None

    def describe(self) -> str:
        """For the log: how workers decode this input."""
        if not self.seekable:
            return f"each worker decodes from the first frame ({self.reason})"
        frames, keys = len(self.pts), len(self.keyframes)
        return (f"each worker decodes its ranges from the nearest keyframe before them "
                f"({keys} keyframes in {frames} frames)")


def _nal_length_size(codec: str, extradata: bytes | None) -> int | None:
    """Bytes of each NAL unit's length in avcC/hvcC packets (mp4, Matroska); None: Annex B start codes."""
    if not extradata or extradata[0] != 1:
        return None
    if codec == "h264" and len(extradata) > 4:
        return (extradata[4] & 3) + 1
    if codec == "hevc" and len(extradata) > 21:
        return (extradata[21] & 3) + 1
    return None


def _nal_types(codec: str, data: bytes, nal_size: int | None) -> Iterator[int]:
    def kind(first: int) -> int:
        return first & 0x1F if codec == "h264" else (first >> 1) & 0x3F

    if nal_size is not None:
        at = 0
        while at + nal_size < len(data):
            length = int.from_bytes(data[at:at + nal_size], "big")
            if length <= 0:
                return
            yield kind(data[at + nal_size])
            at += nal_size + length
        return
    at = data.find(b"\x00\x00\x01")
    while at >= 0 and at + 3 < len(data):
        yield kind(data[at + 3])
        at = data.find(b"\x00\x00\x01", at + 3)


def _random_access(codec: str, data: bytes, nal_size: int | None) -> bool:
    """Whether a keyframe packet decodes on its own, with everything shown after it."""
    if codec == "h264":
        return any(t == H264_IDR for t in _nal_types(codec, data, nal_size))
    if codec == "hevc":
        return any(t in HEVC_IRAP for t in _nal_types(codec, data, nal_size))
    return True
