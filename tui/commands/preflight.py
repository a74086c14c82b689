"""Checks the console makes before its screen opens, so every mistake in an input, output,
weights or log path ends in one sentence and a non-zero exit, as in ``framedeck run``, and
nothing (no folder, no log file) is created for a command that cannot run."""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import ModelError, OptionError, OutputError
from core.options import JobOptions


def check_console_paths(
    input_path: Path | None,
    output: Path | None,
    options: JobOptions,
    *,
    log_path: Path,
    sentinel: Path | None = None,
) -> None:
    """Raise a :class:`core.errors.FramedeckError` for the first thing that cannot work
    (``input_path`` and ``output``: the one clip of a single job; a queue checks each clip itself)."""
    from core.video.output_file import check_output
    from core.video.probe import probe_video

    if input_path is not None and output is not None:
        info = probe_video(input_path)  # missing, a folder, not a video: InputError
        check_output(output, info)  # no such folder, a file as folder, the input itself: OutputError
    check_writable_file(log_path, "log file", "--log-file")
    if sentinel is not None:
        check_writable_file(sentinel, "sentinel", "--sentinel")
    check_weights(options)


def check_writable_file(path: Path, what: str, flag: str) -> None:
    """The file can be created or appended to, in a folder that exists (never made here)."""
    folder = path.parent
    if not folder.is_dir():
        reason = "does not exist" if not folder.exists() else "is not a folder"
        raise OutputError(f"The {what}'s folder {folder} {reason}; choose another with {flag}.")
    if path.is_dir():
        raise OutputError(f"The {what} path {path} is a folder; give a file name with {flag}.")
    if not os.access(path if path.exists() else folder, os.W_OK):
        raise OutputError(f"The {what} {path} cannot be written; choose another with {flag}.")


def check_weights(options: JobOptions) -> None:
    """Weights a model needs exist and hold what that model reads (without building it)."""
    from core.interpolators.registry import model_names

    if options.model != "auto" and options.model not in model_names():
        names = ", ".join(["auto", *model_names()])
        raise OptionError(f"Unknown model {options.model!r}; choose one of: {names}.")
    if options.model == "auto" and not options.weights:
        return  # chosen (or fetched) when the session starts
    if options.model not in ("rife", "torchscript", "auto"):
        return
    if not options.weights:
        raise OptionError(f"--model {options.model} needs --weights PATH (a flownet.pkl or train_log/ folder).")
    from core.models.loader import resolve_weights

    path = resolve_weights(options.weights)
    if options.model == "torchscript":
        if not path.is_file():
            raise ModelError(f"The TorchScript file {path} is not a file.")
        return
    from core.models.detect import detect_family, strip_prefix
    from core.models.loader import read_state_dict

    detect_family(strip_prefix(read_state_dict(path)))
