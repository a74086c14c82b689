"""RIFE 4.6-4.18: four IFBlocks, optionally with a frame encoder, padding to 32."""

from __future__ import annotations

from dataclasses import dataclass

from core.models.flow_blocks import FlowBlockNet
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


class IFNetV4(FlowBlockNet):
    """Four-block IFNet of RIFE 4.6-4.18, taking BGR frames padded to :meth:`multiple`."""

    def __init__(self, config: V4Config) -> None:
        super().__init__()
        self.config = config
        f = config.feat
        for i, c in enumerate(config.widths):
            in_planes = 7 + 2 * f if i == 0 else 8 + 4 + 2 * f
            self.add_module(f"block{i}", IFBlock(in_planes, c, config.out))
        if config.encoder == "head":
            self.encode = Head(*config.head)
        elif config.encoder == "sequential":
            self.encode = sequential_encoder(list(config.encoder_layers))
        else:
            self.encode = None
        self.feature_channels = config.feat if self.encode is not None else 0
        # Without an encoder (4.6) the mask logits add up over blocks; later versions replace.
        self.mask_accumulates = self.encode is None
