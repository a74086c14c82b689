"""Ten short clips in one session against ten separate ``framedeck run`` processes.

Usage: .venv/bin/python -m bench.queue_session [--clips 10] [--size 320x180] [--frames 24]
       [--model flow] [--device cpu] [--repeat 1]
Makes the clips with PyAV (moving noise, FFV1 in .mkv), then times, as whole processes:
``framedeck run c0 ... c9 -o A/`` once, and ``framedeck run ci -o B/ci.mkv`` ten times, one
after the other. Both include Python start-up, imports and model loading; the difference is
what the queue saves. Prints a table and, with --json, the raw figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FRAMEDECK = [sys.executable, "-m", "tui.cli"]


def make_clip(path: Path, width: int, height: int, frames: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(height, width + frames * 2, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            picture = np.ascontiguousarray(base[:, 2 * i : 2 * i + width])
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--model", default="flow")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="framedeck-queue-bench-"))
    try:
        clips = [make_clip(work / f"c{i}.mkv", width, height, args.frames, i) for i in range(args.clips)]
        common = ["--model", args.model, "--device", args.device, "--quiet"]
        one, separate = [], []
        for r in range(args.repeat):
            queue_out, apart_out = work / f"queue{r}", work / f"apart{r}"
            one.append(timed([*FRAMEDECK, "run", *map(str, clips), "-o", f"{queue_out}/", *common]))
            apart_out.mkdir()
            separate.append(sum(timed([*FRAMEDECK, "run", str(c), "-o", str(apart_out / c.name), *common]) for c in clips))
            written = sorted(p.name for p in queue_out.iterdir())
            assert written == sorted(c.name for c in clips), written
        report = {
            "clips": args.clips, "size": args.size, "frames": args.frames, "model": args.model,
            "device": args.device, "one_session_s": one, "separate_runs_s": separate,
        }
        best_one, best_apart = min(one), min(separate)
        print(f"{args.clips} clips of {args.frames} frames at {args.size}, model {args.model} on {args.device}")
        print(f"one session (one process):     {best_one:7.2f} s  ({best_one / args.clips:.2f} s per clip)")
        print(f"{args.clips} separate framedeck runs:   {best_apart:7.2f} s  ({best_apart / args.clips:.2f} s per clip)")
        print(f"saved: {best_apart - best_one:.2f} s ({100 * (1 - best_one / best_apart):.0f}%)")
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
