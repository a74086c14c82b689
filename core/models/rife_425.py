"""RIFE 4.22-4.26: a Head encoder and five IFBlocks carrying features, padding to 64."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from core.models.flow_blocks import frame_rows, run_blocks, weight_layout
from core.models.layers import Head, IFBlock


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

    @property
    def dtype(self) -> torch.dtype:
        return self.block0.conv0[0][0].weight.dtype

    @property
    def feature_channels(self) -> int:
        return self.config.head[1]

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """Head features of padded BGR frames (N, 3, H, W), in the weights' precision."""
        weight = self.encode.cnn0.weight
        return self.encode(frames.to(weight.dtype, memory_format=weight_layout(weight)))

    def forward_rows(self, src: torch.Tensor, timestep: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """The frames at ``timestep`` from prepared rows (see :func:`run_blocks`)."""
        return run_blocks(self.blocks(), src, timestep, scale, carry_features=True)

    def forward(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        timestep: torch.Tensor,
        scale: float = 1.0,
        f0: torch.Tensor | None = None,
        f1: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Frames (B, 3, H, W) BGR in [0, 1]; ``timestep`` (B, 1, 1, 1); optional Head features.

        Returns float32 (or wider) whatever the weights' precision.
        """
        if f0 is None or f1 is None:
            f0, f1 = self.features(torch.cat((img0, img1), 0)).chunk(2, 0)
        return self.forward_rows(frame_rows(img0, img1, f0, f1), timestep, scale)
