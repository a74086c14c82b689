"""How frames travel between the decoder, the model and the encoder.

Both paths convert with one colour description resolved once for the job
(core/video/colour_tags.py): the same matrix and range turn the source's YUV into the model's
RGB and the model's RGB back into the output's YUV, and the writer converts the original
frames it passes through with them too, so original and interpolated frames match.

``RgbFramePath``: swscale converts each decoded frame to RGB on the CPU, the model's output
goes back as RGB arrays and the writer's swscale makes YUV again. It works for every input.
8-bit in and out travels as rgb24; when the input or the output has more bits per sample,
as rgb48 (16 bits per channel), so nothing passes through 8 bits. swscale's integer RGB
cannot hold values below black or above white, so limited-range code values outside 16-235
(8-bit units) come back clipped to it on this path.

``DeviceFramePath``: the decoder's own planes (any planar YUV of 8-16 bits, 4:2:0, 4:2:2 or
4:4:4, or planar RGB) are uploaded as they are and turned into float RGB on the model's
device with the stream's matrix, range and depth (core/video/colour.py), unclamped, so
super-black and super-white survive; the model's output is turned into the output's planes
there too. On a GPU the CPU never runs swscale on the frame path. The decode thread still
makes a small 8-bit RGB thumbnail for scene-cut checks. An output format that is not planar
(NVENC's p010, ffv1's bgr0) gets 16-bit RGB that the writer converts.
"""

from __future__ import annotations

from typing import Protocol

import av
import cv2
import numpy as np
import torch

from core.transfer import Transfers
from core.video.colour import SWSCALE_FLAGS, ColourSpec, as_levels, rgb_to_yuv, yuv_to_rgb
from core.video.colour_tags import OutputColour, SourceColour, output_colour, read_source_colour
from core.video.planes import PlaneLayout, frame_from_planes, frame_planes, planar_layout
from core.video.probe import VideoInfo
from core.video.reader import DecodedFrame

THUMBNAIL_WIDTH = 160  # what the scene-cut detector gets on the device path


class FramePath(Protocol):
    name: str
    transfers: Transfers | None  # how arrays reach the device and come back (set by the job)

    def decode_picture(self, frame: av.VideoFrame) -> np.ndarray:
        """Run in the decode thread: the RGB picture the scene-cut detector looks at."""

    def to_tensor(self, frame: DecodedFrame, device: torch.device) -> torch.Tensor:
        """(3, H, W) float RGB on ``device``: 0 black, 1 white (the device path keeps values
        beyond them)."""

    def device_output(self, out: torch.Tensor) -> list[torch.Tensor]:
        """Model output (B, 3, H, W) float to the integer tensors that go to the host."""

    def from_host(self, arrays: list[np.ndarray]) -> list[np.ndarray | av.VideoFrame]:
        """Those tensors, back on the host, to what the writer takes (one per frame)."""

    def to_pictures(self, out: torch.Tensor) -> list[np.ndarray | av.VideoFrame]:
        """Both steps at once, waiting for the copy."""


def _host_array(array: np.ndarray) -> np.ndarray:
    """uint16 data as int16 with the same bits: torch's uint16 is not on every device."""
    return array.view(np.int16) if array.dtype == np.uint16 else array


