"""The check that keeps seeking safe: every range that started at a keyframe agrees with its neighbour.

A worker that decodes from a keyframe (core/video/keyframe_index.py) numbers its frames from the
keyframe's place in the demuxer's index. Damage before that keyframe which the demuxer cannot
see (a packet that does not decode, a picture the decoder leaves out) shifts a whole run's
frame numbers but not the worker's, which would then make the wrong pairs: silently damaged
footage. So each run records in the journal, for each segment (core/job_journal.py):

* ``pair``: the pts and a CRC-32 of the picture of the segment's first frame, and ``seek``,
  the frame its reader started decoding at (0: the first frame);
* ``next``: the same for the frame after the segment's last pair (where the next segment
  starts), and ``damage``, the damage its reader had met by then.

Segment ``k``'s ``pair`` and segment ``k-1``'s ``next`` are the same frame; when they come from
different runs they were decoded by different readers. Segment 0 is always decoded from the
first frame, so if every segment made after a seek agrees with the one before it, every frame
number is a whole run's, by induction. Before the join, :func:`verify_seeks` finds the first
segment made after a seek that disagrees, has no record to agree with, or follows a segment
whose run met damage (then the whole run's timeline may differ in ways a frame number does not
show), and has its range made again decoding from the first frame; it never joins a wrong output.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import DecodeError
from core.journal import Journal, read_manifest


def frame_record(frame: Any) -> list[int]:
    """A decoded frame's pts and a CRC-32 of the picture the pipeline took from it."""
    return [int(frame.pts), zlib.crc32(np.ascontiguousarray(frame.rgb).data)]


def first_suspect(manifest: dict[str, Any]) -> tuple[int, str] | None:
    """The first segment made after a seek that cannot be trusted, and why; None when all can."""
    segments = manifest.get("segments", {})
    clean = True
    for number in sorted(int(k) for k in segments):
        entry = segments[str(number)]
        if entry.get("seek"):
            before = segments.get(str(number - 1))
            if not clean:
                return number, "the input is damaged before it"
            if before is None or "next" not in before or "pair" not in entry:
                return number, "its first frame has no record to check against"
            (pts, picture), (their_pts, their_picture) = entry["pair"], before["next"]
            if pts != their_pts:
                return number, f"its first frame (pts {pts}) is not the one decoded from further back (pts {their_pts})"
            if picture != their_picture:
                return number, f"its first frame (pts {pts}) is not the picture decoded there from further back"
        if entry.get("damage"):
            clean = False
    return None


def damage_recorded(folder: Path) -> bool:
    """Whether any segment's run met damage: ranges that start later had better not seek (each
    would be made again from the first frame, one after another, before the join)."""
    manifest = read_manifest(folder) or {}
    return any(entry.get("damage") for entry in manifest.get("segments", {}).values())


def verify_seeks(folder: Path, ranges: Sequence[range], segment_pairs: int, redo: Callable[[range], None],
                 log: Callable[[str, str], None], name: str) -> int:
    """Make again, decoding from the first frame, every range whose seek cannot be trusted
    (see the module docstring); returns how many were made again."""
    redone: set[tuple[int, int]] = set()
    total = max(r.stop for r in ranges)
    while (found := first_suspect(read_manifest(folder) or {})) is not None:
        segment, why = found
        pair = segment * segment_pairs
        again = next((r for r in ranges if r.start <= pair < r.stop), None)
        if again is None or (again.start, again.stop) in redone:
            raise DecodeError(f"The frames of {name} near pair {pair + 1} decode differently from a keyframe "
                              "and from the first frame; nothing was written.")
        redone.add((again.start, again.stop))
        log("warning", f"pairs {again.start + 1}-{again.stop} were decoded from a keyframe but {why}: "
                       "making them again, decoding from the first frame")
        manifest = read_manifest(folder)
        assert manifest is not None
        last = None if again.stop >= total else -(-again.stop // segment_pairs)
        Journal(folder, manifest).drop(again.start // segment_pairs, last)
        redo(again)
    return len(redone)
