"""RIFE 4.22-4.26: a Head encoder and five IFBlocks carrying features, padding to 64."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from core.models.layers import Head, IFBlock
from core.models.warp import backward_warp


@dataclass(frozen=True)
class FiveBlockConfig:
    """Widths of the five blocks (192/128/96/64/32 for 4.25), Head (hidden, out), block output."""

    widths: tuple[int, ...] = (192, 128, 96, 64, 32)
    head: tuple[int, int] = (16, 4)
    out: int = 13


class IFNet425(nn.Module):
    """Five-block IFNet of RIFE 4.25/4.26 on BGR frames padded to :meth:`multiple`.

    The Head features of a frame do not depend on its partner, so callers may compute
    them once with :meth:`features` and pass them to :meth:`forward`.
    """

    def __init__(self, config: FiveBlockConfig) -> None:
        super().__init__()
        self.config = config
        f = config.head[1]
        extra = config.out - 5  # feature channels a block hands to the next one
        for i, c in enumerate(config.widths):
            in_planes = 7 + 2 * f if i == 0 else 8 + 4 + 2 * f + extra
            self.add_module(f"block{i}", IFBlock(in_planes, c, config.out))
        self.encode = Head(*config.head)

    @staticmethod
    def multiple(scale: float) -> int:
        return max(64, int(64 / scale))

    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(len(self.config.widths))]

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """Head features of padded BGR frames (N, 3, H, W)."""
        return self.encode(frames)

    def forward(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        timestep: torch.Tensor,
        scale: float = 1.0,
        f0: torch.Tensor | None = None,
        f1: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Frames (B, 3, H, W) BGR in [0, 1]; ``timestep`` (B, 1, 1, 1); optional Head features."""
        b, _, h, w = img0.shape
        t = timestep.to(img0.dtype).expand(b, 1, h, w)
        if f0 is None or f1 is None:
            f0, f1 = self.features(torch.cat((img0, img1), 0)).chunk(2, 0)
        blocks = self.blocks()
        n = len(blocks)
        flow = mask = feat = None
        warped0, warped1 = img0, img1
        for i, block in enumerate(blocks):
            level = 2 ** (n - 1 - i) / scale
            if flow is None or mask is None or feat is None:
                flow, mask, feat = block(torch.cat((img0, img1, f0, f1, t), 1), None, level)
            else:
                wf0 = backward_warp(f0, flow[:, :2])
                wf1 = backward_warp(f1, flow[:, 2:4])
                x = torch.cat((warped0, warped1, wf0, wf1, t, mask, feat), 1)
                delta, mask, feat = block(x, flow, level)
                flow = flow + delta
            warped0 = backward_warp(img0, flow[:, :2])
            warped1 = backward_warp(img1, flow[:, 2:4])
        alpha = torch.sigmoid(mask)
        return warped0 * alpha + warped1 * (1 - alpha)
