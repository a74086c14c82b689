"""RIFE v3.x HDv3: three PReLU IFBlocks (c=90), each run forwards and time-reversed.

The network only makes the middle frame; :func:`dyadic_depth` and the wrapper reach
t = k/2^n by recursive midpoints.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from core.errors import ModelError
from core.models.layers import resize
from core.models.warp import backward_warp

MAX_DEPTH = 10  # t = k/1024 at the finest


def conv_prelu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.PReLU(cout))


def _upsampler(c: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c, c // 2, 4, 2, 1), nn.PReLU(c // 2), nn.ConvTranspose2d(c // 2, out, 4, 2, 1)
    )


class HDv3Block(nn.Module):
    """Flow and mask increments from warped frames, mask and current flow (11 channels in)."""

    def __init__(self, in_planes: int = 11, c: int = 90) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(conv_prelu(in_planes, c // 2, 2), conv_prelu(c // 2, c, 2))
        for i in range(4):
            self.add_module(f"convblock{i}", nn.Sequential(conv_prelu(c, c), conv_prelu(c, c)))
        self.conv1 = _upsampler(c, 4)
        self.conv2 = _upsampler(c, 1)

    def forward(
        self, x: torch.Tensor, flow: torch.Tensor, scale: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat((resize(x, 1.0 / scale), resize(flow, 1.0 / scale) / scale), 1)
        feat = self.conv0(x)
        for i in range(4):
            feat = getattr(self, f"convblock{i}")(feat) + feat
        return resize(self.conv1(feat), scale) * scale, resize(self.conv2(feat), scale)


class IFNetHDv3(nn.Module):
    """The v3.x HDv3 flow network; ``widths`` are the three block widths (90 each)."""

    def __init__(self, widths: tuple[int, ...] = (90, 90, 90)) -> None:
        super().__init__()
        for i, c in enumerate(widths):
            self.add_module(f"block{i}", HDv3Block(11, c))
        self.widths = widths

    @staticmethod
    def multiple(scale: float) -> int:
        return max(32, int(32 / scale))

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """The middle frame of BGR frames (B, 3, H, W) in [0, 1], padded to :meth:`multiple`.

        Each block sees the pair both ways in one batched call and averages the two answers,
        as the reference code always does.
        """
        b, _, h, w = img0.shape
        flow = img0.new_zeros(b, 4, h, w)
        mask = img0.new_zeros(b, 1, h, w)
        warped0, warped1 = img0, img1
        n = len(self.widths)
        for i in range(n):
            block = getattr(self, f"block{i}")
            level = 2 ** (n - 1 - i) / scale
            x = torch.cat(
                (torch.cat((warped0, warped1, mask), 1), torch.cat((warped1, warped0, -mask), 1)), 0
            )
            flows = torch.cat((flow, torch.cat((flow[:, 2:4], flow[:, :2]), 1)), 0)
            fd, md = block(x, flows, level)
            fwd, bwd = fd[:b], fd[b:]
            flow = flow + (fwd + torch.cat((bwd[:, 2:4], bwd[:, :2]), 1)) / 2
            mask = mask + (md[:b] - md[b:]) / 2
            warped0 = backward_warp(img0, flow[:, :2])
            warped1 = backward_warp(img1, flow[:, 2:4])
        alpha = torch.sigmoid(mask)
        return warped0 * alpha + warped1 * (1 - alpha)


def dyadic_depth(t: float) -> int:
    """n such that t = k/2^n with k odd; ModelError with one sentence when there is none."""
    for n in range(1, MAX_DEPTH + 1):
        k = round(t * 2**n)
        if abs(t - k / 2**n) < 1e-6:
            return n
    raise ModelError(
        f"RIFE HDv3 only makes frames at t = k/2^n (halves, quarters, eighths...), not t={t:g}; "
        "use --factor 2, 4, 8 or 16, or a RIFE 4.x model for other timings."
    )


def interpolate_dyadic(
    net: IFNetHDv3, img0: torch.Tensor, img1: torch.Tensor, t: list[float], scale: float
) -> torch.Tensor:
    """Frames at dyadic ``t`` (one per pair) by recursive midpoints, batched level by level."""
    for value in t:
        dyadic_depth(value)
    left, right = img0.clone(), img1.clone()
    pos = list(t)
    out = torch.empty_like(img0)
    active = list(range(len(pos)))
    while active:
        idx = torch.tensor(active, device=img0.device)
        mid = net(left[idx], right[idx], scale)
        still = []
        for j, i in enumerate(active):
            if abs(pos[i] - 0.5) < 1e-6:
                out[i] = mid[j]
            elif pos[i] < 0.5:
                right[i] = mid[j]
                pos[i] = pos[i] * 2
                still.append(i)
            else:
                left[i] = mid[j]
                pos[i] = pos[i] * 2 - 1
                still.append(i)
        active = still
    return out
