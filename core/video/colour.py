"""YUV <-> RGB colour conversion in torch, so it can run on the GPU instead of swscale.

The functions take Y, U, V planes (or G, B, R planes of a ``gbrp*`` frame) of 8 to 16 bits
as integer tensors on any device and use the stream's own matrix (BT.601, BT.709, BT.2020
NCL, FCC, SMPTE 240M, or none for RGB), range (limited / full) and bit depth, for 4:2:0,
4:2:2 and 4:4:4. Float RGB comes out in the source's own transfer (nothing is linearised or
tone-mapped); ``clamp=False`` keeps the values that limited-range footage puts below black
and above white, so a round trip gives the source's code values back.

Agreement with swscale (measured against PyAV 18 / libswscale 9):

* ``yuv_to_rgb(..., chroma="bilinear")`` (centred bilinear chroma upsampling) matches
  ``frame.to_ndarray(format="rgb24", interpolation=ACCURATE_RGB_FLAGS)`` within 1 level.
* With ``siting="left"`` (what the H.264/HEVC/MPEG-2 decoders mark) it matches swscale on
  those decoders' frames within 1 level; see :func:`colour_of`.
* ``chroma="nearest"`` reproduces the chroma of swscale's default fast path (what a plain
  ``to_ndarray(format="rgb24")`` runs); that path uses low-precision fixed point, so the
  two differ by up to 3 levels (mean under 1).
* ``rgb_to_yuv420`` (2x2 box-averaged chroma) matches
  ``frame.reformat(format="yuv420p", interpolation=ACCURATE_YUV420_FLAGS, ...)`` within 1 level.

An untagged stream is converted by swscale with BT.601 limited range at every size, so
:func:`colour_of` maps "unspecified" to that by default; the job instead resolves it once
by the frame height (``unspecified="by_size"``) and writes the result into the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import av
import torch
import torch.nn.functional as F
from av.video.reformatter import Interpolation

Matrix = Literal["bt601", "bt709", "bt2020", "fcc", "smpte240m", "rgb"]
Range = Literal["limited", "full"]
Chroma = Literal["bilinear", "nearest"]
Siting = Literal["left", "center"]
Unspecified = Literal["swscale", "by_size"]

# (Kr, Kb) luma coefficients of each YUV matrix (ITU-T H.273).
_COEFFS: dict[str, tuple[float, float]] = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
    "fcc": (0.30, 0.11),
    "smpte240m": (0.212, 0.087),
}

# swscale flags under which PyAV's conversion is exact enough to compare against.
ACCURATE_RGB_FLAGS = (
    Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
)
ACCURATE_YUV420_FLAGS = (
    Interpolation.AREA | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INP
)

# What the swscale frame path converts with, both ways: at 16 bits per channel with accurate
# rounding a YUV -> RGB -> YUV round trip of 8-bit BT.709 bars is off by 0.03 levels of luma
# on average; rgb24 with swscale's default flags, by 0.7 (every interpolated frame darker).
SWSCALE_FLAGS = Interpolation.BILINEAR | Interpolation.ACCURATE_RND

# libavutil AVColorSpace / AVColorRange values.
AVCOL_SPC_RGB = 0
AVCOL_SPC_BT709 = 1
AVCOL_SPC_UNSPECIFIED = 2
AVCOL_SPC_SMPTE170M = 6
_AVCOL_RANGE_MPEG = 1
_AVCOL_RANGE_JPEG = 2

# AVColorSpace -> the matrix that converts it; BT.470BG and SMPTE 170M are both BT.601.
MATRIX_OF_SPACE: dict[int, Matrix] = {
    0: "rgb", 1: "bt709", 4: "fcc", 5: "bt601", 6: "bt601", 7: "smpte240m", 9: "bt2020",
}
# the AVColorSpace written for a matrix chosen by framedeck (not read from the source)
SPACE_OF_MATRIX: dict[str, int] = {
    "rgb": 0, "bt709": 1, "fcc": 4, "bt601": 6, "smpte240m": 7, "bt2020": 9,
}
# the name PyAV's reformat() takes for each matrix
SWS_NAME: dict[str, str] = {
    "bt601": "itu601", "bt709": "itu709", "bt2020": "bt2020", "fcc": "fcc", "smpte240m": "smpte240m",
}

# 8-bit planar YUV formats the device path handled before it took every depth (kept for
# callers that ask about them); :func:`core.video.planes.planar_layout` is the full rule.
GPU_PIX_FMTS: dict[str, tuple[int, int]] = {
    "yuv420p": (2, 2),
    "yuvj420p": (2, 2),
    "yuv444p": (1, 1),
    "yuvj444p": (1, 1),
}

SD_MAX_LINES = 576

# Decoders that mark 4:2:0 chroma as left-sited (co-sited with even luma columns), which
# swscale then honours; the others (VP9, AV1, MJPEG, FFV1...) leave it centred.
LEFT_SITED_CODECS = frozenset({"h264", "hevc", "mpeg2video", "mpeg1video", "mpeg4", "h263"})


@dataclass(frozen=True)
class ColourSpec:
    """How a stream's YUV samples map to RGB."""

    matrix: Matrix
    range: Range
    tagged: bool  # False when the stream left the matrix unspecified and a default was used
    siting: Siting = "center"  # horizontal position of subsampled chroma samples

    @property
    def av_colorspace(self) -> str | None:
        """The name PyAV's reformat() takes for this matrix (None for RGB)."""
        return SWS_NAME.get(self.matrix)

    @property
    def av_color_range(self) -> str:
        """The name PyAV's reformat() takes for this range."""
        return "JPEG" if self.range == "full" else "MPEG"

    @property
    def colorspace(self) -> int:
        """The AVColorSpace to tag frames with."""
        return SPACE_OF_MATRIX[self.matrix]

    @property
    def color_range(self) -> int:
        """The AVColorRange to tag frames with."""
        return _AVCOL_RANGE_JPEG if self.range == "full" else _AVCOL_RANGE_MPEG


