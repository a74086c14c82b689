"""Awkward real-world inputs made with PyAV: AVI with B-frames, start offsets, many streams, damage."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.clips import moving_frames

W, H = 64, 48


def _tone(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float, start: float = 0.0,
          freq: float = 440.0) -> None:
    """Encode ``seconds`` of a sine into ``stream`` starting at ``start`` seconds."""
    rate = stream.codec_context.sample_rate
    n = int(rate * seconds)
    tone = (0.2 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)
    step = stream.codec_context.frame_size or 1024
    offset = round(start * rate)
    for first in range(0, n, step):
        chunk = tone[first : first + step]
        if len(chunk) < step:
            chunk = np.pad(chunk, (0, step - len(chunk)))
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = offset + first
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


def _video_stream(out: av.container.OutputContainer, codec: str, rate: int, options: dict[str, str] | None = None):
    stream = out.add_stream(codec, rate=rate, options=options or {})
    stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
    return stream


def _encode_video(out, stream, frames: Sequence[np.ndarray], pts: Sequence[int], time_base: Fraction) -> None:
    for rgb, p in zip(frames, pts, strict=True):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = p, time_base
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


def avi_with_bframes(path: Path, n: int = 20, fps: int = 10, audio: bool = True) -> Path:
    """H.264 with B-frames (bf=3) plus AAC in AVI, which has no presentation timestamps."""
    with av.open(str(path), "w") as out:
        stream = _video_stream(out, "libx264", fps, {"bf": "3", "g": "12"})
        tone = out.add_stream("aac", rate=48000) if audio else None
        if tone is not None:
            tone.layout = "mono"
        _encode_video(out, stream, moving_frames(n), range(n), Fraction(1, fps))
        if tone is not None:
            _tone(out, tone, n / fps)
    return path


def overstate_avi_length(path: Path, factor: int = 2) -> int:
    """Multiply every frame count in an AVI header (avih, strh of the video, dmlh) by ``factor``.

    The stream itself is untouched and decodes cleanly. Returns the claimed count.
    """
    data = bytearray(path.read_bytes())
    avih = data.find(b"avih")
    total = struct.unpack_from("<I", data, avih + 8 + 16)[0]
    claimed = total * factor
    struct.pack_into("<I", data, avih + 8 + 16, claimed)
    strh = data.find(b"strh")
    assert data[strh + 8 : strh + 12] == b"vids"
    struct.pack_into("<I", data, strh + 8 + 32, claimed)  # dwLength
    dmlh = data.find(b"dmlh")
    if dmlh > 0:
        struct.pack_into("<I", data, dmlh + 8, claimed)
    path.write_bytes(bytes(data))
    return claimed


def clip_with_start(path: Path, start: Fraction, n: int = 12, fps: int = 24, audio: bool = True,
                    codec: str = "libx264", options: dict[str, str] | None = None) -> Path:
    """A clip whose video (and audio) starts at ``start`` seconds (mkv, ts or mp4 by extension)."""
    with av.open(str(path), "w") as out:
        stream = _video_stream(out, codec, fps, options)
        stream.codec_context.time_base = Fraction(1, fps)
        tone = out.add_stream("aac", rate=48000) if audio else None
        if tone is not None:
            tone.layout = "mono"
        first = round(start * fps)
        _encode_video(out, stream, moving_frames(n), [first + i for i in range(n)], Fraction(1, fps))
        if tone is not None:
            _tone(out, tone, n / fps, start=float(start))
    return path


def vfr_with_bframes(path: Path, pts_ms: Sequence[int], last_ms: int) -> Path:
    """libx264 with B-frames at variable timing (ms), the last frame lasting ``last_ms``."""
    tb = Fraction(1, 1000)
    n = len(pts_ms)
    with av.open(str(path), "w") as out:
        stream = _video_stream(out, "libx264", 24, {"bf": "2", "g": "30"})
        stream.codec_context.time_base = tb
        stream.time_base = tb
        for i, (rgb, p) in enumerate(zip(moving_frames(n), pts_ms, strict=True)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = p, tb
            frame.duration = (pts_ms[i + 1] if i + 1 < n else p + last_ms) - p
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def rich_mkv(path: Path, n: int = 12, fps: int = 24, font: bytes = b"\x00\x01\x00\x00fake-font") -> Path:
    """mkv: video, two AAC tracks (eng, fra) with titles, an SRT subtitle track, a font, two chapters."""
    seconds = n / fps
    with av.open(str(path), "w") as out:
        out.metadata["title"] = "Rich test clip"
        out.metadata["comment"] = "made by tests/footage.py"
        video = _video_stream(out, "libx264", fps)
        video.metadata["title"] = "Main picture"
        tracks = []
        for language, title, freq in (("eng", "English stereo", 440.0), ("fra", "Français", 660.0)):
            tone = out.add_stream("aac", rate=48000)
            tone.layout = "mono"
            tone.metadata["language"] = language
            tone.metadata["title"] = title
            tracks.append((tone, freq))
        subs = out.add_mux_stream("subrip")
        subs.metadata["language"] = "deu"
        subs.metadata["title"] = "Deutsch"
        out.add_attachment("font.ttf", "application/x-truetype-font", font)
        out.set_chapters(_chapters(seconds))
        _encode_video(out, video, moving_frames(n), range(n), Fraction(1, fps))
        for tone, freq in tracks:
            _tone(out, tone, seconds, freq=freq)
        for i, (start, end, text) in enumerate(((0.0, 0.2, "Hallo"), (0.25, 0.45, "Welt"))):
            packet = av.Packet(text.encode())
            packet.stream = subs
            packet.time_base = Fraction(1, 1000)
            packet.pts = packet.dts = round(start * 1000)
            packet.duration = round((end - start) * 1000)
            del i
            out.mux(packet)
    return path


def _chapters(seconds: float) -> list[dict]:
    half = round(seconds * 500)
    return [
        {"id": 1, "start": 0, "end": half, "time_base": Fraction(1, 1000), "metadata": {"title": "Opening"}},
        {"id": 2, "start": half, "end": round(seconds * 1000), "time_base": Fraction(1, 1000),
         "metadata": {"title": "Ending"}},
    ]


def cut_bytes_from_middle(path: Path, fraction: float = 0.3) -> None:
    """Remove ``fraction`` of the file's bytes from its middle (the container resyncs after the hole)."""
    data = path.read_bytes()
    size = int(len(data) * fraction)
    middle = len(data) // 2
    path.write_bytes(data[: middle - size // 2] + data[middle + size // 2 :])


def noise_mkv(path: Path, n: int = 30, fps: int = 24, codec: str = "libx264") -> Path:
    """Incompressible frames in mkv, so that clusters are large and a cut removes whole frames."""
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]
    with av.open(str(path), "w") as out:
        stream = _video_stream(out, codec, fps, {"g": "1"} if codec == "libx264" else None)
        _encode_video(out, stream, frames, range(n), Fraction(1, fps))
    return path


def avi_with_a_held_frame(path: Path, n: int = 8, fps: int = 10, held_at: int = 4) -> Path:
    """H.264 in AVI with an empty chunk at tick ``held_at``: the frame before it shows for two ticks."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = W, H, "yuv420p"
    encoder.time_base, encoder.framerate = Fraction(1, fps), Fraction(fps)
    encoder.options = {"bf": "0"}
    packets = []
    for i, rgb in enumerate(moving_frames(n)):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.extradata = encoder.extradata
        for i, packet in enumerate(packets):
            packet.pts = packet.dts = i if i < held_at else i + 1  # the muxer writes an empty chunk
            packet.time_base, packet.stream = Fraction(1, fps), stream
            out.mux(packet)
    return path


ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, Bold\n"
    b"Style: Default,Arial,16,&Hffffff,0\n\n[Events]\nFormat: Layer, Start, End, Style, Text\n"
)


def mkv_with_ass(path: Path, n: int = 6, fps: int = 24) -> Path:
    """mkv with an ASS (styled) subtitle track in Japanese."""
    with av.open(str(path), "w") as out:
        video = _video_stream(out, "libx264", fps)
        subs = out.add_stream("ass")
        subs.codec_context.subtitle_header = ASS_HEADER
        subs.codec_context.time_base = Fraction(1, 1000)
        subs.metadata["language"] = "jpn"
        _encode_video(out, video, moving_frames(n), range(n), Fraction(1, fps))
        packet = av.Packet(b"0,0,Default,,0,0,0,,{\\b1}Konnichiwa")
        packet.stream, packet.time_base = subs, Fraction(1, 1000)
        packet.pts = packet.dts = 0
        packet.duration = 100
        out.mux(packet)
    return path


def ts_with_klv(path: Path, n: int = 6, fps: int = 24) -> Path:
    """MPEG-TS with a KLV metadata data stream beside the video."""
    with av.open(str(path), "w") as out:
        video = _video_stream(out, "libx264", fps)
        klv = out.add_data_stream("klv")
        _encode_video(out, video, moving_frames(n), range(n), Fraction(1, fps))
        packet = av.Packet(b"\x06\x0e\x2b\x34" + bytes(12))
        packet.stream, packet.time_base = klv, Fraction(1, 90000)
        packet.pts = packet.dts = 0
        out.mux(packet)
    return path