class _Base:
    transfers: Transfers | None = None

    def upload(self, arrays: list[np.ndarray], device: torch.device) -> list[torch.Tensor]:
        transfers = self.transfers
        if transfers is None or transfers.device != torch.device(device):
            transfers = self.transfers = Transfers(device)
        return transfers.upload([_host_array(a) for a in arrays])

    def device_output(self, out: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def from_host(self, arrays: list[np.ndarray]) -> list[np.ndarray | av.VideoFrame]:
        raise NotImplementedError

    def to_pictures(self, out: torch.Tensor) -> list[np.ndarray | av.VideoFrame]:
        return self.from_host([t.cpu().numpy() for t in self.device_output(out)])


def _rgb_out(out: torch.Tensor, deep: bool) -> torch.Tensor:
    """(B, 3, H, W) float to (B, H, W, 3) uint8, or int16 holding uint16 levels."""
    x = out.clamp(0, 1).permute(0, 2, 3, 1)
    if not deep:
        return x.mul(255).round_().to(torch.uint8).contiguous()
    return x.mul(65535).round_().to(torch.int32).to(torch.int16).contiguous()


def _rgb_from_host(array: np.ndarray) -> np.ndarray:
    return array.view(np.uint16) if array.dtype == np.int16 else array


class RgbFramePath(_Base):
    """swscale both ways; rgb48 when ``deep``. ``source`` gives the matrix and range the
    decoded frames are converted with (None: what the frames say, for hand-made inputs)."""

    name = "cpu (swscale)"

    def __init__(self, source: SourceColour | None = None, deep: bool = True) -> None:
        self.source = source
        self.deep = deep
        self._convert: dict[str, object] = {"interpolation": SWSCALE_FLAGS} if deep else {}
        if source is not None and not source.is_rgb:
            spec = source.spec()
            self._convert.update(src_colorspace=spec.av_colorspace, src_color_range=source.range)

    def decode_picture(self, frame: av.VideoFrame) -> np.ndarray:
        fmt = "rgb48le" if self.deep else "rgb24"
        return np.ascontiguousarray(frame.to_ndarray(format=fmt, **self._convert))

    def to_tensor(self, frame: DecodedFrame, device: torch.device) -> torch.Tensor:
        (raw,) = self.upload([frame.rgb], device)
        top = 65535.0 if frame.rgb.dtype == np.uint16 else 255.0
        return as_levels(raw).permute(2, 0, 1).div_(top)

    def device_output(self, out: torch.Tensor) -> list[torch.Tensor]:
        return [_rgb_out(out, self.deep)]

    def from_host(self, arrays: list[np.ndarray]) -> list[np.ndarray | av.VideoFrame]:
        return list(_rgb_from_host(arrays[0]))


class DeviceFramePath(_Base):
    """The torch conversion from the input's planes (``in_layout``) to RGB and from RGB to the
    output's planes (``out_layout``; None: 16-bit RGB arrays for the writer to convert)."""

    name = "device"

    def __init__(
        self,
        spec: ColourSpec,
        in_layout: PlaneLayout,
        out_spec: ColourSpec | None,
        out_layout: PlaneLayout | None,
        tags: OutputColour | None = None,
        deep: bool = True,
    ) -> None:
        self.spec = spec
        self.deep = deep  # RGB arrays (no out_layout) in 16 bits, else 8
        self.in_layout = in_layout
        self.out_spec = out_spec
        self.out_layout = out_layout
        self.tags = tags
        self.pix_fmt = out_layout.pix_fmt if out_layout else None

    def decode_picture(self, frame: av.VideoFrame) -> np.ndarray:
        planes = frame_planes(frame)
        shift = self.in_layout.depth - 8
        h, w = planes[0].shape
        size = (THUMBNAIL_WIDTH, max(2, round(h * THUMBNAIL_WIDTH / w)))
        small = []
        for p in planes:
            q = cv2.resize(p, size, interpolation=cv2.INTER_AREA)
            small.append((q >> shift).astype(np.uint8) if shift else q)
        if self.in_layout.rgb:
            g, b, r = small
            return np.dstack([r, g, b])
        return cv2.cvtColor(np.dstack(small), cv2.COLOR_YUV2RGB)

    def to_tensor(self, frame: DecodedFrame, device: torch.device) -> torch.Tensor:
        y, u, v = self.upload(list(frame_planes(frame.source)), device)
        return yuv_to_rgb(
            y, u, v, self.spec.matrix, self.spec.range, siting=self.spec.siting,
            depth=self.in_layout.depth, clamp=False,
        )

    def device_output(self, out: torch.Tensor) -> list[torch.Tensor]:
        if self.out_layout is None or self.out_spec is None:
            return [_rgb_out(out, self.deep)]
        return list(
            rgb_to_yuv(
                out, self.out_spec.matrix, self.out_spec.range, subsample=self.out_layout.subsample,
                siting=self.out_spec.siting, depth=self.out_layout.depth,
            )
        )

    def from_host(self, arrays: list[np.ndarray]) -> list[np.ndarray | av.VideoFrame]:
        if self.out_layout is None:
            return list(_rgb_from_host(arrays[0]))
        y, u, v = arrays
        frames = []
        for i in range(len(y)):
            frame = frame_from_planes((y[i], u[i], v[i]), self.out_layout.pix_fmt, self.out_spec)
            frames.append(self.tags.tag_frame(frame) if self.tags is not None else frame)
        return frames


def _source_colour(info: VideoInfo) -> SourceColour:
    if info.colour is not None:
        return info.colour
    frame = av.VideoFrame(max(2, info.width), max(2, info.height), info.pix_fmt)
    frame.colorspace, frame.color_range = info.colorspace, info.color_range
    return read_source_colour(frame, None, info.codec)


def _depth(pix_fmt: str | None) -> int:
    if not pix_fmt:
        return 8
    try:
        return max(c.bits for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, av.FFmpegError):
        return 8


def choose_frame_path(
    mode: str, device: torch.device, info: VideoInfo, out_pix_fmt: str | None, codec: str = "libx264"
) -> tuple[FramePath, str]:
    """The path for ``mode`` (auto | device | cpu) and a sentence saying why.

    ``auto`` takes the torch (device) path whenever the input's decoded frames are planar,
    on CUDA and on the CPU: it is exact (a static picture comes back with its own code
    values, super-black and super-white included) and on one CPU thread faster than swscale
    at 16 bits (BENCHMARKS.md). Other inputs (packed RGB, NV12, P010...) go through swscale.
    ``out_pix_fmt`` is None when the writer takes any picture (a sink): it then gets RGB.
    """
    source = _source_colour(info)
    in_layout = planar_layout(info.pix_fmt)
    deep = source.depth > 8 or _depth(out_pix_fmt) > 8
    bits = f", {max(source.depth, _depth(out_pix_fmt))}-bit" if deep else ""
    if mode == "cpu":
        return RgbFramePath(source), "colour conversion on the CPU (swscale, rgb48)"
    if in_layout is None:
        why = (
            f"colour conversion on the CPU (swscale): {info.pix_fmt} is not "
            f"a layout the device path converts"
        )
        return RgbFramePath(source), why
    spec = source.spec()
    tags = output_colour(source, out_pix_fmt, codec, info.height) if out_pix_fmt else None
    out_layout = planar_layout(out_pix_fmt) if out_pix_fmt else None
    out_spec = tags.spec() if tags is not None else None
    target = out_pix_fmt if out_layout else ("16-bit RGB" if deep else "RGB")
    return DeviceFramePath(spec, in_layout, out_spec, out_layout, tags, deep), (
        f"colour conversion on {device}: {spec.matrix}, {spec.range} range, {target}{bits}"
    )