def colour_of(
    source: av.VideoFrame | av.video.stream.VideoStream,
    unspecified: Unspecified = "swscale",
    codec: str | None = None,
) -> ColourSpec | None:
    """The matrix, range and chroma siting of a frame or stream, or None if the torch path
    cannot convert its pixel format.

    PyAV does not expose a frame's chroma location, so the siting follows the decoder:
    ``codec`` (e.g. ``VideoInfo.codec``; a stream's own codec when not given).

    ``unspecified="swscale"`` reads an untagged matrix as BT.601 (what swscale does);
    ``"by_size"`` uses the FFmpeg/player convention: BT.601 up to 576 lines, BT.709 above.
    An untagged range is limited, except for the yuvj* (JPEG) formats and RGB.
    """
    if isinstance(source, av.VideoFrame):
        space, rng, fmt, height = (
            source.colorspace,
            source.color_range,
            source.format.name,
            source.height,
        )
    else:
        ctx = source.codec_context
        space, rng, fmt, height = ctx.colorspace, ctx.color_range, ctx.format.name, ctx.height
        codec = codec or ctx.name
    return colour_from_tags(space, rng, fmt, height, codec, unspecified)


def matrix_by_size(height: int) -> Matrix:
    """The usual rule for an untagged matrix: BT.601 up to 576 lines, BT.709 above."""
    return "bt709" if height > SD_MAX_LINES else "bt601"


def colour_from_tags(
    space: int,
    rng: int,
    fmt: str,
    height: int,
    codec: str | None,
    unspecified: Unspecified = "swscale",
) -> ColourSpec | None:
    """:func:`colour_of` from the raw tags (AVColorSpace, AVColorRange, pixel format...)."""
    from core.video.planes import planar_layout  # planes imports this module

    layout = planar_layout(fmt)
    if layout is None:
        return None
    siting: Siting = "left" if codec in LEFT_SITED_CODECS else "center"
    if layout.rgb:
        return ColourSpec("rgb", "full", True, siting)
    full = rng == _AVCOL_RANGE_JPEG or (rng != _AVCOL_RANGE_MPEG and fmt.startswith("yuvj"))
    range_: Range = "full" if full else "limited"
    matrix = MATRIX_OF_SPACE.get(space)
    if matrix is not None and matrix != "rgb":
        return ColourSpec(matrix, range_, True, siting)
    if unspecified == "by_size":
        return ColourSpec(matrix_by_size(height), range_, False, siting)
    return ColourSpec("bt601", range_, False, siting)


def scales(range_: Range, depth: int = 8) -> tuple[float, float, float, float]:
    """(luma offset, luma span, chroma midpoint, chroma span) in code values of ``depth`` bits."""
    if range_ == "full":
        top = float((1 << depth) - 1)
        return 0.0, top, float(1 << (depth - 1)), top
    if range_ == "limited":
        k = float(1 << (depth - 8))
        return 16.0 * k, 219.0 * k, 128.0 * k, 224.0 * k
    raise ValueError(f"unknown range {range_!r}")


def _coeffs(matrix: Matrix) -> tuple[float, float, float]:
    try:
        kr, kb = _COEFFS[matrix]
    except KeyError:
        raise ValueError(f"unknown matrix {matrix!r}") from None
    return kr, 1.0 - kr - kb, kb


