"""The colour description of a source, resolved once, and how an output carries it.

:class:`SourceColour` is read off the probe's first frame (falling back to the stream's
container tags): matrix, primaries, transfer, range, chroma location, bit depth, and the
HDR10 static metadata (mastering display, content light level). An untagged matrix is
resolved here, once, by the frame height, and that matrix is used to decode, to encode and
to tag the output, so original and interpolated frames go through the same conversion.

:class:`OutputColour` is what a writer does with it for one output pixel format and codec:
the tags set on the encoder, the encoder options that carry chroma location and HDR10
metadata (x265 and SVT-AV1 write them into the bitstream; PyAV offers no way to give a
muxer stream side data, so other codecs cannot keep them, and a note says so), and the
swscale conversions of the source's frames and of RGB pictures into the output format.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np

from core.video.colour import (
    LEFT_SITED_CODECS,
    MATRIX_OF_SPACE,
    SPACE_OF_MATRIX,
    SWS_NAME,
    SWSCALE_FLAGS,
    ColourSpec,
    Matrix,
    matrix_by_size,
)

VideoContext = av.video.codeccontext.VideoCodecContext

UNSPECIFIED = 2  # AVCOL_PRI / AVCOL_TRC / AVCOL_SPC _UNSPECIFIED
RANGE_UNSPECIFIED, RANGE_LIMITED, RANGE_FULL = 0, 1, 2
TRC_PQ, TRC_HLG = 16, 18

# AVChromaLocation - 1 as names the "chroma_sample_location" codec option takes
CHROMA_LOCATIONS = ("left", "center", "topleft", "top", "bottomleft", "bottom")

PRIMARIES_NAMES = {1: "BT.709", 4: "BT.470M", 5: "BT.470BG", 6: "SMPTE 170M", 7: "SMPTE 240M",
                   8: "film", 9: "BT.2020", 10: "SMPTE 428", 11: "DCI-P3", 12: "Display P3"}
TRANSFER_NAMES = {1: "BT.709", 4: "gamma 2.2", 5: "gamma 2.8", 6: "SMPTE 170M", 7: "SMPTE 240M",
                  8: "linear", 13: "sRGB", 14: "BT.2020 10-bit", 15: "BT.2020 12-bit",
                  16: "PQ (SMPTE 2084)", 18: "HLG (ARIB STD-B67)"}
MATRIX_NAMES = {"bt601": "BT.601", "bt709": "BT.709", "bt2020": "BT.2020 NCL", "fcc": "FCC",
                "smpte240m": "SMPTE 240M", "rgb": "RGB"}

# HDR side data framedeck cannot rewrite; named in a note when the input has it.
_DYNAMIC_SIDE_DATA = {"DYNAMIC_HDR_PLUS": "HDR10+ dynamic metadata",
                      "DOVI_METADATA": "Dolby Vision metadata",
                      "DOVI_RPU_BUFFER": "Dolby Vision metadata",
                      "DYNAMIC_HDR_VIVID": "HDR Vivid dynamic metadata"}

# Encoders that write HDR10 static metadata into the bitstream, and how.
HDR_ENCODERS = ("libx265", "libsvtav1")


@dataclass(frozen=True)
class MasteringDisplay:
    """SMPTE ST 2086 mastering display colour volume (AVMasteringDisplayMetadata)."""

    red: tuple[Fraction, Fraction]  # CIE 1931 xy
    green: tuple[Fraction, Fraction]
    blue: tuple[Fraction, Fraction]
    white: tuple[Fraction, Fraction]
    min_luminance: Fraction  # cd/m2
    max_luminance: Fraction

    @classmethod
    def from_bytes(cls, data: bytes) -> MasteringDisplay | None:
        """Parse the side data; None when it does not give both primaries and luminance."""
        if len(data) < 88:
            return None
        v = struct.unpack_from("<20i2i", data)
        if not (v[20] and v[21]) or any(d == 0 for d in v[1:20:2]):
            return None
        q = [Fraction(v[i], v[i + 1]) for i in range(0, 20, 2)]
        return cls((q[0], q[1]), (q[2], q[3]), (q[4], q[5]), (q[6], q[7]), q[8], q[9])

    def x265(self) -> str:
        """x265's master-display string (chromaticity in 1/50000, luminance in 1/10000 cd/m2)."""

        def xy(p: tuple[Fraction, Fraction]) -> str:
            return f"({round(p[0] * 50000)},{round(p[1] * 50000)})"

        return (f"G{xy(self.green)}B{xy(self.blue)}R{xy(self.red)}WP{xy(self.white)}"
                f"L({round(self.max_luminance * 10000)},{round(self.min_luminance * 10000)})")

    def svt(self) -> str:
        """SVT-AV1's mastering-display string (plain numbers)."""

        def xy(p: tuple[Fraction, Fraction]) -> str:
            return f"({float(p[0]):.5f},{float(p[1]):.5f})"

        return (f"G{xy(self.green)}B{xy(self.blue)}R{xy(self.red)}WP{xy(self.white)}"
                f"L({float(self.max_luminance):.4f},{float(self.min_luminance):.4f})")


