"""The journal's cost in the encoder alone: one ``VideoWriter`` against ``JournalVideoWriter``
cutting a segment every ``--segment`` frames (segment files, then the join), on the same
pre-made yuv420p frames, alternated ``--repeat`` times (fastest kept). Reports wall and CPU
seconds (CPU is the steadier figure on a shared machine).

    .venv/bin/python -m bench.journal_encode --size 320x180 --frames 2000 --segment 192
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from bench.encode_scaling import make_frames
from bench.inputs import generated_clip, machine, parse_size
from core.video.journal_writer import JournalVideoWriter
from core.video.probe import VideoInfo
from core.video.writer import EncoderSettings, VideoWriter


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def encode(kind: str, frames: list, total: int, segment: int, threads: int) -> tuple[float, float]:
    """Wall and CPU seconds of writing ``total`` frames one way, renamed file included."""
    height, width = frames[0].height, frames[0].width
    rate = Fraction(48)
    source = VideoInfo(path=str(generated_clip(width, height, seconds=1)), width=width, height=height, fps=rate, time_base=1 / rate,
                       frame_count=total, duration=None, codec="h264", pix_fmt="yuv420p", is_rgb=False,
                       rotation=0, audio_streams=0)
    common = dict(width=width, height=height, time_base=1 / rate, rate=rate,
                  settings=EncoderSettings(codec="libx264"), source=source)
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "out.mp4"
        wall, cpu = time.perf_counter(), cpu_seconds()
        if kind == "one encoder":
            with VideoWriter(output, **common) as writer:
                for i in range(total):
                    writer.write(frames[i % len(frames)], i)
                writer.finish()
        else:
            stored = []
            with JournalVideoWriter(output, folder=Path(folder), on_segment=stored.append, workers=1,
                                    threads_per_encoder=threads, buffer_frames=1, **common) as writer:
                for i in range(total):
                    writer.write(frames[i % len(frames)], i)
                    if (i + 1) % segment == 0 and i + 1 < total:
                        writer.end_segment(i + 1)
                writer.finish(total, join=lambda: [s.path for s in sorted(stored, key=lambda s: s.number)])
        return time.perf_counter() - wall, cpu_seconds() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--segment", type=int, default=192, help="output frames per segment")
    parser.add_argument("--threads", type=int, default=2, help="x264 threads of the journal's encoder")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    width, height = parse_size(args.size)
    frames = make_frames(width, height, 120)
    kinds = ("one encoder", "journal")
    best = {k: (float("inf"), float("inf")) for k in kinds}
    for _ in range(args.repeat):
        for kind in kinds:
            wall, cpu = encode(kind, frames, args.frames, args.segment, args.threads)
            best[kind] = (min(best[kind][0], wall), min(best[kind][1], cpu))
    print(f"<!-- {machine()} -->")
    print(f"`python -m bench.journal_encode {' '.join(sys.argv[1:])}`\n")
    print("| writer | wall s | CPU s |")
    print("|---|---|---|")
    for kind in kinds:
        print(f"| {kind} | {best[kind][0]:.2f} | {best[kind][1]:.2f} |")
    base, journal = best["one encoder"], best["journal"]
    print(f"\njournal: {journal[0] / base[0] - 1:+.1%} wall, {journal[1] / base[1] - 1:+.1%} CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
