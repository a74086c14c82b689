"""Encode rate of one VideoWriter against SegmentedVideoWriter with 1..W parallel segments.

Feeds pre-made yuv420p frames (what the device colour path hands over), so the figures are
the encoder and muxer alone. Example:

    .venv/bin/python bench/encode_scaling.py --width 1920 --height 1080 --preset veryfast --workers 8
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from core.video.probe import VideoInfo
from core.video.segments import SegmentedVideoWriter
from core.video.writer import EncoderSettings, VideoWriter


def make_frames(width: int, height: int, count: int) -> list[av.VideoFrame]:
    """``count`` distinct yuv420p frames of a textured background panning 4 px per frame."""
    rng = np.random.default_rng(0)
    full = width + 4 * count
    coarse = rng.integers(0, 256, size=(height // 16, full // 16, 3), dtype=np.uint8)
    big = cv2.resize(coarse, (full, height), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    big = np.clip(big + rng.integers(-10, 11, size=big.shape), 0, 255).astype(np.uint8)
    return [
        av.VideoFrame.from_ndarray(
            np.ascontiguousarray(big[:, 4 * i : 4 * i + width]), format="rgb24"
        ).reformat(format="yuv420p")
        for i in range(count)
    ]


def run(writer_cls, frames: list[av.VideoFrame], total: int, args, **kw) -> float:
    """Frames per second of encoding ``total`` frames (from first write to renamed file)."""
    height, width = frames[0].height, frames[0].width
    rate = Fraction(args.fps)
    source = VideoInfo(
        path="/nonexistent/bench-source.mp4",
        width=width,
        height=height,
        fps=rate,
        time_base=1 / rate,
        frame_count=total,
        duration=None,
        codec="h264",
        pix_fmt="yuv420p",
        is_rgb=False,
        rotation=0,
        audio_streams=0,
    )
    settings = EncoderSettings(codec=args.codec, preset=args.preset, crf=args.crf)
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "out.mp4"
        start = time.perf_counter()
        with writer_cls(
            output,
            width=width,
            height=height,
            time_base=1 / rate,
            rate=rate,
            settings=settings,
            source=source,
            **kw,
        ) as writer:
            for i in range(total):
                writer.write(frames[i % len(frames)], i)
            writer.finish()
        return total / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--fps", type=int, default=60)
    parser.add_argument("--codec", default="libx264")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--crf", type=int, default=18)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="largest W tried")
    parser.add_argument("--segment-frames", type=int, default=60)
    args = parser.parse_args()

    frames = make_frames(args.width, args.height, min(args.frames, 60))
    print(
        f"# {platform.node()} {os.cpu_count()} cores, {args.codec} {args.preset} crf {args.crf}, "
        f"{args.width}x{args.height}, {args.frames} frames, segments of {args.segment_frames}"
    )
    single = run(VideoWriter, frames, args.frames, args)
    print("| encoder | workers | threads/encoder | fps | vs single |")
    print("|---|---|---|---|---|")
    print(f"| VideoWriter | 1 | auto | {single:.1f} | 1.00 |")
    workers = 1
    while workers <= args.workers:
        threads = max(1, (os.cpu_count() or 1) // workers)
        fps = run(
            SegmentedVideoWriter,
            frames,
            args.frames,
            args,
            segment_frames=args.segment_frames,
            workers=workers,
        )
        print(f"| SegmentedVideoWriter | {workers} | {threads} | {fps:.1f} | {fps / single:.2f} |")
        workers *= 2


if __name__ == "__main__":
    main()
