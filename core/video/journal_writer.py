"""Encoding into closed segment files in a journal folder, and the lossless join at the end.

:class:`JournalVideoWriter` is a :class:`core.video.segments.SegmentedVideoWriter` whose
segments are cut where the job says (:meth:`end_segment`, at input-pair boundaries, so a
later run can start at any of them) and whose finished segments go to segment files
(core/video/segment_files.py) instead of into the output: each is written under a temporary
name, fsynced, renamed, then reported to ``on_segment`` (the job records it in the journal's
manifest). :meth:`finish` with the list of every segment file joins them in order into the
output, with the source's audio muxed in then, under a temporary name in the journal folder
that is renamed into place. The encoders' thread count is fixed by the caller, so the same
frames give the same packets in every run.
"""

from __future__ import annotations

import contextlib
import os
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import EncodeError, FramedeckError
from core.video.output_file import OutputFile
from core.video.segment_files import SegmentFileError, SegmentFileWriter, read_header, read_packets
from core.video.segments import SegmentedVideoWriter, _Segment, _Stopped


@dataclass(frozen=True)
class StoredSegment:
    """A segment file that is whole on disk."""

    number: int
    path: Path
    frames: int
    first_frame: int  # output frame index of its first frame
    bytes: int


def deterministic(codec: str, options: dict[str, str]) -> dict[str, str]:
    """Encoder options that give the same packets for the same frames in every run.

    libx264's macroblock-tree rate control gave different packets for the same frames and
    settings from run to run inside a busy process (measured at 320x240 and above; never with
    it off), so a resumed job could not match an uninterrupted one; it is turned off.
    """
    if codec != "libx264":
        return options
    params = options.get("x264-params")
    return {**options, "x264-params": f"{params}:mbtree=0" if params else "mbtree=0"}


def segment_path(folder: Path, number: int) -> Path:
    return folder / f"segment-{number:06d}.fdseg"


