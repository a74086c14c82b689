"""Inputs of a session (files, folders, globs) and the output name each one gets.

With more than one input, or when the output names an existing folder or ends with ``/``,
every output goes into that folder as ``<input stem>.<container>``. Two inputs that would
write the same output are refused before anything starts.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

from core.errors import InputError, OptionError
from core.video.containers import CONTAINERS, codec_for_output

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".flv", ".wmv",
     ".mpg", ".mpeg", ".y4m", ".h264", ".264", ".hevc", ".265", ".gif"}
)
CONTAINER_CHOICES = ("mp4", "mkv", "mov", "webm")
_GLOB_CHARS = set("*?[")


def is_video_name(path: Path) -> bool:
    """A name a folder scan picks: a video extension, not hidden, not a partial output."""
    return path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")


def videos_in(folder: Path, recursive: bool = False) -> list[Path]:
    """The videos in ``folder`` sorted by name (by relative path when ``recursive``)."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted((p for p in found if p.is_file() and is_video_name(p)), key=lambda p: str(p.relative_to(folder)))


def expand_inputs(items: Sequence[str | Path], recursive: bool = False) -> list[Path]:
    """Files as given, folders as their videos, quoted globs as their matches, in order.

    Raises InputError with one sentence for a path that does not exist, or a folder or glob
    with no video in it. A file named twice is kept once.
    """
    paths: list[Path] = []
    for item in items:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            found = videos_in(path, recursive)
            if not found:
                raise InputError(f"The folder {path} has no video files in it.")
        elif path.exists():
            found = [path]
        elif _GLOB_CHARS & set(text):
            matches = sorted(glob.glob(text, recursive=recursive))
            found = [Path(m) for m in matches if Path(m).is_file() and is_video_name(Path(m))]
            if not found:
                raise InputError(f"No video file matches {text}.")
        else:
            raise InputError(f"The input {path} does not exist.")
        for candidate in found:
            if not any(_same(candidate, seen) for seen in paths):
                paths.append(candidate)
    if not paths:
        raise InputError("No input was given.")
    return paths


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def output_is_folder(output: str | Path, inputs: int) -> bool:
    """True when outputs go into the folder ``output`` rather than to the file ``output``."""
    text = str(output)
    return inputs > 1 or Path(text).is_dir() or text.endswith(("/", "\\"))


def container_suffix(source: Path, container: str | None, codec: str) -> str:
    """``--container``, else the input's own when the codec fits it, else ``.mp4``."""
    if container is not None:
        if container not in CONTAINER_CHOICES:
            raise OptionError(f"--container must be one of {', '.join(CONTAINER_CHOICES)}, got {container!r}.")
        return f".{container}"
    own = source.suffix.lower()
    if own in CONTAINERS and own != ".avi":
        try:
            codec_for_output(f"x{own}", codec)
            return own
        except OptionError:
            pass
    return ".mp4"


def plan_outputs(
    inputs: Sequence[Path], output: str | Path, container: str | None = None, codec: str = "auto"
) -> list[tuple[Path, Path]]:
    """(input, output) for each input; refuses clashing output names before anything starts."""
    if not output_is_folder(output, len(inputs)):
        if container is not None:
            raise OptionError("--container applies when outputs go into a folder; -o names the file here.")
        return [(inputs[0], Path(output))]
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise OptionError(f"The output {folder} is a file; with several inputs -o must name a folder.")
    if not folder.exists() and not folder.parent.is_dir():
        raise OptionError(f"The output folder's parent {folder.parent} does not exist.")
    planned: list[tuple[Path, Path]] = []
    by_name: dict[str, Path] = {}
    for source in inputs:
        target = folder / f"{source.stem}{container_suffix(source, container, codec)}"
        if target.absolute() == source.absolute() or (target.exists() and target.samefile(source)):
            raise OptionError(f"{source} would be overwritten by its own output; choose another output folder.")
        key = target.name.lower()
        if key in by_name:
            raise OptionError(
                f"{by_name[key]} and {source} would both be written to {target}; rename one or run them apart."
            )
        by_name[key] = source
        planned.append((source, target))
    folder.mkdir(exist_ok=True)  # only once nothing was refused
    return planned
