"""Threaded encoding of the output video to a temporary file that is renamed when complete."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from core.errors import EncodeError, FramedeckError, OutputError
from core.video.audio import AudioCarrier
from core.video.codecs import NVENC, encoder_opens_with, resolve_codec
from core.video.formats import choose_pix_fmt, encoder_options
from core.video.probe import VideoInfo

_POLL = 0.05


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


def temp_path_for(output: Path) -> Path:
    """A hidden name beside ``output`` with the same extension, so the muxer picks the container."""
    return output.with_name(f".{output.stem}.partial-{uuid.uuid4().hex[:8]}{output.suffix}")


def check_output(output: Path, source: VideoInfo) -> None:
    """Raise OutputError with one sentence when ``output`` cannot or must not be written."""
    folder = output.parent
    if not folder.exists():
        raise OutputError(f"The output folder {folder} does not exist.")
    if not folder.is_dir():
        raise OutputError(f"The output folder {folder} is not a folder.")
    if output.is_dir():
        raise OutputError(f"The output path {output} is a folder; give a file name such as {output / 'out.mp4'}.")
    source_path = Path(source.path)
    same = output.resolve() == source_path.resolve()
    if not same and output.exists() and source_path.exists():
        same = os.path.samefile(output, source_path)
    if same:
        raise OutputError(f"The output path {output} is the input file; choose another name.")
    if not output.suffix:
        raise OutputError(f"The output name {output.name} has no extension (such as .mp4 or .mkv) to choose the container.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"The output folder {folder} is not writable.")
    if output.exists() and not os.access(output, os.W_OK):
        raise OutputError(f"The output file {output} exists and cannot be replaced (permission denied).")


class VideoWriter:
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
        self.output = Path(output)
        self.width, self.height = width, height
        self.time_base = Fraction(time_base)
        self.rate = Fraction(rate)
        self.settings = settings
        self.source = source
        self.fault = fault
        self.clock = clock
        self.codec_name = resolve_codec(settings.codec)
        self.notes: list[str] = []
        self.pix_fmt = choose_pix_fmt(self.codec_name, settings.pix_fmt, source, width, height, self.notes)
        self.options = encoder_options(self.codec_name, settings, self.notes)
        if settings.codec.strip().lower() == "auto" and self.codec_name in NVENC:
            self._fall_back_from_nvenc(source)
        self.frames_written = 0  # frames handed to the encoder
        self.encode_seconds = 0.0
        self.temp_path: Path | None = None
        self._queue: queue.Queue[tuple[np.ndarray | av.VideoFrame, int] | _Finish | _Abort] = queue.Queue(
            max(1, queue_size)
        )
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._audio: AudioCarrier | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._last_pts: int | None = None
        self._durations: dict[int, int] = {}  # pts -> duration of frames inside the encoder
        self._finished = False
        self._closed = False

    def _fall_back_from_nvenc(self, source: VideoInfo) -> None:
        """'auto' chose NVENC; use libx264 when NVENC refuses this frame size (it has a minimum)."""
        if encoder_opens_with(self.codec_name, self.width, self.height, self.pix_fmt, self.options):
            return
        refused = self.codec_name
        self.codec_name, self.notes = "libx264", []
        self.pix_fmt = choose_pix_fmt("libx264", self.settings.pix_fmt, source, self.width, self.height, self.notes)
        self.options = encoder_options("libx264", self.settings, self.notes)
        self.notes.append(f"{refused} refused {self.width}x{self.height}; encoding with libx264 instead")

    # -- setup -----------------------------------------------------------------------------

    def __enter__(self) -> VideoWriter:
        check_output(self.output, self.source)
        self.temp_path = temp_path_for(self.output)
        try:
            self._open()
        except BaseException:
            self._discard()
            raise
        self._thread = threading.Thread(target=self._run, name="framedeck-encode", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self._finished:
            self.abort()

    def _open(self) -> None:
        assert self.temp_path is not None
        try:
            container = av.open(str(self.temp_path), "w")
        except (av.FFmpegError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or "unknown container"
            raise OutputError(
                f"The output {self.output.name} cannot be written as {self.output.suffix} ({reason}); use .mp4 or .mkv."
            ) from None
        except OSError as exc:
            raise OutputError(f"The output folder {self.output.parent} cannot be written ({exc.strerror}).") from None
        self._container = container
        stream = container.add_stream(self.codec_name, rate=self.rate, options=dict(self.options))
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, self.pix_fmt
        stream.codec_context.time_base = self.time_base
        stream.time_base = self.time_base
        if self.codec_name not in NVENC:
            stream.codec_context.thread_count = 0  # libav picks
        if self.source.rotation:
            stream.set_display_rotation(self.source.rotation)
        try:
            stream.codec_context.open()
        except (av.FFmpegError, ValueError) as exc:
            raise OutputError(
                f"The {self.codec_name} encoder refused these settings ({getattr(exc, 'strerror', None) or exc})."
            ) from None
        self._stream = stream
        if self.source.audio_streams:
            try:
                self._audio = AudioCarrier(self.source.path, container)
            except av.FFmpegError as exc:
                raise OutputError(f"The input's audio cannot be copied into {self.output.name} ({exc.strerror}).") from None
            self.notes.extend(self._audio.notes)
        try:
            container.start_encoding()  # writes the header: the container must accept every stream
        except (av.FFmpegError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise OutputError(
                f"The {self.output.suffix} container cannot hold {self.codec_name} video with this input's audio ({reason}); use .mkv."
            ) from None

    # -- producer side -----------------------------------------------------------------------

    def write(self, frame: np.ndarray | av.VideoFrame, pts: int) -> None:
        """Queue one frame at ``pts`` (in ``time_base``); raises EncodeError if encoding failed."""
        if self._thread is None or self._finished or self._closed:
            raise RuntimeError("VideoWriter.write() outside an open 'with' block")
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(f"pts must increase: {pts} after {self._last_pts}")
        if isinstance(frame, np.ndarray):
            if frame.dtype != np.uint8 or frame.shape != (self.height, self.width, 3):
                raise ValueError(f"expected a ({self.height}, {self.width}, 3) uint8 array, got {frame.shape} {frame.dtype}")
        elif frame.width != self.width or frame.height != self.height:
            raise ValueError(f"frame is {frame.width}x{frame.height}, writer is {self.width}x{self.height}")
        self._last_pts = pts
        self._put((frame, pts))

    def _put(self, item: tuple[np.ndarray | av.VideoFrame, int] | _Finish | _Abort) -> None:
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                assert self._thread is not None
                if not self._thread.is_alive():
                    self._raise_if_failed()
                    raise EncodeError("The encoder thread stopped unexpectedly.") from None

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            error = self._error
            if isinstance(error, FramedeckError):
                raise error
            raise EncodeError(f"Encoding {self.output.name} failed ({error}).") from None

    def finish(self, end_pts: int | None = None) -> None:
        """Flush the encoder, copy the remaining audio, close, fsync and rename into place."""
        if self._finished:
            return
        try:
            self._put(_Finish(end_pts))
            assert self._thread is not None
            self._thread.join()
            self._raise_if_failed()
            self._close_container()
            assert self.temp_path is not None
            with open(self.temp_path, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(self.temp_path, self.output)
            with contextlib.suppress(OSError):
                folder = os.open(self.output.parent, os.O_RDONLY)
                try:
                    os.fsync(folder)
                finally:
                    os.close(folder)
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise EncodeError(f"Finishing {self.output.name} failed ({exc.strerror}).") from None
            raise
        self._finished = True

    def abort(self) -> None:
        """Stop the encoder thread and delete the temporary file; the destination is untouched."""
        if self._finished:
            return
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                self._drain()
                with contextlib.suppress(queue.Full):
                    self._queue.put_nowait(_Abort())
                self._thread.join(timeout=_POLL)
        self._drain()
        with contextlib.suppress(Exception):
            self._close_container()
        self._discard()
        self._finished = True

    def _drain(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()

    def _discard(self) -> None:
        if self._container is not None and not self._closed:
            with contextlib.suppress(Exception):
                self._close_container()
        if self.temp_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.temp_path.unlink()

    def _close_container(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._audio is not None:
                self._audio.close()
        finally:
            if self._container is not None:
                self._container.close()

    # -- encoder thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._encode_all()
        except BaseException as exc:  # handed to the producer
            self._error = self._explain(exc)

    def _explain(self, exc: BaseException) -> BaseException:
        if isinstance(exc, FramedeckError):
            return exc
        if isinstance(exc, av.FFmpegError):
            return EncodeError(
                f"The {self.codec_name} encoder failed at output frame {self.frames_written} ({exc.strerror})."
            )
        if isinstance(exc, OSError):
            return EncodeError(f"Writing {self.output.name} failed ({exc.strerror}).")
        return exc

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
                    self._encode(frame, pts, tail or last_delta or self._nominal())
                self._flush()
                self.encode_seconds += self.clock() - start
                return
            picture, pts = item
            frame = self._to_frame(picture)
            if pending is not None:
                last_delta = pts - pending[1]
                self._encode(pending[0], pending[1], last_delta)
            pending = (frame, pts)
            self.encode_seconds += self.clock() - start

    def _nominal(self) -> int:
        return max(1, round(1 / (self.rate * self.time_base)))

    def _to_frame(self, picture: np.ndarray | av.VideoFrame) -> av.VideoFrame:
        if isinstance(picture, av.VideoFrame):
            if picture.format.name == self.pix_fmt:
                return picture
            return picture.reformat(format=self.pix_fmt)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        return frame if self.pix_fmt == "rgb24" else frame.reformat(format=self.pix_fmt)

    def _encode(self, frame: av.VideoFrame, pts: int, duration: int) -> None:
        if self.fault is not None:
            self.fault(self.frames_written)
        frame.pts = pts
        frame.time_base = self.time_base
        frame.duration = duration
        frame.pict_type = av.video.frame.PictureType.NONE
        self._durations[pts] = duration
        assert self._stream is not None
        self._mux(self._stream.encode(frame))
        self.frames_written += 1

    def _flush(self) -> None:
        assert self._stream is not None
        self._mux(self._stream.encode(None))
        if self._audio is not None:
            self._audio.finish()

    def _mux(self, packets: list[av.Packet]) -> None:
        assert self._container is not None
        for packet in packets:
            if packet.pts is not None and packet.time_base == self.time_base:
                duration = self._durations.pop(packet.pts, None)
                if duration and not packet.duration:
                    packet.duration = duration
            if self._audio is not None:
                stamp = packet.dts if packet.dts is not None else packet.pts
                if stamp is not None:
                    self._audio.mux_until(float(stamp * packet.time_base))
            self._container.mux(packet)