def as_levels(plane: torch.Tensor, depth: int = 16) -> torch.Tensor:
    """Float code values of a plane held as uint8, uint16, int32, or int16 standing in for
    uint16 (values of 32768 and up read back negative; torch's uint16 is not on every device).
    Below 16 bits no value reaches the sign bit, so ``depth`` spares the fix-up. Always a
    new tensor, which callers may change in place."""
    x = plane.clone() if plane.dtype == torch.float32 else plane.float()
    if plane.dtype == torch.int16 and depth >= 16:
        x = torch.where(x < 0, x + 65536.0, x)
    return x


def to_code_values(x: torch.Tensor, depth: int) -> torch.Tensor:
    """Float levels (rounded in place: pass a temporary) into ``depth``-bit code values:
    uint8 for 8 bits, else int16 holding the uint16 bit pattern (see :func:`as_levels`)."""
    top = float((1 << depth) - 1)
    x = x.round_().clamp_(0.0, top)
    if depth <= 8:
        return x.to(torch.uint8)
    if depth < 16:
        return x.to(torch.int16)
    return x.to(torch.int32).to(torch.int16)


def _upsample(
    plane: torch.Tensor, height: int, width: int, chroma: Chroma, siting: Siting
) -> torch.Tensor:
    """Chroma (..., h, w) float to (..., height, width), edges clamped.

    Vertically samples sit between luma rows; horizontally between luma columns
    ("center") or on the even ones ("left", H.264/HEVC/MPEG-2).
    """
    h, w = plane.shape[-2:]
    if (h, w) == (height, width):
        return plane
    lead = plane.shape[:-2]
    flat = plane.reshape(-1, 1, h, w)
    sy, sx = -(-height // h), -(-width // w)
    if chroma == "nearest":
        up = flat.repeat_interleave(sy, dim=-2).repeat_interleave(sx, dim=-1)
    elif chroma != "bilinear":
        raise ValueError(f"unknown chroma upsampling {chroma!r}")
    elif siting == "center" or sx == 1:
        # straight to the luma size: at odd sizes this is what swscale does (17 -> 33 columns)
        up = F.interpolate(flat, size=(height, width), mode="bilinear", align_corners=False)
    elif siting == "left" and sx == 2:
        rows = flat
        if sy != 1:
            rows = F.interpolate(flat, size=(height, w), mode="bilinear", align_corners=False)
        right = torch.cat((rows[..., 1:], rows[..., -1:]), dim=-1)
        up = torch.stack((rows, (rows + right) * 0.5), dim=-1).flatten(-2)
    else:
        raise ValueError(f"unknown chroma siting {siting!r}")
    return up[..., :height, :width].reshape(*lead, height, width)


def yuv_to_rgb(
    y: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    matrix: Matrix = "bt601",
    range: Range = "limited",
    *,
    chroma: Chroma = "bilinear",
    siting: Siting = "center",
    dtype: torch.dtype = torch.float32,
    depth: int = 8,
    clamp: bool = True,
) -> torch.Tensor:
    """Planes (..., H, W), (..., h, w), (..., h, w) of ``depth``-bit code values to RGB
    (..., 3, H, W).

    For ``matrix="rgb"`` the planes are a gbrp frame's G, B, R, all full size. Float
    ``dtype`` gives RGB with 0 = black and 1 = white, clamped to [0, 1] unless ``clamp`` is
    False; ``torch.uint8`` gives rounded 8-bit levels. ``siting`` is ``ColourSpec.siting``
    of the source. Works for 4:2:0, 4:2:2 and 4:4:4.
    """
    height, width = y.shape[-2:]
    if matrix == "rgb":
        top = float((1 << depth) - 1)
        rgb = torch.stack([as_levels(p, depth) for p in (v, y, u)], dim=-3).div_(top)
    else:
        off, yspan, mid, cspan = scales(range, depth)
        kr, kg, kb = _coeffs(matrix)
        yn = as_levels(y, depth).sub_(off).mul_(1.0 / yspan)
        un = _upsample(as_levels(u, depth).sub_(mid).mul_(1.0 / cspan), height, width, chroma, siting)
        vn = _upsample(as_levels(v, depth).sub_(mid).mul_(1.0 / cspan), height, width, chroma, siting)
        cr, cb = 2.0 * (1.0 - kr), 2.0 * (1.0 - kb)
        rgb = torch.empty((*yn.shape[:-2], 3, height, width), dtype=torch.float32, device=yn.device)
        r, g, b = rgb.unbind(dim=-3)
        torch.add(yn, vn, alpha=cr, out=r)
        torch.add(yn, un, alpha=cb, out=b)
        # g = (y - kr r - kb b) / kg, expanded so that it needs no r and b
        torch.add(yn, un, alpha=-kb * cb / kg, out=g)
        g.add_(vn, alpha=-kr * cr / kg)
    if dtype == torch.uint8:
        return (rgb * 255.0).round_().clamp_(0.0, 255.0).to(torch.uint8)
    if clamp:
        rgb = rgb.clamp_(0.0, 1.0)
    return rgb.to(dtype)


def rgb_to_yuv(
    rgb: torch.Tensor,
    matrix: Matrix = "bt601",
    range: Range = "limited",
    *,
    subsample: tuple[int, int] = (2, 2),
    siting: Siting = "center",
    depth: int = 8,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """RGB (..., 3, H, W) (float, 0 = black and 1 = white, or uint8) to planes Y, U, V of
    ``depth``-bit code values (uint8 for 8 bits, else int16 holding uint16 bits).

    ``subsample`` (x, y) is (2, 2) for 4:2:0, (2, 1) for 4:2:2, (1, 1) for 4:4:4. Centred
    chroma is the average of each block (edges replicated at odd sizes); left-sited chroma
    is filtered [1, 2, 1] / 4 around its even column. ``matrix="rgb"`` gives G, B, R planes.
    Values outside [0, 1] are kept as far as the code values reach.
    """
    x = rgb.float() / 255.0 if rgb.dtype == torch.uint8 else rgb.float()
    r, g, b = x.unbind(dim=-3)
    if matrix == "rgb":
        top = float((1 << depth) - 1)
        return tuple(to_code_values(p * top, depth) for p in (g, b, r))  # type: ignore[return-value]
    off, yspan, mid, cspan = scales(range, depth)
    kr, kg, kb = _coeffs(matrix)
    luma = r * kr
    luma.add_(g, alpha=kg).add_(b, alpha=kb)
    sx, sy = subsample
    # the chroma filters are linear, so R, B and luma are brought down first and the
    # differences taken at chroma size
    low_r, low_b, low_y = (
        (r, b, luma) if (sx, sy) == (1, 1)
        else (_chroma_down(p, sy, sx, siting) for p in (r, b, luma))
    )
    u = (low_b - low_y).mul_(cspan / (2.0 * (1.0 - kb))).add_(mid)
    v = (low_r - low_y).mul_(cspan / (2.0 * (1.0 - kr))).add_(mid)
    return to_code_values(luma.mul_(yspan).add_(off), depth), to_code_values(u, depth), to_code_values(v, depth)


def rgb_to_yuv420(
    rgb: torch.Tensor, matrix: Matrix = "bt601", range: Range = "limited"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """RGB (..., 3, H, W) to yuv420p planes: Y (..., H, W), U and V (..., ceil(H/2), ceil(W/2))."""
    return rgb_to_yuv(rgb, matrix, range, subsample=(2, 2))


def _chroma_down(plane: torch.Tensor, sy: int, sx: int, siting: Siting) -> torch.Tensor:
    if siting == "left" and sx == 2:  # rows first: the column filter then runs on half as many
        return _left_sited_columns(_box_down(plane, sy, 1))
    return _box_down(plane, sy, sx)


def _left_sited_columns(plane: torch.Tensor) -> torch.Tensor:
    """Every even column of a float plane (..., H, W), filtered [1, 2, 1] / 4 (edges replicated)."""
    h, w = plane.shape[-2:]
    lead = plane.shape[:-2]
    cw = -(-w // 2)
    flat = F.pad(plane.reshape(-1, 1, h, w), (1, 1 + 2 * cw - w, 0, 0), mode="replicate")
    out = 0.25 * flat[..., 0 : 2 * cw : 2] + 0.5 * flat[..., 1 : 2 * cw + 1 : 2]
    out = out + 0.25 * flat[..., 2 : 2 * cw + 2 : 2]
    return out.reshape(*lead, h, cw)


def _box_down(plane: torch.Tensor, sy: int, sx: int) -> torch.Tensor:
    """Average sy x sx blocks (1 or 2 each) of a float plane (..., H, W); odd edges are
    replicated. Strided sums, which beat avg_pool2d by 2x on the CPU for 2x1 blocks."""
    if (sy, sx) == (1, 1):
        return plane
    h, w = plane.shape[-2:]
    pad_h, pad_w = (-h) % sy, (-w) % sx
    if pad_h or pad_w:
        lead = plane.shape[:-2]
        flat = F.pad(plane.reshape(-1, 1, h, w), (0, pad_w, 0, pad_h), mode="replicate")
        plane = flat.reshape(*lead, h + pad_h, w + pad_w)
    if sy == 2:
        plane = plane[..., 0::2, :] + plane[..., 1::2, :]
    if sx == 2:
        plane = plane[..., 0::2] + plane[..., 1::2]
    return plane.mul_(1.0 / (sy * sx))
