"""Job options shared by ``framedeck run`` and ``framedeck tui``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from core.errors import InputError, OptionError
from core.options import DEFAULT_SCENE_CUT, JobOptions
from tui.commands.devices_arg import add_devices_argument


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
        "input", nargs="*",
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
        "--watch-input", metavar="DIR", default=None,
        help="also queue each new video that appears in DIR (once unchanged for --settle seconds)",
    )
    parser.add_argument("--settle", type=float, default=10.0, metavar="S",
                        help="with --watch-input: seconds a new file must stay unchanged (10)")
    parser.add_argument("--idle", type=float, default=120.0, metavar="S",
                        help="with --watch-input: close the queue after S seconds with nothing new to do (120)")
    parser.add_argument(
        "--no-skip", dest="skip_complete", action="store_false",
        help="redo clips whose output in the folder is already complete (default: skip them, said so)",
    )
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument("--factor", type=int, default=None, help="N-1 new frames per pair (2-16, default 2)")
    timing.add_argument("--target-fps", type=_fps, default=None, help="output frame rate, e.g. 60")
    parser.add_argument(
        "--model", default="auto",
        help="auto (default: RIFE on a GPU, cached or fetched; flow on the CPU), flow, blend, rife, torchscript",
    )
    parser.add_argument("--weights", default=None, help="weights file or train_log/ folder for --model rife")
    parser.add_argument("--offline", action="store_true", help="--model auto never downloads weights")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    add_devices_argument(parser)
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
    parser.add_argument(
        "--restart", action="store_true",
        help="discard the journal of an earlier run of this output and start from the first frame",
    )
    parser.add_argument(
        "--no-keep", dest="keep", action="store_false",
        help="when interrupted (Ctrl-C, SIGTERM, abort) remove the journal instead of keeping it for a resume",
    )


@dataclass
class SessionPlan:
    """What the command line asks of a session: the clips, where outputs go, the input watcher."""

    clips: list[tuple[Path, Path]]
    queue: bool  # outputs go into a folder (a queue), rather than one -o FILE
    output_folder: Path | None
    watcher: object | None


def plan_session(args: argparse.Namespace, options: JobOptions) -> SessionPlan:
    """Inputs expanded, outputs named and checked, before anything starts (one sentence if not)."""
    from session.input_watch import InputWatcher
    from session.inputs import expand_inputs, output_is_folder, plan_outputs

    watch = Path(args.watch_input) if args.watch_input else None
    if watch is not None and not watch.is_dir():
        raise InputError(f"The --watch-input folder {watch} does not exist or is not a folder.")
    if not args.input and watch is None:
        raise InputError("Give at least one input (a file, a folder or a quoted glob), or --watch-input DIR.")
    for name in ("settle", "idle"):
        value = getattr(args, name)
        if not value >= 0 or value == float("inf"):
            raise OptionError(f"--{name} must be a finite number of seconds, 0 or more.")
    inputs = expand_inputs(args.input, args.recursive) if args.input else []
    queue = watch is not None or output_is_folder(args.output, len(inputs))
    clips = plan_outputs(inputs, args.output if not queue or str(args.output).endswith("/") else f"{args.output}/",
                         args.container, options.codec) if inputs else []
    folder = Path(args.output) if queue else None
    if folder is not None and not folder.is_dir():  # only --watch-input: nothing planned made it
        if folder.exists() or not folder.parent.is_dir():
            raise OptionError(f"The output folder {folder} cannot be made (a file, or its parent is missing).")
        folder.mkdir()
    watcher = None
    if watch is not None:
        assert folder is not None
        if watch.resolve() == folder.resolve():
            raise OptionError("The --watch-input folder cannot be the output folder (outputs would be queued again).")
        watcher = InputWatcher(watch, settle=args.settle, recursive=args.recursive, exclude=(folder.absolute(),))
    return SessionPlan(clips, queue, folder, watcher)


def job_options_from_args(args: argparse.Namespace) -> JobOptions:
    options = JobOptions(
        factor=args.factor if args.factor is not None else (None if args.target_fps else 2),
        target_fps=args.target_fps,
        model=args.model,
        weights=args.weights,
        offline=getattr(args, "offline", False),
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
