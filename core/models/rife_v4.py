"""RIFE 4.6-4.18: four IFBlocks, optionally with a frame encoder, padding to 32."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from core.models.layers import Head, IFBlock, sequential_encoder
from core.models.warp import backward_warp


@dataclass(frozen=True)
class V4Config:
    """Shape of a four-block RIFE 4.x network, read from its state dict.

    ``encoder`` is "none" (4.6), "sequential" (4.7-4.12) or "head" (4.13-4.18);
    ``encoder_layers`` describes the sequential one, ``head`` is (hidden, out) for Head.
    """

    widths: tuple[int, ...]
    feat: int  # encoder output channels per frame (0 without encoder)
    encoder: str
    encoder_layers: tuple[tuple[int, int] | None, ...] = ()
    head: tuple[int, int] = (0, 0)
    out: int = 6


class IFNetV4(nn.Module):
    """Four-block IFNet of RIFE 4.6-4.18, taking BGR frames padded to :meth:`multiple`."""

    def __init__(self, config: V4Config) -> None:
        super().__init__()
        self.config = config
        f = config.feat
        for i, c in enumerate(config.widths):
            in_planes = 7 + 2 * f if i == 0 else 8 + 4 + 2 * f
            self.add_module(f"block{i}", IFBlock(in_planes, c, config.out))
        if config.encoder == "head":
            self.encode: nn.Module | None = Head(*config.head)
        elif config.encoder == "sequential":
            self.encode = sequential_encoder(list(config.encoder_layers))
        else:
            self.encode = None
        # Without an encoder (4.6) the mask logits add up over blocks; later versions replace.
        self.mask_accumulates = self.encode is None

    @staticmethod
    def multiple(scale: float) -> int:
        return max(32, int(32 / scale))

    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(len(self.config.widths))]

    def forward(
        self, img0: torch.Tensor, img1: torch.Tensor, timestep: torch.Tensor, scale: float = 1.0
    ) -> torch.Tensor:
        """Frames (B, 3, H, W) BGR in [0, 1]; ``timestep`` (B, 1, 1, 1)."""
        b, _, h, w = img0.shape
        t = timestep.to(img0.dtype).expand(b, 1, h, w)
        f0 = f1 = None
        if self.encode is not None:
            f0, f1 = self.encode(torch.cat((img0, img1), 0)).chunk(2, 0)
        blocks = self.blocks()
        n = len(blocks)
        flow = mask = None
        warped0, warped1 = img0, img1
        for i, block in enumerate(blocks):
            level = 2 ** (n - 1 - i) / scale
            if flow is None or mask is None:
                parts = [img0, img1] + ([f0, f1] if f0 is not None else []) + [t]
                flow, mask, _ = block(torch.cat(parts, 1), None, level)
            else:
                feats = []
                if f0 is not None and f1 is not None:
                    feats = [backward_warp(f0, flow[:, :2]), backward_warp(f1, flow[:, 2:4])]
                x = torch.cat([warped0, warped1, *feats, t, mask], 1)
                delta, m, _ = block(x, flow, level)
                flow = flow + delta
                mask = mask + m if self.mask_accumulates else m
            warped0 = backward_warp(img0, flow[:, :2])
            warped1 = backward_warp(img1, flow[:, 2:4])
        alpha = torch.sigmoid(mask)
        return warped0 * alpha + warped1 * (1 - alpha)
