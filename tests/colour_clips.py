"""Colour-bar clips of any matrix, depth and chroma layout, written plane by plane with PyAV,
and what a test reads back from an output (planes, tags, HDR side data)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np

# (Kr, Kb) per AVColorSpace (ITU-T H.273)
KR_KB = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 5: (0.299, 0.114), 6: (0.299, 0.114),
         7: (0.212, 0.087), 9: (0.2627, 0.0593)}
BARS = [(0.75, 0.75, 0.75), (0.75, 0.75, 0), (0, 0.75, 0.75), (0, 0.75, 0),
        (0.75, 0, 0.75), (0.75, 0, 0), (0, 0, 0.75)]
BOX = (0.2, 0.45, 0.7)
# x265's master-display and max-cll for a P3 D65 1000-nit master (HDR10)
X265_MASTER = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"
X265_CLL = (1000, 400)


def bars_rgb(width: int, height: int, frame: int, box: bool = True) -> np.ndarray:
    """(H, W, 3) float RGB in [0, 1]: 75% bars, and a box that moves 4 px a frame."""
    rgb = np.zeros((height, width, 3))
    for c, colour in enumerate(BARS):
        rgb[:, c * width // 7 : (c + 1) * width // 7] = colour
    if box:
        x, y, side = 4 + 4 * frame, height // 2, max(4, height // 4)
        rgb[y : y + side, x : x + side] = BOX
    return rgb


def rgb_to_planes(
    rgb: np.ndarray, space: int, depth: int, subsample: tuple[int, int], full: bool = False
) -> list[np.ndarray]:
    """Exact planes of ``rgb`` in the matrix of AVColorSpace ``space`` (0: G, B, R planes)."""
    top = (1 << depth) - 1
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if space == 0:
        return [np.round(p * top) for p in (g, b, r)]
    kr, kb = KR_KB[space]
    y = kr * r + (1 - kr - kb) * g + kb * b
    u, v = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
    k = 1 << (depth - 8)
    if full:
        planes = [y * top, u * top + (1 << (depth - 1)), v * top + (1 << (depth - 1))]
    else:
        planes = [(16 + 219 * y) * k, (128 + 224 * u) * k, (128 + 224 * v) * k]
    sx, sy = subsample
    h, w = y.shape
    for i in (1, 2):
        planes[i] = planes[i].reshape(h // sy, sy, w // sx, sx).mean(axis=(1, 3))
    return [np.round(p) for p in planes]


def write_planes(
    path: Path,
    frames: Sequence[Sequence[np.ndarray]],
    codec: str,
    pix_fmt: str,
    *,
    space: int = 2,
    primaries: int = 2,
    transfer: int = 2,
    color_range: int = 0,
    options: dict[str, str] | None = None,
    rate: int = 12,
) -> Path:
    """Encode frames given as planes, with the colour tags on the stream and the frames."""
    height, width = frames[0][0].shape
    depth = av.VideoFormat(pix_fmt).components[0].bits
    dtype = np.uint16 if depth > 8 else np.uint8
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        ctx = stream.codec_context
        ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range = (
            space, primaries, transfer, color_range)
        for i, planes in enumerate(frames):
            frame = av.VideoFrame(width, height, pix_fmt)
            for plane, data in zip(frame.planes, planes, strict=True):
                rows = np.frombuffer(plane, dtype=dtype).reshape(plane.height, -1)
                rows[:, : plane.width] = data
            frame.pts = i
            frame.colorspace, frame.color_range = space, color_range
            frame.color_primaries, frame.color_trc = primaries, transfer
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def bars_clip(
    path: Path, matrix: int, depth: int = 8, subsample: tuple[int, int] = (2, 2), *,
    codec: str = "ffv1", pix_fmt: str | None = None, frames: int = 5,
    size: tuple[int, int] = (112, 32), **tags: object,
) -> Path:
    """Bars with a moving box in the matrix of AVColorSpace ``matrix`` (0: RGB); the tags
    default to that matrix's own (``space=2`` leaves it untagged)."""
    width, height = size
    if pix_fmt is None:
        base = "gbrp" if matrix == 0 else {(2, 2): "yuv420p", (2, 1): "yuv422p", (1, 1): "yuv444p"}[subsample]
        pix_fmt = base if depth == 8 else f"{base}{depth}le"
    planes = [rgb_to_planes(bars_rgb(width, height, i), matrix, depth, subsample) for i in range(frames)]
    tags.setdefault("space", matrix)
    tags.setdefault("color_range", 2 if matrix == 0 else 1)
    return write_planes(path, planes, codec, pix_fmt, **tags)  # type: ignore[arg-type]


def read_planes(path: Path) -> tuple[list[list[np.ndarray]], av.VideoFrame, av.video.codeccontext.VideoCodecContext]:
    """Every frame's planes as float code values, the first frame and the stream's context."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        ctx = stream.codec_context
    depth = frames[0].format.components[0].bits
    dtype = np.uint16 if depth > 8 else np.uint8
    planes = [
        [np.frombuffer(p, dtype=dtype).reshape(p.height, -1)[:, : p.width].astype(np.float64)
         for p in f.planes[:3]]
        for f in frames
    ]
    return planes, frames[0], ctx


def side_data(frame: av.VideoFrame) -> dict[str, bytes]:
    return {d.type.name: bytes(d) for d in frame.side_data}
