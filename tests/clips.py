"""Small clips made with PyAV for pipeline tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def moving_frames(n: int, width: int = 64, height: int = 48, speed: float = 2.0, seed: int = 0) -> list[np.ndarray]:
    """A smooth textured background (large blobs plus fine grain) scrolling ``speed`` px per frame."""
    import cv2

    rng = np.random.default_rng(seed)
    full_w = width + int(np.ceil(speed * n)) + 8
    coarse = rng.integers(0, 256, size=(max(2, height // 8), max(2, full_w // 8), 3), dtype=np.uint8)
    big = cv2.resize(coarse, (full_w, height), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    big += rng.integers(-12, 13, size=big.shape, dtype=np.int16)
    big = np.clip(big, 0, 255).astype(np.uint8)
    return [np.ascontiguousarray(big[:, int(i * speed) : int(i * speed) + width]) for i in range(n)]


def write_frames(
    path: Path,
    frames: Sequence[np.ndarray],
    fps: Fraction = Fraction(24),
    codec: str = "ffv1",
    pix_fmt: str = "bgr0",
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    audio_seconds: float | None = None,
    frame_hook: Callable[[av.VideoFrame, int], None] | None = None,
) -> Path:
    """Encode ``frames`` to ``path``; ``pts``/``time_base`` give variable timing; optional AAC tone."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        if time_base is not None:
            stream.codec_context.time_base = time_base
            stream.time_base = time_base
        audio = None
        if audio_seconds:
            audio = out.add_stream("aac", rate=48000)
            audio.layout = "mono"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
            if pts is not None:
                frame.pts = pts[i]
                frame.time_base = time_base
            if frame_hook:
                frame_hook(frame, i)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
        if audio is not None:
            n = int(48000 * audio_seconds)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(n) / 48000)).astype(np.float32)
            for start in range(0, n, 1024):
                chunk = tone[start : start + 1024]
                af = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
                af.sample_rate = 48000
                af.pts = start
                out.mux(audio.encode(af))
            out.mux(audio.encode())
    return path


def write_audio_only(path: Path, seconds: float = 0.5) -> Path:
    """A file with one silent AAC stream and no video."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        stream.layout = "mono"
        for start in range(0, int(48000 * seconds), 1024):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
            frame.sample_rate, frame.pts = 48000, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def read_frames(path: Path) -> tuple[list[np.ndarray], list[float]]:
    """All frames as RGB arrays and their times in seconds."""
    frames, times = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            times.append(float(frame.pts * frame.time_base))
    return frames, times


def all_packets(path: Path) -> list[tuple[str, int | None, int | None, bytes]]:
    """Every packet of every stream: type, pts, dts and bytes (to compare outputs exactly)."""
    with av.open(str(path)) as c:
        return [(p.stream.type, p.pts, p.dts, bytes(p)) for p in c.demux() if p.size]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