@dataclass(frozen=True)
class ContentLight:
    """CTA-861.3 content light level (AVContentLightMetadata), cd/m2."""

    max_cll: int
    max_fall: int

    @classmethod
    def from_bytes(cls, data: bytes) -> ContentLight | None:
        if len(data) < 8:
            return None
        max_cll, max_fall = struct.unpack_from("<2I", data)
        return cls(max_cll, max_fall)


@dataclass(frozen=True)
class SourceColour:
    """The input's colour, resolved once for the whole job."""

    pix_fmt: str
    depth: int  # bits per sample of the decoded frames
    matrix: Matrix  # what converts its YUV (resolved by size when untagged; "rgb" for RGB)
    matrix_tagged: bool
    range: int  # AVColorRange, resolved: 1 limited, 2 full
    primaries: int  # AVColorPrimaries, 2 when untagged (carried as is)
    transfer: int  # AVColorTransferCharacteristic, 2 when untagged
    chroma_location: str | None  # one of CHROMA_LOCATIONS for subsampled YUV, else None
    space_tag: int = UNSPECIFIED  # the AVColorSpace the input gave (before resolving)
    mastering: MasteringDisplay | None = None
    light: ContentLight | None = None
    dynamic: tuple[str, ...] = ()  # dynamic HDR metadata the input has and the output loses

    @property
    def is_rgb(self) -> bool:
        return self.matrix == "rgb"

    @property
    def hdr(self) -> str | None:
        return {TRC_PQ: "PQ", TRC_HLG: "HLG"}.get(self.transfer)

    def spec(self) -> ColourSpec:
        """The matrix, range and siting the torch conversion takes."""
        siting = "left" if self.chroma_location in ("left", "topleft", "bottomleft") else "center"
        rng = "full" if self.range == RANGE_FULL else "limited"
        return ColourSpec(self.matrix, rng, self.matrix_tagged, siting)

    def describe(self) -> str:
        parts = [f"{self.depth}-bit", MATRIX_NAMES[self.matrix]]
        if not self.is_rgb:
            parts.append("full range" if self.range == RANGE_FULL else "limited range")
        if self.primaries != UNSPECIFIED:
            parts.append(f"{PRIMARIES_NAMES.get(self.primaries, self.primaries)} primaries")
        if self.transfer != UNSPECIFIED:
            parts.append(f"{TRANSFER_NAMES.get(self.transfer, self.transfer)} transfer")
        if self.mastering:
            parts.append("mastering display")
        if self.light:
            parts.append(f"MaxCLL {self.light.max_cll}/MaxFALL {self.light.max_fall}")
        return ", ".join(str(p) for p in parts)


def _bits(pix_fmt: str) -> int:
    try:
        comps = av.VideoFormat(pix_fmt).components
    except (ValueError, av.FFmpegError):
        return 8
    return max((c.bits for c in comps if not c.is_alpha), default=8)


def _is_subsampled_yuv(pix_fmt: str) -> bool:
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, av.FFmpegError):
        return False
    if fmt.is_rgb or len(fmt.components) < 3:
        return False
    return fmt.chroma_width(16) != 16 or fmt.chroma_height(16) != 16


def _tag(frame_value: int, stream_value: int, unspecified: int) -> int:
    """The frame's tag, else the container's (ProRes frames carry none; the MOV colr box does)."""
    if frame_value not in (unspecified, None):
        return int(frame_value)
    return int(stream_value) if stream_value is not None else unspecified


