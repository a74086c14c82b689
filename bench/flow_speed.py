"""CPU speed of ``flow`` against ffmpeg's minterpolate on the same decoded 720p frames.

    .venv/bin/python bench/flow_speed.py [--clip PATH] [--frames 25] [--caps 32400,57600,129600]
                                         [--presets medium,ultrafast]
                                         [--repeat 3] [--torch-threads 1] [--dis-threads 2]

Both sides go from rgb24 arrays to rgb24 arrays: flow through ``interpolate()`` (tensor in,
uint8 out, t = 0.5 per consecutive pair), minterpolate streaming the same frames through a
PyAV filter graph at twice the rate. Runs are interleaved; wall time is the best of
``--repeat`` runs and CPU time the process's user+system seconds of that run. A held-out check scores quality on the clip:
every other frame is dropped, the pairs left are interpolated, and the middle frames are
compared with the dropped originals (PSNR, 8-bit RGB).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.middlebury import psnr, to_tensor, to_uint8  # noqa: E402
from bench.minterpolate import doubled  # noqa: E402
from bench.paths import SHARED  # noqa: E402
from core.interpolators.flow import MAX_FLOW_PIXELS, FlowInterpolator, flow_factor  # noqa: E402

DEFAULT_CLIP = SHARED / "media" / "clips" / "bigbuckbunny_1280x720_25fps.mp4"


def decode(path: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` frames of ``path`` as (H, W, 3) uint8 RGB."""
    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    if len(frames) < 3:
        raise SystemExit(f"{path}: fewer than 3 frames decoded")
    return frames


def flow_middles(model: FlowInterpolator, frames: list[np.ndarray]) -> list[np.ndarray]:
    """The t = 0.5 frame of each consecutive pair, as uint8 RGB."""
    t = torch.tensor([0.5])
    out = []
    with torch.inference_mode():
        tensors = (to_tensor(f) for f in frames)  # each frame converted once, as a pipeline does
        for a, b in pairwise(tensors):
            out.append(to_uint8(model.interpolate(a, b, t)))
    return out


def minterpolate_middles(frames: list[np.ndarray]) -> list[np.ndarray]:
    """minterpolate's in-between frames (the odd outputs of the doubled stream)."""
    return list(doubled(frames))[1::2]


@dataclass
class Contestant:
    label: str
    resolution: str
    run: Callable[[list[np.ndarray]], list[np.ndarray]]
    wall: float = float("inf")  # best wall seconds of one timed run
    cpu: float = 0.0  # process CPU seconds of that run


def time_round(contestant: Contestant, frames: list[np.ndarray]) -> None:
    """One timed run; keeps the best wall time and that run's CPU time."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    contestant.run(frames)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if wall < contestant.wall:
        contestant.wall, contestant.cpu = wall, cpu


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--caps", default=f"{MAX_FLOW_PIXELS},57600,129600", help="max_flow_pixels values to try")
    parser.add_argument("--presets", default="", help="DIS presets to try (default: the interpolator's)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--dis-threads", type=int, default=2, help="concurrent DIS calls")
    parser.add_argument("--skip-minterpolate", action="store_true")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.torch_threads)
    frames = decode(args.clip, args.frames)
    h, w = frames[0].shape[:2]
    pairs = len(frames) - 1
    kept, dropped = frames[::2], frames[1::2]
    held_out = min(len(kept) - 1, len(dropped))

    def score(middles: list[np.ndarray]) -> float:
        return float(np.mean([psnr(m, d) for m, d in zip(middles, dropped[:held_out], strict=False)]))

    print(f"clip {args.clip.name}: {w}x{h}, {len(frames)} frames, {pairs} pairs")
    print(f"machine: {machine()}; load average before: {os.getloadavg()[0]:.2f}")
    print(f"torch {torch.__version__} ({args.torch_threads} threads), {args.dis_threads} DIS threads, opencv {cv2.__version__}, PyAV {av.__version__}")
    contestants = []
    if not args.skip_minterpolate:
        contestants.append(Contestant("minterpolate mci/aobmc/bidir", "-", minterpolate_middles))
    presets = [p for p in args.presets.split(",") if p] or [None]
    for cap, preset in ((int(c), p) for c in args.caps.split(",") for p in presets):
        options = {"large_preset": preset} if preset else {}
        model = FlowInterpolator(max_flow_pixels=cap, threads=args.dis_threads, **options)
        model.load(torch.device("cpu"))
        flow_middles(model, [frames[0], frames[2]])  # warm-up on a pair the timed run never meets
        k = flow_factor(h, w, model.full_res_pixels, cap)
        resolution = f"{-(-w // k)}x{-(-h // k)}"
        label = f"flow (DIS {model.large_preset if k > 1 else model.preset})"
        contestants.append(Contestant(label, resolution, lambda f, m=model: flow_middles(m, f)))
    for _ in range(args.repeat):  # interleaved, so load changes hit every contestant alike
        for contestant in contestants:
            time_round(contestant, frames)

    print()
    print("| method | flow resolution | s/pair (wall, best) | pairs/s | CPU s/pair | wall vs minterpolate | held-out PSNR dB |")
    print("|---|---|---|---|---|---|---|")
    reference = contestants[0].wall if not args.skip_minterpolate else None
    for c in contestants:
        per_pair = c.wall / pairs
        ratio = f"{reference / c.wall:.1f}x" if reference else "-"
        quality = score(c.run(kept))
        print(f"| {c.label} | {c.resolution} | {per_pair:.3f} | {1 / per_pair:.2f} | {c.cpu / pairs:.3f} | {ratio} | {quality:.2f} |")
    print()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
