"""Memory: peak host RSS of whole jobs at 1x and 10x clip length, peak GPU memory per size and batch.

Host RSS: each job runs in a fresh Python process (``ru_maxrss`` is a per-process peak), which
reports its peak before ``run_job`` (imports, torch) and after it. A streaming pipeline keeps
the job's share flat when the clip is 10x longer. GPU: one forward of ``batch`` pairs at each
size through the interpolator, as the job feeds it (float frames on the device, uint8 result),
peak ``torch.cuda.max_memory_allocated`` with the weights loaded; skipped without CUDA.

    .venv/bin/python -m bench.memory --width 320 --height 180 --seconds 2
    .venv/bin/python -m bench.memory --gpu-model rife --weights ../shared/models/rife-4.25/flownet.pkl \\
        --gpu-sizes 1280x720,1920x1080,3840x2160 --batches 1,2,4,8
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import torch

from bench.inputs import CACHE, ROOT, generated_clip, machine, parse_size

MIB = 2**20


def child_rss(clip: Path, model: str) -> dict[str, int]:
    """In this (fresh) process: peak RSS in KiB before and after one 2x job on ``clip``."""
    from core.job import run_job
    from core.options import JobOptions

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory(prefix="framedeck-mem-") as tmp:
        result = run_job(clip, Path(tmp) / "out.mp4", JobOptions(model=model, scene_cut=None))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"before_kib": before, "peak_kib": after, "input_frames": result.input_frames,
            "output_frames": result.output_frames}  # fmt: skip


def measure_rss(clip: Path, model: str) -> dict[str, int]:
    """Run :func:`child_rss` in a new interpreter and return its figures."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--child-rss", str(clip), "--child-model", model],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"RSS child for {clip.name} ({model}) failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def host_rows(args: argparse.Namespace) -> list[dict[str, object]]:
    """One row per model and length: frames, peak RSS, the job's share of it."""
    rows = []
    for model in args.models.split(","):
        for length in (1, args.long):
            clip = generated_clip(args.width, args.height, args.fps, args.seconds * length, args.cache)
            figures = measure_rss(clip, model)
            rows.append({"model": model, "length": length, "clip": clip.name, **figures})
    return rows


def gpu_rows(args: argparse.Namespace) -> list[dict[str, object]]:
    """Peak GPU memory of one forward per size and batch (weights included); OOM rows say so."""
    from core.interpolators.registry import create_interpolator

    device = torch.device("cuda", 0)
    rows = []
    for size in args.gpu_sizes.split(","):
        width, height = parse_size(size)
        for batch in (int(b) for b in args.batches.split(",")):
            model = create_interpolator(args.gpu_model, args.weights, precision=args.precision, scale=args.scale)
            model.load(device)
            torch.cuda.synchronize(device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            loaded = torch.cuda.memory_allocated(device)
            row: dict[str, object] = {"size": size, "batch": batch, "weights_mib": loaded / MIB}
            try:
                frames = torch.randint(0, 256, (2 * batch, height, width, 3), dtype=torch.uint8, device=device)
                img = frames.permute(0, 3, 1, 2).float().div_(255.0)
                t = torch.full((batch,), 0.5, device=device)
                with torch.inference_mode():
                    out = model.interpolate(img[:batch], img[batch:], t)
                    out.clamp(0, 1).mul(255).round_().to(torch.uint8)
                torch.cuda.synchronize(device)
                peak = torch.cuda.max_memory_allocated(device)
                row.update(peak_mib=peak / MIB, per_pair_mib=(peak - loaded) / batch / MIB,
                           scale=getattr(model, "scale", None))  # fmt: skip
            except torch.cuda.OutOfMemoryError:
                row.update(peak_mib=None, per_pair_mib=None, scale=getattr(model, "scale", None))
            finally:
                frames = img = out = None
                model.unload()
                torch.cuda.empty_cache()
            rows.append(row)
    return rows


def markdown(host: list[dict[str, object]], gpu: list[dict[str, object]] | str, command: str) -> str:
    """The tables for BENCHMARKS.md."""
    lines = [f"{date.today().isoformat()}, {machine()}.", f"Command: `{command}`.", "",
             "| model | clip | input frames | peak RSS before the job | peak RSS | job's share | vs 1x |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    base: dict[str, float] = {}
    for row in host:
        share = (row["peak_kib"] - row["before_kib"]) / 1024
        base.setdefault(str(row["model"]), row["peak_kib"] / 1024)
        lines.append(
            f"| {row['model']} | {row['clip']} ({row['length']}x) | {row['input_frames']} "
            f"| {row['before_kib'] / 1024:.0f} MiB | {row['peak_kib'] / 1024:.0f} MiB | {share:.0f} MiB "
            f"| {row['peak_kib'] / 1024 / base[str(row['model'])]:.2f} |"
        )
    lines.append("")
    if isinstance(gpu, str):
        lines.append(f"GPU memory: {gpu}")
    else:
        lines += ["| size | batch | scale | weights | peak allocated | per pair beyond weights |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for row in gpu:
            if row["peak_mib"] is None:
                lines.append(f"| {row['size']} | {row['batch']} | {row['scale']} | {row['weights_mib']:.0f} MiB | out of memory | - |")
            else:
                lines.append(
                    f"| {row['size']} | {row['batch']} | {row['scale']} | {row['weights_mib']:.0f} MiB "
                    f"| {row['peak_mib']:.0f} MiB | {row['per_pair_mib']:.0f} MiB |"
                )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of the 1x clip")
    parser.add_argument("--long", type=int, default=10, help="the long clip is this many times longer")
    parser.add_argument("--models", default="flow,blend", help="models for the host RSS runs")
    parser.add_argument("--gpu-model", default="flow")
    parser.add_argument("--weights")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--scale", type=float)
    parser.add_argument("--gpu-sizes", default="1280x720,1920x1080,3840x2160")
    parser.add_argument("--batches", default="1,2,4,8")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where generated clips are kept")
    parser.add_argument("--child-rss", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-model", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark, print the Markdown tables and return them with the raw rows."""
    args = parse_args(argv)
    if args.child_rss:
        print(json.dumps(child_rss(args.child_rss, args.child_model)))
        return {}
    host = host_rows(args)
    if torch.cuda.is_available():
        gpu: list[dict[str, object]] | str = gpu_rows(args)
    else:
        gpu = "skipped, CUDA is not available on this machine."
        print(f"GPU memory: {gpu}")
    command = "python -m bench.memory " + " ".join(sys.argv[1:] if argv is None else argv)
    table = markdown(host, gpu, command.strip())
    print(table)
    return {"host": host, "gpu": gpu, "markdown": table}


if __name__ == "__main__":
    main()
