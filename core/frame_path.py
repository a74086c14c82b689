"""How frames travel between the decoder, the model and the encoder.

``RgbFramePath``: swscale converts each decoded frame to RGB on the CPU, the model's output
goes back as RGB arrays and the encoder's swscale makes YUV again. It works for every input.

``DeviceFramePath``: the decoder's own 8-bit YUV planes are uploaded as they are and turned
into RGB on the model's device with the stream's exact matrix and range (core/video/colour.py);
the model's output is turned back into planes there too, so on a GPU the CPU never runs swscale
on the frame path. The decode thread still makes a small RGB thumbnail for scene-cut checks.
"""

from __future__ import annotations

from typing import Protocol

import av
import cv2
import numpy as np
import torch

from core.transfer import Transfers
from core.video.colour import ColourSpec, colour_from_tags, rgb_to_yuv, yuv_to_rgb
from core.video.planes import frame_from_planes, frame_planes
from core.video.probe import VideoInfo
from core.video.reader import DecodedFrame

THUMBNAIL_WIDTH = 160  # what the scene-cut detector gets on the device path
_SUBSAMPLE = {"yuv420p": (2, 2), "yuv444p": (1, 1)}


class FramePath(Protocol):
    name: str
    transfers: Transfers | None  # how arrays reach the device and come back (set by the job)

    def decode_picture(self, frame: av.VideoFrame) -> np.ndarray:
        """Run in the decode thread: the RGB picture the scene-cut detector looks at."""

    def to_tensor(self, frame: DecodedFrame, device: torch.device) -> torch.Tensor:
        """(3, H, W) float RGB in [0, 1] on ``device``."""

    def device_output(self, out: torch.Tensor) -> list[torch.Tensor]:
        """Model output (B, 3, H, W) float in [0, 1] to the uint8 tensors that go to the host."""

    def from_host(self, arrays: list[np.ndarray]) -> list[np.ndarray | av.VideoFrame]:
        """Those tensors, back on the host, to what the writer takes (one per frame)."""

    def to_pictures(self, out: torch.Tensor) -> list[np.ndarray | av.VideoFrame]:
        """Both steps at once, waiting for the copy."""


class _Base:
    transfers: Transfers | None = None

    def upload(self, arrays: list[np.ndarray], device: torch.device) -> list[torch.Tensor]:
        transfers = self.transfers
        if transfers is None or transfers.device != torch.device(device):
            transfers = self.transfers = Transfers(device)
        return transfers.upload(arrays)

    def device_output(self, out: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def from_host(self, arrays: list[np.ndarray]) -> list[np.ndarray | av.VideoFrame]:
        raise NotImplementedError

    def to_pictures(self, out: torch.Tensor) -> list[np.ndarray | av.VideoFrame]:
        return self.from_host([t.cpu().numpy() for t in self.device_output(out)])


class RgbFramePath(_Base):
    name = "cpu (swscale)"

    def decode_picture(self, frame: av.VideoFrame) -> np.ndarray:
        return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))

    def to_tensor(self, frame: DecodedFrame, device: torch.device) -> torch.Tensor:
        (raw,) = self.upload([frame.rgb], device)
        return raw.permute(2, 0, 1).float().div_(255.0)

    def device_output(self, out: torch.Tensor) -> list[torch.Tensor]:
        return [out.clamp(0, 1).mul(255).round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous()]

    def from_host(self, arrays: list[np.ndarray]) -> list[np.ndarray | av.VideoFrame]:
        return list(arrays[0])


class DeviceFramePath(_Base):
    name = "device"

    def __init__(self, spec: ColourSpec, pix_fmt: str) -> None:
        self.spec = spec
        self.pix_fmt = pix_fmt
        self.subsample = _SUBSAMPLE[pix_fmt]

    def decode_picture(self, frame: av.VideoFrame) -> np.ndarray:
        y, u, v = frame_planes(frame)
        h, w = y.shape
        size = (THUMBNAIL_WIDTH, max(2, round(h * THUMBNAIL_WIDTH / w)))
        yuv = np.dstack([cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p in (y, u, v)])
        return cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB)

    def to_tensor(self, frame: DecodedFrame, device: torch.device) -> torch.Tensor:
        y, u, v = self.upload(list(frame_planes(frame.source)), device)
        return yuv_to_rgb(y, u, v, self.spec.matrix, self.spec.range, siting=self.spec.siting)

    def device_output(self, out: torch.Tensor) -> list[torch.Tensor]:
        return list(rgb_to_yuv(out, self.spec.matrix, self.spec.range, subsample=self.subsample))

    def from_host(self, arrays: list[np.ndarray]) -> list[np.ndarray | av.VideoFrame]:
        y, u, v = arrays
        return [
            frame_from_planes((y[i], u[i], v[i]), self.pix_fmt, self.spec) for i in range(len(y))
        ]


def choose_frame_path(
    mode: str, device: torch.device, info: VideoInfo, out_pix_fmt: str | None
) -> tuple[FramePath, str]:
    """The path for ``mode`` (auto | device | cpu) and a sentence saying why.

    ``auto`` takes the device path on CUDA when the input's decoded frames and the output's
    pixel format are 8-bit planar YUV of the same subsampling and the colour matrix is known.
    """
    if mode == "cpu" or (mode == "auto" and device.type != "cuda"):
        return RgbFramePath(), "colour conversion on the CPU (swscale)"
    spec = colour_from_tags(info.colorspace, info.color_range, info.pix_fmt, info.height, info.codec)
    same_layout = (
        out_pix_fmt is not None
        and out_pix_fmt in _SUBSAMPLE
        and _SUBSAMPLE.get(info.pix_fmt.replace("yuvj", "yuv")) == _SUBSAMPLE[out_pix_fmt]
    )
    if spec is None or not same_layout:
        why = (
            f"colour conversion on the CPU: {info.pix_fmt} -> "
            f"{out_pix_fmt} is not a layout the device path converts"
        )
        return RgbFramePath(), why
    return DeviceFramePath(spec, out_pix_fmt), (
        f"colour conversion on {device}: {spec.matrix}, {spec.range} range, {out_pix_fmt}"
    )
