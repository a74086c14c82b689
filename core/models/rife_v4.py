"""RIFE 4.6-4.18: four IFBlocks, optionally with a frame encoder, padding to 32."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from core.models.flow_blocks import frame_rows, run_blocks, weight_layout
from core.models.layers import Head, IFBlock, sequential_encoder


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

    @property
    def dtype(self) -> torch.dtype:
        return self.block0.conv0[0][0].weight.dtype

    @property
    def feature_channels(self) -> int:
        return self.config.feat if self.encode is not None else 0

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """Encoder features of padded BGR frames (N, 3, H, W), in the weights' precision."""
        assert self.encode is not None
        weight = next(self.encode.parameters())
        return self.encode(frames.to(weight.dtype, memory_format=weight_layout(weight)))

    def forward_rows(self, src: torch.Tensor, timestep: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """The frames at ``timestep`` from prepared rows (see :func:`run_blocks`)."""
        return run_blocks(
            self.blocks(), src, timestep, scale,
            carry_features=False, mask_accumulates=self.mask_accumulates,
        )

    def forward(
        self, img0: torch.Tensor, img1: torch.Tensor, timestep: torch.Tensor, scale: float = 1.0
    ) -> torch.Tensor:
        """Frames (B, 3, H, W) BGR in [0, 1]; ``timestep`` (B, 1, 1, 1). Returns float32."""
        f0 = f1 = None
        if self.encode is not None:
            f0, f1 = self.features(torch.cat((img0, img1), 0)).chunk(2, 0)
        return self.forward_rows(frame_rows(img0, img1, f0, f1), timestep, scale)
