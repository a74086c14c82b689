"""Model-only speed and GPU memory of an interpolator: pairs/s per size, batch and mode.

    python -m bench.model_speed --weights ../shared/models/rife-4.25 --sizes 1280x720,1920x1080,3840x2160 \
        --batches 1,4,8 --precision fp16 --graphs on,off [--seconds 3] [--json out.json]

Frames are already on the device as float RGB (a smooth texture moving 3 px per frame, 9
distinct frames used in a ring, so consecutive pairs share a frame as in a video and the
feature cache works as it does in a job). Each timed loop interpolates consecutive pairs at
t = 0.5 in the given batch through ``interpolate()`` (padding, precision, features, crop all
included), after warm-up calls that also capture the CUDA graph; time is wall time between
device synchronisations. Memory is what the job would hold on the GPU: the peak of
``torch.cuda.max_memory_reserved`` from before the model is loaded to the end of the loop
(weights, the capture and its graph's pool, the allocator's cache), above what was reserved
before (the test frames). A replay allocates nothing, so the allocated peak of the loop alone
would leave out the graph's pool. Needs only torch (no PyAV), so it runs on a bare GPU box.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bench.paths import SHARED  # noqa: E402
from core.device import cuda_context, is_out_of_memory, resolve_device  # noqa: E402
from core.interpolators.registry import create_interpolator  # noqa: E402

RING = 9


def moving_frames(height: int, width: int, device: torch.device, n: int = RING) -> list[torch.Tensor]:
    """``n`` float RGB frames (3, H, W) of a smooth texture panning 3 px per frame."""
    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, height // 16 + 2, (width + 3 * n) // 16 + 2, generator=g)
    big = F.interpolate(coarse, size=(height, width + 3 * n), mode="bicubic", align_corners=False)
    big = big.clamp(0, 1)[0]
    return [big[:, :, 3 * i : 3 * i + width].contiguous().to(device) for i in range(n)]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(model, frames: list[torch.Tensor], batch: int, seconds: float, device: torch.device) -> dict:
    """Pairs/s and peak memory of consecutive pairs through ``model`` in batches of ``batch``."""
    n = len(frames)
    t = torch.full((batch,), 0.5, device=device)
    state = {"next": 0}

    def one_batch() -> None:
        rows = [(state["next"] + k) % (n - 1) for k in range(batch)]
        state["next"] = (rows[-1] + 1) % (n - 1)
        img0 = torch.stack([frames[i] for i in rows])
        img1 = torch.stack([frames[i + 1] for i in rows])
        if getattr(model, "takes_frame_keys", False):  # frames named as the job names them
            out = model.interpolate(img0, img1, t, keys=(rows, [i + 1 for i in rows]))
        else:
            out = model.interpolate(img0, img1, t)
        out.mul(255).round_().to(torch.uint8)  # the job's next step, on the device

    with torch.inference_mode():
        for _ in range(4):  # first use, capture, first replays
            one_batch()
        sync(device)
        calls, start = 0, time.perf_counter()
        while True:
            one_batch()
            calls += 1
            if calls % 4 == 0:
                sync(device)
                if time.perf_counter() - start >= seconds:
                    break
        sync(device)
        elapsed = time.perf_counter() - start
    return {"pairs": calls * batch, "seconds": elapsed, "pairs_per_s": calls * batch / elapsed}


def reserved_baseline(device: torch.device) -> int:
    """Empty the cache and restart the peak: what is reserved now (0 off CUDA)."""
    if device.type != "cuda":
        return 0
    with cuda_context(device):
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_reserved(device)


def reserved_peak(device: torch.device, baseline: int) -> float:
    """MiB reserved at the peak since :func:`reserved_baseline`, above it (0 off CUDA)."""
    if device.type != "cuda":
        return 0.0
    return (torch.cuda.max_memory_reserved(device) - baseline) / 2**20


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="rife")
    parser.add_argument("--weights", default=str(SHARED / "models" / "rife-4.25"))
    parser.add_argument("--sizes", default="1280x720,1920x1080,3840x2160")
    parser.add_argument("--batches", default="1,4,8")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--scale", type=float, help="default: the model's choice (0.5 above 1080p)")
    parser.add_argument("--graphs", default="on", help="on, off or on,off")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per row")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"# {time.strftime('%Y-%m-%d')}, {name}, torch {torch.__version__}, model {args.model} "
          f"{Path(args.weights).name}, precision {args.precision}")
    print("| size | batch | CUDA graphs | precision | scale | pairs/s | output fps at 2x | peak reserved MiB |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.lower().split("x"))
        frames = moving_frames(height, width, device)
        for graphs in args.graphs.split(","):
            for batch in (int(b) for b in args.batches.split(",")):
                baseline = reserved_baseline(device)
                model = create_interpolator(args.model, args.weights, precision=args.precision,
                                            scale=args.scale, cuda_graphs=graphs == "on")
                model.load(device)
                try:
                    row = measure(model, frames, batch, args.seconds, device)
                except Exception as exc:
                    if not is_out_of_memory(exc):
                        raise
                    row = {"pairs_per_s": 0.0, "error": "out of memory"}
                row["peak_mib"] = reserved_peak(device, baseline)
                graphed = getattr(model, "graphed", None)
                row["graph_note"] = getattr(graphed, "disabled_reason", None)
                precision = getattr(model, "precision_used", "fp32")
                scale = getattr(model, "scale", None)
                model.unload()
                row.update(size=size, batch=batch, graphs=graphs, precision=precision, scale=scale)
                rows.append(row)
                if args.json:  # after every row, so a run cut short keeps what it measured
                    args.json.write_text(json.dumps(rows, indent=1))
                print(f"| {size} | {batch} | {graphs} | {precision} | {scale} | "
                      f"{row['pairs_per_s']:.1f} | {2 * row['pairs_per_s']:.1f} | {row['peak_mib']:.0f} |",
                      flush=True)
                if row["graph_note"] or row.get("error"):
                    print(f"  ({size} batch {batch}: {row.get('error') or row['graph_note']})", file=sys.stderr)
        del frames
        reserved_baseline(device)
    return rows


if __name__ == "__main__":
    main()
