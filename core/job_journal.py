"""The journal side of a job: refuse a journal made by another job, find where to start,
record each stored segment with its boundaries, and clean up or keep at the end.

See core/journal.py for the folder and manifest, and core/video/journal_writer.py for the
segment files. Segment ``k`` holds the output of input pairs ``[k*P, (k+1)*P)`` (``P`` is
``segment_pairs``); the last one also holds the last frame's own slots.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import OptionError, OutputError
from core.journal import (
    InputIdentity,
    Journal,
    check_free_disk,
    difference,
    folder_lock,
    header_for,
    journal_folder,
    output_options,
    read_manifest,
)
from core.options import JobOptions
from core.seek_check import frame_record
from core.video.journal_writer import JournalVideoWriter, StoredSegment
from core.video.probe import VideoInfo

SEGMENT_SECONDS = 4.0  # of input per segment, by default (each costs an encoder start)
MIN_SEGMENT_PAIRS = 8


def default_segment_pairs(info: VideoInfo, total_pairs: int, workers: int) -> int:
    """About four seconds of input; shorter for short jobs on several encoders, so each has work."""
    pairs = round(SEGMENT_SECONDS * float(info.fps))
    if workers > 1:
        pairs = min(pairs, total_pairs // (2 * workers))
    return max(MIN_SEGMENT_PAIRS, pairs)


def estimate_output_bytes(info: VideoInfo, codec: str, expected_frames: int, input_frames: int) -> int:
    """About how big the output will be: lossless ffv1 from the frame size, else the input's
    bytes per frame (interpolated frames cost no more than source ones)."""
    if codec == "ffv1":
        per_frame = info.width * info.height * (3 if info.is_rgb else 1.5) * 0.6
    else:
        per_frame = Path(info.path).stat().st_size / max(1, input_frames)
    return int(per_frame * expected_frames)


@dataclass(frozen=True)
class StartPoint:
    """Where this run starts: segment, pair (= its first input frame) and what is known there."""

    segment: int
    pair: int
    pts: int | None  # input pts of frame ``pair``; None when unknown
    scene: list[float] | None  # the scene-cut detector's recent scores before ``pair``
    frames_before: int  # output frames in the segments before ``segment``


class JobJournal:
    """One job's use of its journal."""

    def __init__(self, output: Path, options: JobOptions, info: VideoInfo, restart: bool,
                 log: Callable[[str, str], None], total_pairs: int, workers: int, *,
                 shared: bool = False) -> None:
        self.output = output
        self.shared = shared  # one of several workers writing into this journal (core/device_job.py)
        self.folder = journal_folder(output)
        self.options = options
        self.info = info
        self.restart = restart
        self.log = log
        self.segment_pairs = options.segment_pairs or default_segment_pairs(info, total_pairs, workers)
        self.stored = read_manifest(self.folder) if self.folder.exists() and not restart else None
        if self.stored is not None:
            self.segment_pairs = self.stored.get("segment_pairs", self.segment_pairs)
        self.journal: Journal | None = None
        self.boundaries: dict[int, dict[str, Any]] = {}  # segment -> what is known at its end
        self.checks: dict[int, dict[str, Any]] = {}  # segment -> its boundary records (core/seek_check.py)
        self.first_pts: int | None = None

    def encoder_threads(self) -> int | None:
        """The libav threads per encoder of the run that made the journal (so packets match)."""
        if self.stored is None:
            return None
        return self.stored.get("encoder", {}).get("threads")

    # -- opening ----------------------------------------------------------------------------------

    def open(self, writer: JournalVideoWriter, device_type: str, frame_path: str, estimate: int) -> None:
        """Check a found journal against this job (OutputError naming the difference, the
        journal left untouched), check free disk, then continue or start the journal."""
        encoder = {
            "codec": writer.codec_name,
            "pix_fmt": writer.pix_fmt,
            "options": dict(writer.options),
            "threads": writer.threads_per_encoder,
            "width": writer.width,
            "height": writer.height,
            "time_base": str(writer.time_base),
            "rate": str(writer.rate),
        }
        header = header_for(
            InputIdentity.of(Path(self.info.path)),
            output_options(self.options, device_type, frame_path),
            encoder,
            self.segment_pairs,
        )
        with folder_lock(self.output.parent):  # another worker may be opening it too
            if self.shared and self.folder.exists():
                self.stored = read_manifest(self.folder)
            self._open(header, estimate)

    def _open(self, header: dict[str, Any], estimate: int) -> None:
        if self.stored is not None:
            why = difference(self.stored, header)
            if why is not None:
                raise OutputError(
                    f"The journal {self.folder} was not made by this job ({why}); it is left as it is: "
                    f"run with --restart to discard it, or choose another output name."
                )
        elif self.folder.exists() and self.restart:
            self.log("info", f"--restart: discarding the journal {self.folder}")
        kept = self.stored_bytes()
        check_free_disk(self.output.parent, estimate, kept)
        self.journal = Journal.open(self.folder, header, self.stored, forget=not self.shared)
        self.first_pts = self.journal.manifest.get("first_pts")

    def stored_bytes(self) -> int:
        if self.stored is None:
            return 0
        return sum(s.get("bytes", 0) for s in self.stored.get("segments", {}).values())

    @property
    def complete(self) -> bool:
        return self.journal is not None and self.journal.complete

    def start(self, pairs: range | None, total_pairs: int) -> StartPoint | None:
        """Where this run starts (None: the range asked for is already all in the journal)."""
        assert self.journal is not None
        journal, size = self.journal, self.segment_pairs
        first, stop = (0, None) if pairs is None else (pairs.start, pairs.stop)
        if pairs is not None:
            if pairs.step != 1 or first < 0 or first % size:
                raise OptionError(
                    f"A range of pairs must be contiguous and start at a segment boundary "
                    f"(a multiple of {size}), got {pairs}."
                )
            if stop < total_pairs and stop % size:
                raise OptionError(f"A range of pairs must end at a segment boundary (a multiple of {size}) "
                                  f"or at the end of the input, got {pairs}.")
        segment = first // size
        while journal.segment(segment) is not None:
            segment += 1
        if journal.complete or (stop is not None and segment * size >= stop):
            return None
        last = None if stop is None or stop >= total_pairs else -(-stop // size)  # segments this run makes
        if any(int(k) >= segment and (last is None or int(k) < last) for k in journal.segments) or (
            last is None and journal.manifest.get("end")
        ):
            journal.drop(segment, last)
        if segment == 0:
            return StartPoint(0, 0, None, None, 0)
        before = journal.segment(segment - 1)
        frames_before = sum(s["frames"] for n, s in journal.segments.items() if int(n) < segment)
        if before is None or before.get("next_pts") is None:  # the job rebuilds the scene-cut state
            return StartPoint(segment, segment * size, None, None, frames_before)
        return StartPoint(segment, segment * size, before["next_pts"], before.get("scene"), frames_before)

    # -- while running ----------------------------------------------------------------------------

    def note_first_pts(self, pts: int) -> None:
        assert self.journal is not None
        self.first_pts = pts
        self.journal.set("first_pts", pts)

    def boundary(self, segment: int, next_pts: int, scene: list[float] | None) -> None:
        """What a resumed run needs to start right after ``segment``."""
        self.boundaries[segment] = {"next_pts": next_pts, "scene": scene}

    def note_pair(self, index: int, frame0: Any, frame1: Any, seek_frame: int) -> None:
        """Pair ``index`` is made: at a segment's first pair, record its first frame (and where
        decoding started), at its last the frame after it (and the damage met before it)."""
        size = self.segment_pairs
        if index % size == 0:
            self.checks.setdefault(index // size, {}).update(pair=frame_record(frame0), seek=seek_frame)
        if (index + 1) % size == 0:
            self.checks.setdefault(index // size, {}).update(next=frame_record(frame1),
                                                               damage=frame1.damage_before)

    def on_segment(self, stored: StoredSegment) -> None:
        """The writer stored a segment file: list it in the manifest (from the store thread)."""
        assert self.journal is not None
        entry = {
            "file": stored.path.name,
            "bytes": stored.bytes,
            "frames": stored.frames,
            "first_frame": stored.first_frame,
            "first_pair": stored.number * self.segment_pairs,
            **self.boundaries.pop(stored.number, {}),
            **self.checks.pop(stored.number, {}),
        }
        self.journal.record(stored.number, entry)

    def mark_end(self, last_segment: int, input_frames: int, end_pts: int) -> None:
        assert self.journal is not None
        self.journal.mark_end({"last_segment": last_segment, "input_frames": input_frames, "end_pts": end_pts})

    def files_if_complete(self) -> list[Path] | None:
        assert self.journal is not None
        return self.journal.files() if self.journal.complete else None

    # -- the end ----------------------------------------------------------------------------------

    def kept_pairs(self, total_pairs: int) -> int:
        if self.journal is None:
            return 0
        return min(total_pairs, self.journal.first_missing() * self.segment_pairs)

    def percent(self, pairs: int, total_pairs: int) -> int:
        return math.floor(100 * pairs / total_pairs) if total_pairs else 0

    def remove(self) -> None:
        if self.journal is not None:
            self.journal.remove()
            self.journal = None
