"""Benchmark inputs: generated clips and trimmed copies, cached under ``bench/.cache/``.

Every clip is written under a temporary name and renamed, so an interrupted run never
leaves a half-written clip in the cache. ``machine()`` describes the box for the tables.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import cv2
import torch

from bench.paths import SHARED
from sample_media.generate import render_frame, write_clip

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
SHARED_CLIPS = SHARED / "media" / "clips"
CLIP_720P = SHARED_CLIPS / "bigbuckbunny_1280x720_25fps.mp4"
MAX_RENDER_PIXELS = 1920 * 1080  # larger clips are rendered at 1080p and resized up


def parse_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080)."""
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def generated_clip(
    width: int,
    height: int,
    fps: int = 24,
    seconds: float = 10.0,
    cache: Path = CACHE,
    render_limit: int = MAX_RENDER_PIXELS,
) -> Path:
    """The project's moving-shapes clip at this size (H.264 crf 18, no audio), made once.

    Up to ``render_limit`` pixels it is ``sample_media.generate.write_clip``; above, each frame
    is rendered at the size divided by the smallest integer that fits the limit (4K -> 1080p)
    and resized up with bicubic filtering (same motion, far cheaper to make).
    """
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"generated_{width}x{height}_{fps}fps_{seconds:g}s.mp4"
    if path.exists():
        return path
    if width * height <= render_limit:
        return write_clip(path, width, height, fps, seconds, audio=False)
    factor = math.ceil(math.sqrt(width * height / render_limit))
    small = (width // factor, height // factor)
    rate = Fraction(fps)
    pictures = (
        cv2.resize(render_frame(float(i / rate), *small), (width, height), interpolation=cv2.INTER_CUBIC)
        for i in range(round(seconds * rate))
    )
    return _encode(path, pictures, width, height, rate)


def trimmed_clip(source: Path, frames: int, cache: Path = CACHE) -> Path:
    """The first ``frames`` frames of ``source`` re-encoded (H.264 crf 18 medium, no audio), made once."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{source.stem}_first{frames}.mp4"
    if path.exists():
        return path
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        width, height = stream.codec_context.width, stream.codec_context.height
        pictures = []
        for frame in container.decode(stream):
            pictures.append(frame.to_ndarray(format="rgb24"))
            if len(pictures) == frames:
                break
    return _encode(path, iter(pictures), width, height, Fraction(rate))


def _encode(path: Path, pictures, width: int, height: int, rate: Fraction) -> Path:
    """Write RGB arrays as H.264 crf 18 preset medium at ``rate``; temp name, then rename."""
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        with av.open(str(tmp), "w") as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": "18", "preset": "medium"}
            for i, rgb in enumerate(pictures):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = i
                frame.time_base = 1 / rate
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def revision() -> str:
    """The commit the benchmark runs on, '+dirty' when tracked files differ from it."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def machine() -> str:
    """One line: host, CPU count, load, torch build and threads, GPU if any."""
    try:
        load = f", load {os.getloadavg()[0]:.1f}"
    except OSError:
        load = ""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.node()}: {os.cpu_count()} CPU cores{load}, {gpu}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), PyAV {av.__version__}, framedeck {revision()}"
    )
