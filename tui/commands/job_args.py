"""Job options shared by ``framedeck run`` and ``framedeck tui``."""

from __future__ import annotations

import argparse
from fractions import Fraction

from core.options import DEFAULT_SCENE_CUT, JobOptions


def _fps(text: str) -> Fraction:
    try:
        value = Fraction(text).limit_denominator(1001 * 1000)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a frame rate: {text!r} (try 60 or 60000/1001)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"frame rate must be positive: {text!r}")
    return value


def _scene_cut(text: str) -> float | None:
    if text.lower() in ("off", "none", "0"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--scene-cut takes 'off' or a number, got {text!r}") from None


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input", nargs="+",
        help="input videos: files, folders (their videos, sorted by name) or quoted globs",
    )
    parser.add_argument(
        "-o", "--output", required=True,
        help="output video file; a folder (existing, or ending with /) when there are several inputs",
    )
    parser.add_argument("--recursive", action="store_true", help="take the videos in sub-folders of folders too")
    parser.add_argument(
        "--container", default=None, choices=["mp4", "mkv", "mov", "webm"],
        help="container of outputs written into a folder (default: the input's own when the codec fits, else mp4)",
    )
    parser.add_argument(
        "--no-skip", dest="skip_complete", action="store_false",
        help="redo clips whose output in the folder is already complete (default: skip them, said so)",
    )
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument("--factor", type=int, default=None, help="N-1 new frames per pair (2-16, default 2)")
    timing.add_argument("--target-fps", type=_fps, default=None, help="output frame rate, e.g. 60")
    parser.add_argument("--model", default="flow", help="flow (default, no weights), blend, rife, torchscript")
    parser.add_argument("--weights", default=None, help="weights file or train_log/ folder for --model rife")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp16", "fp32"])
    parser.add_argument(
        "--codec", default="auto",
        help="auto (the output container's default: H.264 for .mp4/.mov/.mkv/.avi, VP9 for .webm), "
        "libx264, libx265, h264_nvenc, hevc_nvenc, ffv1, vp9 (libvpx-vp9), av1 (libsvtav1), prores (.mov, .mkv)",
    )
    parser.add_argument("--crf", type=int, default=None, help="quality for libx264/libx265 (lower is better)")
    parser.add_argument("--preset", default=None, help="encoder preset, e.g. veryfast, medium")
    parser.add_argument("--pix-fmt", default=None, help="output pixel format (default yuv420p)")
    parser.add_argument(
        "--scene-cut", type=_scene_cut, default=DEFAULT_SCENE_CUT,
        help=f"scene-cut threshold or 'off' (default {DEFAULT_SCENE_CUT})",
    )
    parser.add_argument("--batch", type=int, default=None, help="frames per model call (default: chosen)")
    parser.add_argument("--scale", type=float, default=None, help="model flow scale (0.5 for 4K)")
    parser.add_argument(
        "--colour", default="auto", choices=["auto", "device", "cpu"],
        help="where YUV<->RGB conversion runs (auto: on the GPU when the model is on one)",
    )
    parser.add_argument(
        "--encode-workers", type=int, default=None,
        help="encoders running on consecutive segments in parallel (default: auto, 1 below 8 cores)",
    )
    parser.add_argument(
        "--no-cuda-graphs", dest="cuda_graphs", action="store_false",
        help="run RIFE 4.x eagerly on CUDA instead of replaying captured CUDA graphs",
    )
    parser.add_argument("--stall-timeout", type=float, default=None, help="abort after S seconds of stall")
    parser.add_argument(
        "--strict", action="store_true",
        help="fail, writing nothing, on any damage in the input (lost frames, undecodable packets, a short stream)",
    )


def job_options_from_args(args: argparse.Namespace) -> JobOptions:
    options = JobOptions(
        factor=args.factor if args.factor is not None else (None if args.target_fps else 2),
        target_fps=args.target_fps,
        model=args.model,
        weights=args.weights,
        device=args.device,
        precision=args.precision,
        codec=args.codec,
        crf=args.crf,
        preset=args.preset,
        pix_fmt=args.pix_fmt,
        scene_cut=args.scene_cut,
        batch=args.batch,
        scale=args.scale,
        stall_timeout=args.stall_timeout,
        encode_workers=args.encode_workers,
        colour=args.colour,
        cuda_graphs=args.cuda_graphs,
        strict=getattr(args, "strict", False),
    )
    options.validate()
    return options
