"""Raw 8-bit planes of an av.VideoFrame as numpy, and frames built from planes, without swscale."""

from __future__ import annotations

from collections.abc import Sequence

import av
import numpy as np

from core.video.colour import GPU_PIX_FMTS, ColourSpec

_AVCOL_SPC = {"bt601": 6, "bt709": 1}  # AVCOL_SPC_SMPTE170M, AVCOL_SPC_BT709
_AVCOL_RANGE = {"limited": 1, "full": 2}  # AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG


def _plane_view(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """(height, width) uint8 view of one plane, its line padding stripped (no copy)."""
    rows = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width]


def frame_planes(frame: av.VideoFrame) -> tuple[np.ndarray, ...]:
    """The Y, U, V planes of an 8-bit planar YUV frame as uint8 views into its buffers.

    The views share memory with ``frame`` (keep the frame alive while using them) and are
    row-strided, not contiguous. Raises ValueError for a format the device path cannot take.
    """
    if frame.format.name not in GPU_PIX_FMTS:
        raise ValueError(f"planes of {frame.format.name} frames are not supported")
    return tuple(_plane_view(p) for p in frame.planes[:3])


def frame_from_planes(
    planes: Sequence[np.ndarray], pix_fmt: str = "yuv420p", colour: ColourSpec | None = None
) -> av.VideoFrame:
    """A new frame of ``pix_fmt`` holding copies of ``planes`` (Y full size first).

    ``colour`` tags the frame's colorspace and range so the encoder writes them.
    """
    if pix_fmt not in GPU_PIX_FMTS:
        raise ValueError(f"building {pix_fmt} frames from planes is not supported")
    height, width = planes[0].shape
    frame = av.VideoFrame(width, height, pix_fmt)
    for plane, data in zip(frame.planes, planes, strict=True):
        view = _plane_view(plane)
        if view.shape != data.shape:
            raise ValueError(f"plane of shape {data.shape} given where {view.shape} is needed")
        view[...] = data
    if colour is not None:
        frame.colorspace = _AVCOL_SPC[colour.matrix]
        frame.color_range = _AVCOL_RANGE[colour.range]
    return frame
