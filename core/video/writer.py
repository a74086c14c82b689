"""Threaded encoding of the output video to a temporary file that is renamed when complete."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av

from core.errors import EncodeError, FramedeckError
from core.video.codecs import NVENC, encoder_opens_with
from core.video.colour_tags import merge_options
from core.video.containers import codec_for_output, container_for
from core.video.formats import choose_pix_fmt, encoder_options
from core.video.output_file import EncoderSetup, OutputColour, OutputFile, Picture, source_colour
from core.video.probe import VideoInfo

_POLL = 0.05
CLOSE_TIMEOUT = 10.0  # seconds to wait for encoder threads when aborting
_Writer = TypeVar("_Writer", bound="BaseVideoWriter")  # typing.Self needs Python 3.11


@dataclass(frozen=True)
class EncoderSettings:
    """The user's encoder choices; None means the codec's default."""

    codec: str = "auto"
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None


@dataclass(frozen=True)
class _Finish:
    end_pts: int | None


class _Abort:
    """Sentinel: stop without flushing."""


class BaseVideoWriter:
    """What both writers share: the encoder chosen from ``settings``, the temporary output
    file (see :class:`OutputFile`), a thread's failure handed to the producer, and the
    ``with``/``finish``/``abort`` life cycle. A subclass starts its threads, encodes, and
    stops its threads; ``write_header`` says whether the header can be written at open.
    """

    write_header = True

    def __init__(
        self,
        output: str | os.PathLike,
        *,
        width: int,
        height: int,
        time_base: Fraction,
        rate: Fraction,
        settings: EncoderSettings,
        source: VideoInfo,
        fault: Callable[[int], None] | None,
        clock: Callable[[], float],
        threads: int,
    ) -> None:
        self.output = Path(output)
        self.width, self.height = width, height
        self.time_base = Fraction(time_base)
        self.rate = Fraction(rate)
        # A constant-rate container (AVI) counts frames: time base 1/fps, pts = frame slot.
        self.input_time_base = self.time_base
        container = container_for(self.output)
        self.constant_rate = container is not None and container.constant_rate
        if self.constant_rate:
            self.time_base = 1 / self.rate
        self._last_slot: int | None = None
        self.settings = settings
        self.source = source
        self.fault = fault
        self.clock = clock
        # called while write() waits for a busy encoder; what it raises (a stall) ends the wait
        self.interrupt: Callable[[], None] | None = None
        self.codec_name = codec_for_output(self.output, settings.codec)
        self.notes: list[str] = []
        self.pix_fmt = choose_pix_fmt(self.codec_name, settings.pix_fmt, source, width, height, self.notes)
        self.options = encoder_options(self.codec_name, settings, self.notes)
        if container is not None and container.no_reordering:
            self.options["bf"] = "0"  # AVI has no presentation timestamps: frames stored in display order
        self._resolve_colour()
        self.frames_written = 0
        self.encode_seconds = 0.0
        self.temp_path: Path | None = None
        self._threads_per_encoder = threads
        self._setup = self._encoder_setup()
        self._file: OutputFile | None = None
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._finished = False

    def output_pts(self, pts: int) -> int:
        """``pts`` (in the time base the writer was given) in the stream's own time base.

        For a constant-rate container that is the frame's slot at the output rate; a slot
        already taken moves to the next one (variable-rate input into AVI), so no frame is lost.
        """
        if not self.constant_rate:
            return pts
        slot = round(pts * self.input_time_base * self.rate)
        if self._last_slot is not None and slot <= self._last_slot:
            slot = self._last_slot + 1
        self._last_slot = slot
        return slot

    def _end_pts(self, end_pts: int | None) -> int | None:
        if end_pts is None or not self.constant_rate:
            return end_pts
        return round(end_pts * self.input_time_base * self.rate)

    def _resolve_colour(self) -> None:
        """The source's colour as this output carries it: tags, encoder options (chroma
        location, HDR10 metadata) and the notes that say what was decided."""
        self.colour: OutputColour | None = source_colour(self.source, self.pix_fmt, self.codec_name)
        if self.colour is not None:
            self.options = merge_options(self.options, self.colour.options)
            self.notes.extend(self.colour.notes)

    def _encoder_setup(self) -> EncoderSetup:
        return EncoderSetup(
            self.codec_name, self.width, self.height, self.pix_fmt, self.time_base, self.rate, self.options,
            threads=self._threads_per_encoder,
            colour=self.colour,
        )

    def __enter__(self: _Writer) -> _Writer:
        self._file = OutputFile(self.output, self.source)
        self.temp_path = self._file.temp_path
        self._setup = self._encoder_setup()
        self._file.open(self._setup, self.notes, write_header=self.write_header)
        self._start_threads()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self._finished:
            self.abort()

    def _writable(self) -> bool:
        """Inside the ``with`` block, before finish() or abort()."""
        return not self._finished and self._file is not None and not self._file.closed

    def _raise_if_failed(self) -> None:
        error = self._error
        if error is not None:
            if isinstance(error, FramedeckError):
                raise error
            raise EncodeError(f"Encoding {self.output.name} failed ({error}).") from None

    def _explain(self, exc: BaseException) -> BaseException:
        """The error a thread hands to the producer."""
        if isinstance(exc, FramedeckError):
            return exc
        if isinstance(exc, av.FFmpegError):
            return EncodeError(f"{self._encoder_failed_at()} ({exc.strerror}).")
        if isinstance(exc, OSError):
            return EncodeError(f"Writing {self.output.name} failed ({exc.strerror}).")
        return exc

    def finish(self, end_pts: int | None = None) -> None:
        """Encode what is left, copy the remaining audio, close, fsync and rename into place."""
        if self._finished:
            return
        with self._finishing():
            self._finish_encoding(self._end_pts(end_pts))
            self._raise_if_failed()
            assert self._file is not None
            self._file.commit()

    @contextlib.contextmanager
    def _finishing(self) -> Iterator[None]:
        """Around the end of writing: any failure aborts (the temporary file goes) and a disk
        error becomes one sentence; success marks the writer finished."""
        try:
            yield
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise EncodeError(f"Finishing {self.output.name} failed ({exc.strerror}).") from None
            raise
        self._finished = True

    def abort(self) -> None:
        """Stop every thread and delete the temporary file; the destination is untouched."""
        if self._finished:
            return
        self._stop.set()
        self._stop_threads()
        if self._file is not None:
            self._file.discard()
        self._finished = True

    # -- what a writer adds ----------------------------------------------------------------

    def _start_threads(self) -> None:
        raise NotImplementedError

    def _finish_encoding(self, end_pts: int | None) -> None:
        """Encode the frames still pending and wait for the threads to end."""
        raise NotImplementedError

    def _stop_threads(self) -> None:
        """After ``_stop`` is set: end the threads without finishing the stream."""
        raise NotImplementedError

    def _encoder_failed_at(self) -> str:
        """The sentence start for an encoder failure, naming where it happened."""
        raise NotImplementedError


class VideoWriter(BaseVideoWriter):
    """Encodes frames in its own thread into a temporary file beside ``output``.

    ``write`` takes an RGB uint8 (H, W, 3) array or a source ``av.VideoFrame`` (encoded as is
    when its format equals ``pix_fmt``, so ffv1 passthrough is bit-exact) with its pts in
    ``time_base``. ``finish`` flushes, copies the remaining audio, fsyncs and renames the file
    into place; ``abort`` (or leaving the ``with`` block without ``finish``) deletes it.
    Each frame's duration is the distance to the next frame's pts; the last frame's is
    ``finish(end_pts)`` minus its pts, else the previous distance.
    ffv1 may go into .mp4 (libav writes and reads it back), but .mkv is the usual home for it.
    The temporary file's audio timestamps are the source's; a muxer that forbids negative
    timestamps (Matroska) shifts audio and video together, so sync is kept.
    """

    def __init__(
        self,
        output: str | os.PathLike,
        *,
        width: int,
        height: int,
        time_base: Fraction,
        rate: Fraction,
        settings: EncoderSettings,
        source: VideoInfo,
        queue_size: int = 8,
        fault: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        super().__init__(
            output, width=width, height=height, time_base=time_base, rate=rate, settings=settings,
            source=source, fault=fault, clock=clock, threads=0,  # libav picks
        )
        if settings.codec.strip().lower() == "auto" and self.codec_name in NVENC:
            self._fall_back_from_nvenc(source)
        self._queue: queue.Queue[tuple[Picture, int] | _Finish | _Abort] = queue.Queue(max(1, queue_size))
        self._thread: threading.Thread | None = None
        self._last_pts: int | None = None
        self._durations: dict[int, int] = {}  # pts -> duration of frames inside the encoder

    def _fall_back_from_nvenc(self, source: VideoInfo) -> None:
        """'auto' chose NVENC; use libx264 when NVENC refuses this frame size (it has a minimum)."""
        if encoder_opens_with(self.codec_name, self.width, self.height, self.pix_fmt, self.options):
            return
        refused = self.codec_name
        self.codec_name, self.notes = "libx264", []
        self.pix_fmt = choose_pix_fmt("libx264", self.settings.pix_fmt, source, self.width, self.height, self.notes)
        self.options = encoder_options("libx264", self.settings, self.notes)
        self._resolve_colour()
        self.notes.append(f"{refused} refused {self.width}x{self.height}; encoding with libx264 instead")
        self._setup = self._encoder_setup()

    def _start_threads(self) -> None:
        self._thread = threading.Thread(target=self._run, name="framedeck-encode", daemon=True)
        self._thread.start()

    # -- producer side -----------------------------------------------------------------------

    def write(self, frame: Picture, pts: int) -> None:
        """Queue one frame at ``pts`` (in ``time_base``); raises EncodeError if encoding failed."""
        if self._thread is None or not self._writable():
            raise RuntimeError("VideoWriter.write() outside an open 'with' block")
        pts = self.output_pts(pts)
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(f"pts must increase: {pts} after {self._last_pts}")
        self._setup.check_picture(frame)
        self._last_pts = pts
        self._put((frame, pts))

    def _put(self, item: tuple[Picture, int] | _Finish | _Abort) -> None:
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                if self.interrupt is not None:
                    self.interrupt()
                assert self._thread is not None
                if not self._thread.is_alive():
                    self._raise_if_failed()
                    raise EncodeError("The encoder thread stopped unexpectedly.") from None

    def _finish_encoding(self, end_pts: int | None) -> None:
        self._put(_Finish(end_pts))
        assert self._thread is not None
        self._thread.join()

    def _stop_threads(self) -> None:
        if self._thread is not None:
            deadline = time.monotonic() + CLOSE_TIMEOUT
            while self._thread.is_alive() and time.monotonic() < deadline:
                self._drain()
                with contextlib.suppress(queue.Full):
                    self._queue.put_nowait(_Abort())
                self._thread.join(timeout=_POLL)
            # an encoder hung inside libav cannot be stopped; it is a daemon thread, left behind
        self._drain()

    def _drain(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()

    # -- encoder thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._encode_all()
        except BaseException as exc:  # handed to the producer
            self._error = self._explain(exc)

    def _encoder_failed_at(self) -> str:
        return f"The {self.codec_name} encoder failed at output frame {self.frames_written}"

    def _encode_all(self) -> None:
        pending: tuple[av.VideoFrame, int] | None = None
        last_delta: int | None = None
        while True:
            item = self._queue.get()
            if isinstance(item, _Abort) or self._stop.is_set():
                return
            start = self.clock()
            if isinstance(item, _Finish):
                if pending is not None:
                    frame, pts = pending
                    tail = item.end_pts - pts if item.end_pts is not None and item.end_pts > pts else None
                    self._encode(frame, pts, tail or last_delta or self._setup.nominal_duration())
                self._flush()
                self.encode_seconds += self.clock() - start
                return
            picture, pts = item
            frame = self._setup.to_frame(picture)
            if pending is not None:
                last_delta = pts - pending[1]
                self._encode(pending[0], pending[1], last_delta)
            pending = (frame, pts)
            self.encode_seconds += self.clock() - start

    def _encode(self, frame: av.VideoFrame, pts: int, duration: int) -> None:
        if self.fault is not None:
            self.fault(self.frames_written)
        frame.pts = pts
        frame.time_base = self.time_base
        frame.duration = duration
        frame.pict_type = av.video.frame.PictureType.NONE
        self._durations[pts] = duration
        assert self._file is not None and self._file.stream is not None
        self._mux(self._file.stream.encode(frame))
        self.frames_written += 1

    def _flush(self) -> None:
        assert self._file is not None and self._file.stream is not None
        self._mux(self._file.stream.encode(None))
        self._file.finish_audio()

    def _mux(self, packets: list[av.Packet]) -> None:
        assert self._file is not None
        for packet in packets:
            if packet.pts is not None and packet.time_base == self.time_base:
                duration = self._durations.pop(packet.pts, None)
                if duration and not packet.duration:
                    packet.duration = duration
            self._file.mux(packet)
