"""The job journal: segment files and their manifest in a folder beside the output.

``out.mp4`` is journaled in ``.out.mp4.framedeck/``: closed segment files
(core/video/segment_files.py) and ``manifest.json``. The manifest names the input's
identity, every option that shapes the output, the encoder settings, and each stored
segment's boundaries; it is rewritten atomically (temporary name, fsync, rename) after each
segment file is renamed into place, so it only ever lists whole files. A rerun of the same
job finds the journal and continues from the first segment missing from it; a journal made
by another input or other options is refused and left as it is.

Several workers (one per device, threads or processes) may write into one journal: every
change to the manifest is made under a lock on the output's folder (``flock``, so it holds
across processes), re-reading the manifest from disk and changing only its own entries, so
no worker's record overwrites another's.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.errors import OutputError
from core.options import JobOptions
from core.video.segment_files import fsync_folder

VERSION = 1
MANIFEST = "manifest.json"
MIB = 1 << 20


def journal_folder(output: Path) -> Path:
    """``.out.mp4.framedeck`` beside ``out.mp4``."""
    return output.with_name(f".{output.name}.framedeck")


@dataclass(frozen=True)
class InputIdentity:
    """What makes an input file the same file: path, size, mtime, and hashes of both ends."""

    path: str
    size: int
    mtime_ns: int
    sha1_first_mib: str
    sha1_last_mib: str

    @classmethod
    def of(cls, path: Path) -> InputIdentity:
        stat = path.stat()
        with open(path, "rb") as handle:
            head = hashlib.sha1(handle.read(MIB)).hexdigest()
            handle.seek(max(0, stat.st_size - MIB))
            tail = hashlib.sha1(handle.read(MIB)).hexdigest()
        return cls(str(path.resolve()), stat.st_size, stat.st_mtime_ns, head, tail)


def output_options(options: JobOptions, device_type: str, frame_path: str) -> dict[str, Any]:
    """Every option that changes the output's frames, timestamps or encoding."""
    return {
        "factor": options.factor,
        "target_fps": None if options.target_fps is None else str(options.target_fps),
        "model": options.model,
        "weights": options.weights,
        "precision": options.precision,
        "scale": options.scale,
        "scene_cut": options.scene_cut,
        "codec": options.codec,
        "crf": options.crf,
        "preset": options.preset,
        "pix_fmt": options.pix_fmt,
        "device": device_type,
        "frame_path": frame_path,
        "cuda_graphs": options.cuda_graphs,
    }


def _describe(key: str, old: Any, new: Any) -> str:
    return f"{key} was {old!r}, now {new!r}"


