"""RIFE 4.22-4.26: a Head encoder and five IFBlocks carrying features, padding to 64."""

from __future__ import annotations

from dataclasses import dataclass

from core.models.flow_blocks import FlowBlockNet
from core.models.layers import Head, IFBlock


@dataclass(frozen=True)
class FiveBlockConfig:
    """Widths of the five blocks (192/128/96/64/32 for 4.25), Head (hidden, out), block output."""

    widths: tuple[int, ...] = (192, 128, 96, 64, 32)
    head: tuple[int, int] = (16, 4)
    out: int = 13


class IFNet425(FlowBlockNet):
    """Five-block IFNet of RIFE 4.25/4.26 on BGR frames padded to :meth:`multiple`.

    The Head features of a frame do not depend on its partner, so callers may compute
    them once with :meth:`features` and pass them to :meth:`forward`.
    """

    base_multiple = 64
    carry_features = True

    def __init__(self, config: FiveBlockConfig) -> None:
        super().__init__()
        self.config = config
        f = self.feature_channels = config.head[1]
        extra = config.out - 5  # feature channels a block hands to the next one
        for i, c in enumerate(config.widths):
            in_planes = 7 + 2 * f if i == 0 else 8 + 4 + 2 * f + extra
            self.add_module(f"block{i}", IFBlock(in_planes, c, config.out))
        self.encode = Head(*config.head)
