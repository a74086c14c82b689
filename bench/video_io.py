"""Throughput of the video I/O layer: threaded decode to RGB, and threaded encode per codec.

Usage: .venv/bin/python -m bench.video_io [clip] [--codecs libx264,ffv1] [--repeat 1]
Default clip: ../shared/media/clips/bigbuckbunny_1280x720_25fps.mp4 (132 frames, with audio).
Writes the outputs to a temporary folder that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.paths import SHARED
from core.video.codecs import available_encoders
from core.video.probe import probe_video
from core.video.reader import FrameReader
from core.video.writer import EncoderSettings, VideoWriter

DEFAULT_CLIP = SHARED / "media" / "clips" / "bigbuckbunny_1280x720_25fps.mp4"


def bench_decode(clip: Path) -> tuple[int, float, float]:
    """(frames, wall seconds, seconds inside the decode thread) for one full read to RGB."""
    info = probe_video(clip)
    start = time.perf_counter()
    with FrameReader(clip, info) as reader:
        frames = sum(1 for _ in reader)
    return frames, time.perf_counter() - start, reader.decode_seconds


def bench_encode(clip: Path, codec: str, folder: Path) -> tuple[int, float, float, int]:
    """(frames, wall seconds, encoder-thread seconds, bytes) for re-encoding every RGB frame."""
    info = probe_video(clip)
    with FrameReader(clip, info) as reader:
        frames = [(f.rgb, f.pts) for f in reader]
    out = folder / f"out_{codec}.{'mkv' if codec == 'ffv1' else 'mp4'}"
    start = time.perf_counter()
    with VideoWriter(
        out,
        width=info.width,
        height=info.height,
        time_base=info.time_base,
        rate=info.fps,
        settings=EncoderSettings(codec),
        source=info,
    ) as writer:
        for rgb, pts in frames:
            writer.write(rgb, pts)
        writer.finish()
    return len(frames), time.perf_counter() - start, writer.encode_seconds, out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", nargs="?", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--codecs", default="libx264,ffv1")
    args = parser.parse_args()
    info = probe_video(args.clip)
    print(f"clip: {args.clip.name} {info.width}x{info.height} {info.codec}, audio streams {info.audio_streams}")
    print(f"encoders that open here: {[k for k, v in available_encoders().items() if v]}")
    frames, wall, inside = bench_decode(args.clip)
    print(f"decode -> RGB: {frames} frames in {wall:.2f} s = {frames / wall:.1f} fps (decode thread busy {inside:.2f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        for codec in args.codecs.split(","):
            frames, wall, inside, size = bench_encode(args.clip, codec, Path(tmp))
            print(
                f"encode {codec}: {frames} frames in {wall:.2f} s = {frames / wall:.1f} fps "
                f"(encoder thread busy {inside:.2f} s, {size / 1e6:.2f} MB)"
            )


if __name__ == "__main__":
    main()