def difference(stored: dict[str, Any], current: dict[str, Any]) -> str | None:
    """The first difference between a stored journal header and this job's, in words."""
    if stored.get("version") != current["version"]:
        return f"it was written by another journal version ({stored.get('version')!r})"
    old_input, new_input = stored.get("input", {}), current["input"]
    for key, label in (("path", "input path"), ("size", "input size"), ("mtime_ns", "input modification time"),
                       ("sha1_first_mib", "input's first MiB"), ("sha1_last_mib", "input's last MiB")):
        if old_input.get(key) != new_input[key]:
            if key in ("path", "size"):
                return f"it belongs to another input ({_describe(label, old_input.get(key), new_input[key])})"
            return f"it belongs to another input (the {label} differs)"
    for section in ("options", "encoder"):
        old, new = stored.get(section, {}), current[section]
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                return f"it was made with other options ({_describe(key, old.get(key), new.get(key))})"
    if stored.get("segment_pairs") != current["segment_pairs"]:
        return f"it cuts segments every {stored.get('segment_pairs')} pairs, this job every {current['segment_pairs']}"
    return None


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest in ``folder``, or None when there is none (or it is not readable)."""
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def write_atomically(path: Path, text: str) -> None:
    temp = path.with_name(path.name + ".partial")
    with open(temp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    fsync_folder(path.parent)


def size_text(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def check_free_disk(folder: Path, output_estimate: int, journal_bytes: int = 0) -> None:
    """Raise OutputError when the journal plus the joined output (about twice the output) will not fit."""
    needed = 2 * output_estimate - journal_bytes
    free = free_bytes(folder)
    if needed > free:
        raise OutputError(
            f"The output folder {folder} has {size_text(free)} free but this job needs about "
            f"{size_text(needed)} (its journal of segments plus the joined output, about twice the "
            f"output's size); free some space or write the output elsewhere."
        )


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` (a directory), across threads and processes."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class Journal:
    """One job's journal folder and manifest; every change is safe from any thread, and
    from other processes writing into the same journal (see the module docstring)."""

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        self.folder = folder
        self.manifest = manifest
        self._lock = threading.Lock()

    # -- opening ----------------------------------------------------------------------------------

    @classmethod
    def open(cls, folder: Path, header: dict[str, Any], stored: dict[str, Any] | None, *,
             forget: bool = True) -> Journal:
        """Continue ``stored`` (the manifest found, already checked to match) or start afresh.
        ``forget`` deletes files the manifest does not list; a worker sharing the journal
        with others passes False (their segments in progress are not listed yet)."""
        if stored is not None:
            journal = cls(folder, stored)
            if forget:
                journal.forget_unrecorded()
            return journal
        if folder.exists():  # a folder without a readable manifest holds nothing recorded
            shutil.rmtree(folder)
        folder.mkdir()
        fsync_folder(folder.parent)
        journal = cls(folder, {**header, "segments": {}, "end": None})
        journal.save()
        return journal

    def forget_unrecorded(self) -> None:
        """Delete files the manifest does not list (segments that were being written)."""
        keep = {MANIFEST} | {s["file"] for s in self.segments.values()}
        for path in self.folder.iterdir():
            if path.name not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()

    # -- reading ----------------------------------------------------------------------------------

    @property
    def segments(self) -> dict[str, dict[str, Any]]:
        return self.manifest["segments"]

    def segment(self, number: int) -> dict[str, Any] | None:
        return self.segments.get(str(number))

    def first_missing(self) -> int:
        n = 0
        while str(n) in self.segments:
            n += 1
        return n

    @property
    def complete(self) -> bool:
        end = self.manifest.get("end")
        return end is not None and self.first_missing() > end["last_segment"]

    def files(self) -> list[Path]:
        last = self.manifest["end"]["last_segment"]
        return [self.folder / self.segments[str(n)]["file"] for n in range(last + 1)]

    def stored_bytes(self) -> int:
        return sum(s["bytes"] for s in self.segments.values())

    def frames_before(self, number: int) -> int:
        return sum(self.segments[str(n)]["frames"] for n in range(number))

    # -- writing ----------------------------------------------------------------------------------

    def save(self) -> None:
        write_atomically(self.folder / MANIFEST, json.dumps(self.manifest, indent=1))

    def update(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Apply ``change`` to the manifest on disk (as other writers left it) and save it."""
        with self._lock, folder_lock(self.folder.parent):
            manifest = read_manifest(self.folder) or self.manifest
            change(manifest)
            self.manifest = manifest
            self.save()

    def refresh(self) -> None:
        """Read what every writer has recorded so far."""
        with self._lock, folder_lock(self.folder.parent):
            self.manifest = read_manifest(self.folder) or self.manifest

    def set(self, key: str, value: Any) -> None:
        def change(manifest: dict[str, Any]) -> None:
            manifest[key] = value

        self.update(change)

    def record(self, number: int, entry: dict[str, Any]) -> None:
        """List a segment whose file is whole on disk."""
        def change(manifest: dict[str, Any]) -> None:
            manifest["segments"][str(number)] = entry

        self.update(change)

    def drop(self, first: int, stop: int | None) -> None:
        """Forget segments ``first`` to ``stop`` (exclusive; None: all later ones and the end
        mark), which this run makes again."""
        def change(manifest: dict[str, Any]) -> None:
            segments = manifest["segments"]
            for key in [k for k in segments if int(k) >= first and (stop is None or int(k) < stop)]:
                entry = segments.pop(key)
                with contextlib.suppress(OSError):
                    (self.folder / entry["file"]).unlink()
            if stop is None:
                manifest["end"] = None

        self.update(change)

    def mark_end(self, end: dict[str, Any]) -> None:
        self.set("end", end)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        fsync_folder(self.folder.parent)


def header_for(identity: InputIdentity, options: dict[str, Any], encoder: dict[str, Any], segment_pairs: int) -> dict:
    return {
        "version": VERSION,
        "input": asdict(identity),
        "options": options,
        "encoder": encoder,
        "segment_pairs": segment_pairs,
    }