class JournalVideoWriter(SegmentedVideoWriter):
    """Segments cut by the caller, stored as files in ``folder``; joined by :meth:`finish`.

    ``first_segment`` numbers the first segment this writer makes; ``frames_before`` is the
    count of output frames in the segments already stored (so frame indices stay global).
    """

    def __init__(
        self,
        output: str | os.PathLike,
        *,
        folder: Path,
        on_segment: Callable[[StoredSegment], None],
        first_segment: int = 0,
        frames_before: int = 0,
        store_fault: Callable[[int], None] | None = None,
        join_fault: Callable[[int], None] | None = None,
        join_name: str = "joining",
        **kwargs,
    ) -> None:
        kwargs.setdefault("segment_frames", 1 << 30)  # never cut by count: end_segment() cuts
        super().__init__(output, **kwargs)
        self.options = deterministic(self.codec_name, self.options)
        self.folder = Path(folder)
        self.on_segment = on_segment
        self.segments = first_segment
        self.frames_written = frames_before
        self.join_seconds = 0.0
        self.store_fault = store_fault  # called before segment K is stored (tests hang it)
        self.join_fault = join_fault  # called after each packet joined
        self._store_file: SegmentFileWriter | None = None
        self.join_name = join_name  # the temporary output's name in the journal folder

    def __enter__(self):
        self._file = OutputFile(self.output, self.source)
        self._file.temp_path = self.folder / f"{self.join_name}{self.output.suffix}"
        self.temp_path = self._file.temp_path
        self._setup = self._encoder_setup()
        self._file.open(self._setup, self.notes, write_header=False)
        self._start_threads()
        return self

    def _start_threads(self) -> None:
        for n in range(self.workers):
            self._start(self._work, f"framedeck-encode-{n}")
        self._start(self._store_all, "framedeck-store")

    # -- cuts ----------------------------------------------------------------------------------

    def _starts_segment(self, index: int) -> bool:
        return self._current is None

    def _ends_segment(self) -> bool:
        return False

    def end_segment(self, end_pts: int) -> None:
        """Close the open segment; its last frame lasts until ``end_pts`` (the next segment's start).

        A segment that got no frame is stored empty, so segment numbers stay those of the pairs.
        """
        self._raise_if_failed()
        end_pts = self._end_pts(end_pts)  # in the stream's own time base (AVI counts frames)
        if self._pending is not None:
            picture, pts = self._pending
            self._pending = None
            duration = end_pts - pts if end_pts > pts else self._last_delta or self._setup.nominal_duration()
            self._dispatch(picture, pts, duration)
        if self._current is None:
            self._open_segment(self.frames_written)
        self._close_segment()

    def last_segment(self) -> int:
        """The number the last segment will have once :meth:`finish` has closed it."""
        if self._current is not None:
            return self.segments - 1
        if self._pending is not None:
            return self.segments  # finish() opens one for the frame still pending
        return self.segments - 1

    def _finish_encoding(self, end_pts: int | None) -> None:
        """``end_pts`` in the time base the writer was given (end_segment converts it)."""
        if self._pending is not None or self._current is not None:
            if end_pts is None:
                self.end_segment(0)  # the last frame keeps the spacing before it
            else:
                self.end_segment(end_pts)
        for _ in range(self.workers):
            self._todo.put(None)
        self._order.put(None)
        for thread in self._threads:
            thread.join()

    def wind_down(self, grace: float) -> None:
        """After an interrupt: give up the open segment, let closed ones be stored for up to
        ``grace`` seconds, then stop (what is not stored by then is given up too)."""
        if self._finished or not self._threads:
            return
        current = self._current
        if current is not None:
            current.abandoned = True
            self._close_segment()
        self._pending = None
        for _ in range(self.workers):
            self._todo.put(None)
        self._order.put(None)
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    # -- the store thread ------------------------------------------------------------------------

    def _store_all(self) -> None:
        """Each segment's packets, in segment order, into its own file; then report it."""
        try:
            with contextlib.suppress(_Stopped):
                while (segment := self._get(self._order)) is not None:
                    self._store(segment)
        finally:
            if self._store_file is not None:
                self._store_file.discard()
                self._store_file = None

    def _store(self, segment: _Segment) -> None:
        path = segment_path(self.folder, segment.number)
        if self.store_fault is not None:
            self.store_fault(segment.number)
        while True:
            with self._ready:
                while not segment.packets and not segment.done:
                    if self._stop.is_set():
                        raise _Stopped
                    self._ready.wait(0.05)
                packets = list(segment.packets)
                segment.packets.clear()
                finished = segment.done and not segment.packets
                extradata = segment.extradata
            if segment.abandoned:
                if finished:
                    return
                continue
            if self._store_file is None:
                self._store_file = SegmentFileWriter(path, extradata, self.time_base)
            for packet in packets:
                self._store_file.add(packet)
            if finished:
                break
        store, self._store_file = self._store_file, None
        size = store.close()
        self.on_segment(StoredSegment(segment.number, path, segment.count, segment.first_frame, size))

    # -- the join --------------------------------------------------------------------------------

    def finish(
        self, end_pts: int | None = None, join: Callable[[], Sequence[Path] | None] | None = None
    ) -> None:
        """Encode and store what is left; then, when ``join`` gives every segment file in
        order, join them into the output (renamed into place); else the output is not written."""
        if self._finished:
            return
        with self._finishing():
            self._finish_encoding(end_pts)
            self._raise_if_failed()
            assert self._file is not None
            paths = join() if join is not None else None
            if paths is None:
                self._file.discard()
            else:
                start = self.clock()
                self._join(paths)
                self._file.commit()
                self.join_seconds = self.clock() - start

    def _join(self, paths: Sequence[Path]) -> None:
        """Mux every packet of ``paths`` in order, restamping dts as one encoder would have."""
        assert self._file is not None and self._file.stream is not None
        try:
            self._frame_pts = array("q", sorted(p.pts for path in paths for p in read_packets(path, payload=False)
                                                if p.pts is not None))
            self._packets_muxed, self._reorder = 0, None
            first = True
            last_dts: int | None = None
            for n, path in enumerate(paths):
                extradata, _ = read_header(path)
                packets = [p.to_packet(self.time_base) for p in read_packets(path)]
                if not packets:
                    continue
                if first:
                    self._set_extradata(extradata)
                    first = False
                elif extradata != self._file.stream.codec_context.extradata:
                    raise EncodeError(
                        f"Segment {n + 1}'s encoder used other stream headers; the segments cannot be joined."
                    )
                for packet in packets:
                    last_dts = self._mux([packet], last_dts)
                    if self.join_fault is not None:
                        self.join_fault(self._packets_muxed)
            self._file.finish_audio()
        except SegmentFileError as exc:
            raise EncodeError(f"A journal segment cannot be read ({exc}); run again with --restart.") from None
        except FramedeckError:
            raise