def read_source_colour(
    frame: av.VideoFrame, stream: av.video.stream.VideoStream | None = None, codec: str | None = None
) -> SourceColour:
    """The colour of the stream whose first decoded frame is ``frame``."""
    ctx = stream.codec_context if stream is not None else None
    codec = codec or (ctx.name if ctx is not None else None)
    pix_fmt = frame.format.name
    space = _tag(frame.colorspace, ctx.colorspace if ctx else None, UNSPECIFIED)
    rng = _tag(frame.color_range, ctx.color_range if ctx else None, RANGE_UNSPECIFIED)
    primaries = _tag(frame.color_primaries, ctx.color_primaries if ctx else None, UNSPECIFIED)
    transfer = _tag(frame.color_trc, ctx.color_trc if ctx else None, UNSPECIFIED)
    try:
        is_rgb = bool(av.VideoFormat(pix_fmt).is_rgb)
    except (ValueError, av.FFmpegError):
        is_rgb = False
    if is_rgb:
        matrix, tagged, rng = "rgb", True, RANGE_FULL
    else:
        known = MATRIX_OF_SPACE.get(space)
        tagged = known is not None and known != "rgb"
        matrix = known if tagged else matrix_by_size(frame.height)
        if rng not in (RANGE_LIMITED, RANGE_FULL):
            rng = RANGE_FULL if pix_fmt.startswith("yuvj") else RANGE_LIMITED
    location = None
    if _is_subsampled_yuv(pix_fmt):
        location = "left" if codec in LEFT_SITED_CODECS else "center"
    mastering = light = None
    dynamic: list[str] = []
    try:
        entries = [(d.type.name, d) for d in frame.side_data]
    except ValueError:  # a side data type newer than PyAV's list (e.g. MV-HEVC's view id)
        entries = []
    for name, data in entries:
        if name == "MASTERING_DISPLAY_METADATA":
            mastering = MasteringDisplay.from_bytes(bytes(data))
        elif name == "CONTENT_LIGHT_LEVEL":
            light = ContentLight.from_bytes(bytes(data))
        elif name in _DYNAMIC_SIDE_DATA and _DYNAMIC_SIDE_DATA[name] not in dynamic:
            dynamic.append(_DYNAMIC_SIDE_DATA[name])
    return SourceColour(
        pix_fmt=pix_fmt,
        depth=_bits(pix_fmt),
        matrix=matrix,  # type: ignore[arg-type]
        matrix_tagged=tagged,
        range=rng,
        primaries=primaries,
        transfer=transfer,
        chroma_location=location,
        space_tag=space,
        mastering=mastering,
        light=light,
        dynamic=tuple(dynamic),
    )


@dataclass(frozen=True)
class OutputColour:
    """How one output (pixel format, codec) carries a :class:`SourceColour`."""

    source: SourceColour
    pix_fmt: str
    matrix: Matrix  # of the output's samples; "rgb" for an RGB output
    range: int  # AVColorRange of the output's samples
    chroma_location: str | None
    options: dict[str, str] = field(default_factory=dict)  # merged into the encoder's
    notes: tuple[str, ...] = ()

    @property
    def colorspace(self) -> int:
        return SPACE_OF_MATRIX[self.matrix]

    def spec(self) -> ColourSpec:
        """The torch conversion's matrix, range and siting for the output's samples."""
        siting = "left" if self.chroma_location in ("left", "topleft", "bottomleft") else "center"
        return ColourSpec(self.matrix, "full" if self.range == RANGE_FULL else "limited", True, siting)

    def tag(self, ctx: VideoContext) -> None:
        """Mark the encoder's output with every tag (x264/x265/SVT-AV1 write them into the
        bitstream, the muxers into the container)."""
        ctx.colorspace = self.colorspace
        ctx.color_range = self.range
        ctx.color_primaries = self.source.primaries
        ctx.color_trc = self.source.transfer

    def tag_frame(self, frame: av.VideoFrame) -> av.VideoFrame:
        frame.colorspace = self.colorspace
        frame.color_range = self.range
        frame.color_primaries = self.source.primaries
        frame.color_trc = self.source.transfer
        return frame

    def _sws(self, matrix: Matrix) -> str | None:
        return SWS_NAME.get(matrix)

    def from_source(self, frame: av.VideoFrame) -> av.VideoFrame:
        """A decoded source frame in the output's format, converted with the source's own
        matrix and range (the ones the model's frames were made with)."""
        if frame.format.name == self.pix_fmt:
            return frame
        src = self.source
        out = frame.reformat(
            format=self.pix_fmt,
            src_colorspace=self._sws(src.matrix),
            dst_colorspace=self._sws(self.matrix),
            src_color_range=None if src.is_rgb else src.range,
            dst_color_range=None if self.matrix == "rgb" else self.range,
            interpolation=SWSCALE_FLAGS,
        )
        return self.tag_frame(out)

    def from_rgb(self, picture: np.ndarray) -> av.VideoFrame:
        """An RGB (H, W, 3) uint8 or uint16 array in the output's format and matrix."""
        fmt = "rgb24" if picture.dtype == np.uint8 else "rgb48le"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format=fmt)
        if self.pix_fmt == fmt:
            return frame
        out = frame.reformat(
            format=self.pix_fmt,
            dst_colorspace=self._sws(self.matrix),
            dst_color_range=None if self.matrix == "rgb" else self.range,
            interpolation=SWSCALE_FLAGS,
        )
        return self.tag_frame(out)


