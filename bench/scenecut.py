"""Scene-cut detector: scores on the shared clips and cost per pair at 1080p.

Usage: .venv/bin/python -m bench.scenecut [--pairs 200]
Prints, per clip, the pairs flagged CUT / DUPLICATE and the highest motion-normalised score
among the NORMAL pairs (the margin below the threshold), then the cost of compare() on
consecutive 1920x1080 frames (the first frame's signature is cached, as in a job).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import av
import cv2
import numpy as np

from bench.paths import SHARED
from core.options import DEFAULT_SCENE_CUT
from core.scenecut import PairKind, SceneCutDetector

ROOT = Path(__file__).resolve().parent.parent
CLIPS = [
    SHARED / "media" / "clips" / name
    for name in ("bikes_640x272_25fps.mp4", "carphone_176x144_2997fps.mp4",
                 "bigbuckbunny_1280x720_25fps.mp4")
] + [ROOT / "sample_media" / "sample.mp4"]


def score_clip(path: Path) -> tuple[list[tuple[int, float]], list[int], float]:
    """(cuts with their scores, duplicates, highest NORMAL score) for one clip."""
    detector = SceneCutDetector(DEFAULT_SCENE_CUT)
    cuts, duplicates, worst = [], [], 0.0
    previous = None
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            rgb = frame.to_ndarray(format="rgb24")
            if previous is not None:
                kind = detector.compare(previous, rgb)
                if kind is PairKind.CUT:
                    cuts.append((index, detector.last_score))
                elif kind is PairKind.DUPLICATE:
                    duplicates.append(index)
                else:
                    worst = max(worst, detector.last_score)
            previous = rgb
    return cuts, duplicates, worst


def time_1080p(pairs: int) -> float:
    """Median milliseconds per compare() on 1080p frames (real footage scaled up)."""
    path = CLIPS[2]
    with av.open(str(path)) as container:
        frames = [cv2.resize(f.to_ndarray(format="rgb24"), (1920, 1080))
                  for _, f in zip(range(20), container.decode(video=0), strict=False)]
    detector = SceneCutDetector()
    times = []
    for i in range(pairs):
        a, b = frames[i % len(frames)], frames[(i + 1) % len(frames)]
        start = time.perf_counter()
        detector.compare(a, b)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    args = parser.parse_args()
    print(f"threshold {DEFAULT_SCENE_CUT}")
    for path in CLIPS:
        cuts, duplicates, worst = score_clip(path)
        flagged = ", ".join(f"{i} ({s:.3f})" for i, s in cuts) or "none"
        print(f"{path.name}: cuts {flagged}; duplicates {duplicates or 'none'}; "
              f"highest ordinary score {worst:.3f}")
    print(f"compare() at 1920x1080: {time_1080p(args.pairs):.3f} ms per pair (median)")


if __name__ == "__main__":
    main()
