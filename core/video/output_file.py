"""What both video writers share: the temporary output file, the encoder setup, frame conversion.

:class:`OutputFile` is the hidden file beside the destination that a writer encodes into: it
opens the container (the one the extension names, see core/video/containers.py) with one
video stream and the source's other streams (core/video/streams.py), interleaves them with
the video packets, and is either committed (closed, fsynced, renamed into place) or discarded.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from core.errors import OutputError
from core.video.codecs import NVENC
from core.video.containers import container_for
from core.video.probe import VideoInfo, is_rgb_format
from core.video.streams import StreamCarrier

Picture = np.ndarray | av.VideoFrame
VideoContext = av.video.codeccontext.VideoCodecContext

# AVColorSpace values a source may be tagged with that swscale can also convert RGB into,
# and the name PyAV's reformat() takes for each.
_SWS_COLORSPACE = {1: "itu709", 5: "itu601", 6: "smpte170m"}  # BT709, BT470BG, SMPTE170M
_SWS_RANGE = {1: "MPEG", 2: "JPEG"}  # AVCOL_RANGE_MPEG (limited), AVCOL_RANGE_JPEG (full)
_UNSPECIFIED_SPACE, _UNSPECIFIED_RANGE = 2, 0


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


# -- colour tags -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputColour:
    """The source's colour tags, written into the output and used to convert RGB frames."""

    colorspace: int  # AVColorSpace; 2 (unspecified) when only the range is tagged
    color_range: int  # AVColorRange; 0 (unspecified) when only the matrix is tagged

    def tag(self, ctx: VideoContext) -> None:
        """Mark the encoder's output with these tags (x264/x265 write them into the VUI)."""
        if self.colorspace != _UNSPECIFIED_SPACE:
            ctx.colorspace = self.colorspace
        if self.color_range != _UNSPECIFIED_RANGE:
            ctx.color_range = self.color_range

    def from_rgb(self, frame: av.VideoFrame, pix_fmt: str) -> av.VideoFrame:
        """``frame`` (rgb24) in ``pix_fmt`` with this matrix and range, so the tags are true."""
        return frame.reformat(
            format=pix_fmt,
            dst_colorspace=_SWS_COLORSPACE.get(self.colorspace),
            dst_color_range=_SWS_RANGE.get(self.color_range),
        )


def source_colour(source: VideoInfo, pix_fmt: str) -> OutputColour | None:
    """The colour tags of the source's video stream to carry into a YUV output, or None.

    None when the output is RGB, or the source tags neither a matrix framedeck converts
    with (BT.709, BT.601) nor a range. The tags are the probe's, read off the first frame.
    """
    if is_rgb_format(pix_fmt):
        return None
    space, range_ = source.colorspace, source.color_range
    space = space if space in _SWS_COLORSPACE else _UNSPECIFIED_SPACE
    range_ = range_ if range_ in _SWS_RANGE else _UNSPECIFIED_RANGE
    if space == _UNSPECIFIED_SPACE and range_ == _UNSPECIFIED_RANGE:
        return None
    return OutputColour(space, range_)


# -- encoder setup and frames ------------------------------------------------------------------


@dataclass(frozen=True)
class EncoderSetup:
    """Everything an encoder context of the output stream is configured with."""

    codec_name: str
    width: int
    height: int
    pix_fmt: str
    time_base: Fraction
    rate: Fraction
    options: dict[str, str]
    threads: int  # libav threads per encoder (0: libav picks); NVENC keeps its own
    colour: OutputColour | None = None

    def configure(self, ctx: VideoContext) -> None:
        """Size, format, timing, threads and colour tags of one encoder context."""
        ctx.width, ctx.height, ctx.pix_fmt = self.width, self.height, self.pix_fmt
        ctx.time_base = self.time_base
        ctx.framerate = self.rate
        if self.codec_name not in NVENC:
            ctx.thread_count = self.threads
        if self.colour is not None:
            self.colour.tag(ctx)

    def to_frame(self, picture: Picture) -> av.VideoFrame:
        """A frame the encoder takes: a source frame as is when already ``pix_fmt``, else converted."""
        if isinstance(picture, av.VideoFrame):
            if picture.format.name == self.pix_fmt:
                return picture
            return picture.reformat(format=self.pix_fmt)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        if self.pix_fmt == "rgb24":
            return frame
        if self.colour is not None:
            return self.colour.from_rgb(frame, self.pix_fmt)
        return frame.reformat(format=self.pix_fmt)

    def nominal_duration(self) -> int:
        """One frame at the nominal rate, in ``time_base`` units (at least 1)."""
        return max(1, round(1 / (self.rate * self.time_base)))

    def check_picture(self, picture: Picture) -> None:
        """Raise ValueError when ``picture`` is not an RGB uint8 array or frame of this size."""
        if isinstance(picture, np.ndarray):
            if picture.dtype != np.uint8 or picture.shape != (self.height, self.width, 3):
                raise ValueError(
                    f"expected a ({self.height}, {self.width}, 3) uint8 array, got {picture.shape} {picture.dtype}"
                )
        elif picture.width != self.width or picture.height != self.height:
            raise ValueError(f"frame is {picture.width}x{picture.height}, writer is {self.width}x{self.height}")


