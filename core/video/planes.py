"""Raw planes of an av.VideoFrame as numpy, and frames built from planes, without swscale.

Every planar YUV format of 8 to 16 bits (4:2:0, 4:2:2, 4:4:4; ``yuvj*`` included) and the
planar RGB formats (``gbrp*``) qualify; samples of more than 8 bits are little-endian uint16.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import av
import numpy as np

from core.video.colour import ColourSpec


@dataclass(frozen=True)
class PlaneLayout:
    """How a planar pixel format stores its three components."""

    pix_fmt: str
    depth: int  # bits per sample
    subsample: tuple[int, int]  # chroma subsampling (x, y): (2, 2) 4:2:0, (2, 1) 4:2:2, (1, 1) 4:4:4
    rgb: bool  # planes are G, B, R (gbrp*) instead of Y, U, V

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        return np.uint8 if self.depth <= 8 else np.uint16


@functools.cache
def planar_layout(pix_fmt: str) -> PlaneLayout | None:
    """The layout of ``pix_fmt`` when its three components lie in three planes of their own
    (no alpha, little-endian, 8 to 16 bits, LSB-aligned), else None."""
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, av.FFmpegError):
        return None
    comps = fmt.components
    if (
        len(comps) != 3
        or fmt.is_big_endian
        or fmt.has_palette
        or "msb" in pix_fmt
        or "f16" in pix_fmt
        or "f32" in pix_fmt
        or sorted(c.plane for c in comps) != [0, 1, 2]
    ):
        return None
    depth = comps[0].bits
    if not 8 <= depth <= 16 or any(c.bits != depth for c in comps):
        return None
    if fmt.is_rgb:
        if not pix_fmt.startswith("gbrp"):
            return None
        return PlaneLayout(pix_fmt, depth, (1, 1), True)
    if not pix_fmt.startswith(("yuv", "yuvj")):
        return None
    sx = max(1, fmt.chroma_width(16) and 16 // fmt.chroma_width(16))
    sy = max(1, fmt.chroma_height(16) and 16 // fmt.chroma_height(16))
    if (sx, sy) not in ((2, 2), (2, 1), (1, 1)):
        return None
    return PlaneLayout(pix_fmt, depth, (sx, sy), False)


def _plane_view(plane: av.video.plane.VideoPlane, dtype: type[np.unsignedinteger]) -> np.ndarray:
    """(height, width) view of one plane, its line padding stripped (no copy)."""
    size = np.dtype(dtype).itemsize
    rows = np.frombuffer(plane, dtype=dtype).reshape(plane.height, plane.line_size // size)
    return rows[:, : plane.width]


def frame_planes(frame: av.VideoFrame) -> tuple[np.ndarray, ...]:
    """The three planes of a planar frame (Y, U, V or G, B, R) as uint8 or uint16 views.

    The views share memory with ``frame`` (keep the frame alive while using them) and are
    row-strided, not contiguous. Raises ValueError for a format that is not planar.
    """
    layout = planar_layout(frame.format.name)
    if layout is None:
        raise ValueError(f"planes of {frame.format.name} frames are not supported")
    return tuple(_plane_view(p, layout.dtype) for p in frame.planes[:3])


def frame_from_planes(
    planes: Sequence[np.ndarray], pix_fmt: str = "yuv420p", colour: ColourSpec | None = None
) -> av.VideoFrame:
    """A new frame of ``pix_fmt`` holding copies of ``planes`` (Y or G, full size, first).

    Planes of more than 8 bits may come as uint16 or as int16 holding uint16 bits.
    ``colour`` tags the frame's colorspace and range so the encoder writes them.
    """
    layout = planar_layout(pix_fmt)
    if layout is None:
        raise ValueError(f"building {pix_fmt} frames from planes is not supported")
    height, width = planes[0].shape
    frame = av.VideoFrame(width, height, pix_fmt)
    for plane, data in zip(frame.planes, planes, strict=True):
        view = _plane_view(plane, layout.dtype)
        if view.shape != data.shape:
            raise ValueError(f"plane of shape {data.shape} given where {view.shape} is needed")
        if data.dtype.itemsize == view.dtype.itemsize and data.dtype != view.dtype:
            data = data.view(view.dtype)
        view[...] = data
    if colour is not None:
        frame.colorspace = colour.colorspace
        frame.color_range = colour.color_range
    return frame