def output_colour(source: SourceColour, pix_fmt: str, codec: str, height: int) -> OutputColour:
    """What an output of ``pix_fmt`` written by ``codec`` keeps of ``source``.

    A YUV output of a YUV source keeps its matrix and range; a YUV output of an RGB source
    gets the size rule's matrix in limited range; an RGB output has no matrix.
    """
    try:
        out_rgb = bool(av.VideoFormat(pix_fmt).is_rgb)
    except (ValueError, av.FFmpegError):
        out_rgb = False
    notes: list[str] = []
    if out_rgb:
        matrix: Matrix = "rgb"
        rng = RANGE_FULL
    elif source.is_rgb:
        matrix, rng = matrix_by_size(height), RANGE_LIMITED
        notes.append(f"RGB input written as YUV with the {MATRIX_NAMES[matrix]} matrix, limited range")
    else:
        matrix, rng = source.matrix, source.range
        if not source.matrix_tagged and source.space_tag not in (UNSPECIFIED, 3):  # 3: reserved
            notes.append(
                f"the input's colour matrix (AVColorSpace {source.space_tag}) is not one framedeck "
                f"converts; {MATRIX_NAMES[matrix]} (by the frame height) is used both ways and written"
            )
        elif not source.matrix_tagged:
            notes.append(
                f"the input does not tag its colour matrix; {MATRIX_NAMES[matrix]} (by the frame "
                f"height) is used both ways and written into the output"
            )
    location = source.chroma_location if _is_subsampled_yuv(pix_fmt) else None
    options: dict[str, str] = {}
    if location is not None:
        options["chroma_sample_location"] = location
    hdr_static = source.mastering is not None or source.light is not None
    if hdr_static and codec == "libx265":
        params = []
        if source.mastering is not None:
            params.append(f"master-display={source.mastering.x265()}")
        if source.light is not None:
            params.append(f"max-cll={source.light.max_cll},{source.light.max_fall}")
        if source.transfer == TRC_PQ:
            params.append("hdr10=1")
        options["x265-params"] = ":".join(params)
        notes.append("HDR10 mastering display and content light level written into the HEVC stream")
    elif hdr_static and codec == "libsvtav1":
        params = []
        if source.mastering is not None:
            params.append(f"mastering-display={source.mastering.svt()}")
        if source.light is not None:
            params.append(f"content-light={source.light.max_cll},{source.light.max_fall}")
        options["svtav1-params"] = ":".join(params)
        notes.append("HDR10 mastering display and content light level written into the AV1 stream")
    elif hdr_static:
        notes.append(
            f"the input's HDR10 mastering display / content light metadata cannot be written by "
            f"{codec} here and is dropped (--codec libx265 keeps it)"
        )
    if source.dynamic:
        notes.append(f"{' and '.join(source.dynamic)} cannot be carried and is dropped")
    if source.hdr and _bits(pix_fmt) <= 8:
        notes.append(f"{source.hdr} HDR input written with 8 bits per sample ({pix_fmt}): expect banding")
    return OutputColour(source, pix_fmt, matrix, rng, location, options, tuple(notes))


def merge_options(base: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """``base`` with ``extra`` added; the x265/SVT-AV1 parameter strings are joined with ':'."""
    merged = dict(base)
    for key, value in extra.items():
        if key in ("x265-params", "svtav1-params") and merged.get(key):
            merged[key] = f"{merged[key]}:{value}"
        else:
            merged[key] = value
    return merged
