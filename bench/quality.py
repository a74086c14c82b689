"""Interpolation quality on Middlebury-other: PSNR and SSIM per sequence and mean, per model.

    .venv/bin/python bench/quality.py [--models blend,flow,minterpolate,rife]
                                      [--weights PATH | --weights rife=PATH ...] [--device cpu]

Each model comes from core.interpolators.registry.create_interpolator(name, weights=...)
(``minterpolate`` is ffmpeg's filter run through PyAV, see bench/minterpolate.py) and is
scored through its public interpolate() exactly as a video frame goes: RGB float tensors,
t = 0.5, prediction rounded to uint8 (see bench/middlebury.py). Published figures on the same
files are printed beside the measured ones.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.middlebury import DEFAULT_DIR, PUBLISHED_PSNR, SEQUENCES, Score, evaluate  # noqa: E402
from core.errors import FramedeckError  # noqa: E402
from core.interpolators.base import Interpolator  # noqa: E402
from core.interpolators.registry import create_interpolator  # noqa: E402


def weights_for(name: str, specs: list[str]) -> str | None:
    """``NAME=PATH`` entries apply to that model; a bare PATH applies to every model."""
    bare = None
    for spec in specs:
        key, sep, path = spec.partition("=")
        if sep and key == name:
            return path
        if not sep:
            bare = spec
    return bare


def build(name: str, weights: str | None) -> Interpolator:
    if name == "minterpolate":
        from bench.minterpolate import MinterpolateInterpolator

        return MinterpolateInterpolator()
    return create_interpolator(name, weights=weights)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="blend,flow", help="comma-separated model names")
    parser.add_argument("--weights", action="append", default=[], help="PATH or NAME=PATH")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", type=Path, default=DEFAULT_DIR, help="the middlebury-other folder")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    results: dict[str, list[Score]] = {}
    for name in (n.strip() for n in args.models.split(",") if n.strip()):
        try:
            model = build(name, weights_for(name, args.weights))
            model.load(device)
        except FramedeckError as exc:
            print(f"{name}: skipped: {exc}", file=sys.stderr)
            continue
        start = time.perf_counter()
        results[name] = evaluate(model, device, args.data)
        seconds = (time.perf_counter() - start) / len(SEQUENCES)
        model.unload()
        print(f"{name}: scored {len(SEQUENCES)} pairs, {seconds:.2f} s/pair incl. SSIM", file=sys.stderr)
    if not results:
        return 1

    names = list(results)
    print("| sequence | " + " | ".join(f"{n} PSNR / SSIM" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for i, seq in enumerate(SEQUENCES):
        cells = [f"{results[n][i].psnr:.2f} / {results[n][i].ssim:.4f}" for n in names]
        print(f"| {seq} | " + " | ".join(cells) + " |")
    means = [
        f"**{np.mean([s.psnr for s in results[n]]):.2f} / {np.mean([s.ssim for s in results[n]]):.4f}**"
        for n in names
    ]
    print("| **mean** | " + " | ".join(means) + " |")
    print()
    print("Published mean PSNR on the same files: " + ", ".join(f"{k} {v:.2f}" for k, v in PUBLISHED_PSNR.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