# -- the file ----------------------------------------------------------------------------------


class OutputFile:
    """The temporary file beside ``output`` a writer encodes into, until commit() or discard().

    The constructor checks ``output`` (OutputError) and picks the temporary name; nothing is
    created before :meth:`open`.
    """

    def __init__(self, output: Path, source: VideoInfo) -> None:
        check_output(output, source)
        self.output = output
        self.source = source
        self.temp_path = temp_path_for(output)
        self.container: av.container.OutputContainer | None = None
        self.stream: av.video.stream.VideoStream | None = None
        self.audio: StreamCarrier | None = None  # every source stream but the picture
        self.closed = False

    def open(self, setup: EncoderSetup, notes: list[str], *, write_header: bool) -> None:
        """Create the file with the video stream (its encoder opened once to validate the
        settings) and the source's audio; on failure delete it and raise OutputError.

        ``write_header`` writes the header now, so the container must accept every stream;
        otherwise (the header waits for the first encoder's extradata) the container is only
        asked whether it can hold the codec.
        """
        try:
            self._open(setup, notes, write_header)
        except BaseException:
            self.discard()
            raise

    def _open(self, setup: EncoderSetup, notes: list[str], write_header: bool) -> None:
        codec, output = setup.codec_name, self.output
        kind = container_for(output)
        try:
            self.container = container = av.open(str(self.temp_path), "w", format=kind.format if kind else None)
        except (av.FFmpegError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or "unknown container"
            raise OutputError(
                f"The output {output.name} cannot be written as {output.suffix} ({reason}); use .mp4 or .mkv."
            ) from None
        except OSError as exc:
            raise OutputError(f"The output folder {output.parent} cannot be written ({exc.strerror}).") from None
        if not write_header and av.codec.Codec(codec, "w").name not in container.supported_codecs:
            raise OutputError(f"The {output.suffix} container cannot hold {codec} video; use .mkv.")
        stream = container.add_stream(codec, rate=setup.rate, options=dict(setup.options))
        setup.configure(stream.codec_context)
        if kind is not None and kind.format in ("mp4", "mov") and codec in ("libx265", "hevc_nvenc"):
            stream.codec_context.codec_tag = "hvc1"  # the HEVC tag Apple players require
        stream.time_base = setup.time_base
        if self.source.rotation:
            stream.set_display_rotation(self.source.rotation)
        try:
            stream.codec_context.open()
        except (av.FFmpegError, ValueError) as exc:
            raise OutputError(
                f"The {codec} encoder refused these settings ({getattr(exc, 'strerror', None) or exc})."
            ) from None
        self.stream = stream
        try:
            # mp4/mov: the earliest stream starts at 0, so a late start is no empty edit
            self.audio = StreamCarrier(self.source.path, container, stream,
                                       start_at_zero=kind is not None and kind.start_at_zero,
                                       untimed=kind is not None and kind.constant_rate)
        except av.FFmpegError as exc:
            raise OutputError(f"The input's other streams cannot be copied into {output.name} ({exc.strerror}).") from None
        notes.extend(self.audio.notes)
        if write_header:
            try:
                container.start_encoding()
            except (av.FFmpegError, ValueError) as exc:
                reason = getattr(exc, "strerror", None) or exc
                raise OutputError(
                    f"The {output.suffix} container cannot hold {codec} video with this input's other streams ({reason}); use .mkv."
                ) from None

    def mux(self, packet: av.Packet) -> None:
        """Mux one video packet, after the source packets (audio, subtitles...) that start before it."""
        assert self.container is not None
        if self.audio is not None:
            stamp = packet.dts if packet.dts is not None else packet.pts
            if stamp is not None:
                self.audio.mux_until(float(stamp * packet.time_base))
            self.audio.shift_packet(packet)
        self.container.mux(packet)

    def finish_audio(self) -> None:
        """Mux the audio left after the last video packet."""
        if self.audio is not None:
            self.audio.finish()

    def close(self) -> None:
        """Close the source audio and the container (writing the trailer); once only."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.audio is not None:
                self.audio.close()
        finally:
            if self.container is not None:
                self.container.close()

    def commit(self) -> None:
        """Close, fsync and rename the file over ``output``, then fsync the folder."""
        self.close()
        with open(self.temp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(self.temp_path, self.output)
        with contextlib.suppress(OSError):
            folder = os.open(self.output.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)

    def discard(self) -> None:
        """Close what is open (ignoring errors) and delete the temporary file."""
        with contextlib.suppress(Exception):
            self.close()
        with contextlib.suppress(FileNotFoundError):
            self.temp_path.unlink()
