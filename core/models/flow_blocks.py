"""The coarse-to-fine loop of RIFE 4.x, arranged for few kernels and few bytes.

On a GPU this network is limited by memory traffic and kernel launches, not arithmetic, so
the loop computes what the published code computes (tests/rife_reference.py is that code)
with less work:

- Both frames and their encoder features live in one float32 tensor ``src`` (2B, 3+F, H, W),
  so each block warps all of them with one grid and one ``grid_sample``.
- A block's inputs are resized to its working size before they are concatenated (bilinear
  resizing is per channel, so this is the same result), not concatenated at full size first.
- The flow stays in float32 and is updated with one fused add; the output blend is one
  ``lerp``. With fp16 weights each block's input is cast as it is concatenated, once.
- Inference only: grids and block inputs are written with ``out=``, which autograd refuses.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from core.models.layers import IFBlock, resize
from core.models.warp import flow_grids, sample


def weight_layout(weight: torch.Tensor) -> torch.memory_format:
    """The memory format a convolution's weight is in (channels-last or contiguous)."""
    if weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def frame_rows(
    img0: torch.Tensor, img1: torch.Tensor, f0: torch.Tensor | None, f1: torch.Tensor | None
) -> torch.Tensor:
    """The ``src`` of :func:`run_blocks` from frames (B, 3, H, W) and their features."""
    b, _, h, w = img0.shape
    feat = f0.shape[1] if f0 is not None else 0
    wide = torch.promote_types(img0.dtype, torch.float32)  # warps and flow: float32 at least
    src = img0.new_empty((2 * b, 3 + feat, h, w), dtype=wide)
    src[:b, :3] = img0
    src[b:, :3] = img1
    if f0 is not None and f1 is not None:
        src[:b, 3:] = f0
        src[b:, 3:] = f1
    return src


def run_blocks(
    blocks: list[IFBlock],
    src: torch.Tensor,
    timestep: torch.Tensor,
    scale: float,
    carry_features: bool,
    mask_accumulates: bool = False,
) -> torch.Tensor:
    """The frames at ``timestep`` (B, 1, 1, 1) between the frames of ``src``.

    ``src`` (2B, 3+F, H, W), float32 or wider: rows 0..B-1 are the first frames of the B
    pairs, rows B..2B-1 the second; channels are BGR in [0, 1], then the frame's F encoder
    feature channels (none without an encoder).
    ``carry_features``: each block hands mask and features to the next (4.22-4.26);
    otherwise only the mask logit, added up over blocks if ``mask_accumulates`` (4.6).
    Returns (B, 3, H, W) in ``src``'s precision.
    """
    b = src.shape[0] // 2
    weight = blocks[0].conv0[0][0].weight
    dtype, layout = weight.dtype, weight_layout(weight)
    feat = src.shape[1] > 3
    wide = src.dtype
    t = timestep.to(wide)
    n = len(blocks)
    flow: torch.Tensor | None = None
    carried: torch.Tensor | None = None  # mask logit (and features) from the last block
    warped = src
    for i, block in enumerate(blocks):
        level = 2 ** (n - 1 - i) / scale
        low = resize(warped, 1.0 / level)
        size = low.shape[-2:]
        parts = [low[:b, :3], low[b:, :3]]
        if feat:
            parts += [low[:b, 3:], low[b:, 3:]]
        parts.append(t.expand(b, 1, *size))
        if carried is not None and flow is not None:
            parts += [resize(carried, 1.0 / level), resize(flow, 1.0 / level) / level]
        channels = sum(p.shape[1] for p in parts)
        x = torch.empty((b, channels, *size), dtype=dtype, device=low.device, memory_format=layout)
        torch.cat(parts, 1, out=x)  # cast and laid out as the weights want, written once
        out = block(x, level)
        if flow is None:
            flow = out[:, :4].to(wide) * level
        else:
            flow = torch.add(flow, out[:, :4], alpha=level)
        if carry_features:
            carried = out[:, 4:]
        elif mask_accumulates and carried is not None:
            carried = carried + out[:, 4:5]
        else:
            carried = out[:, 4:5]
        warped = sample(src if i < n - 1 else src[:, :3], flow_grids(flow))
    assert carried is not None
    alpha = torch.sigmoid(carried[:, :1].to(wide))
    return torch.lerp(warped[b:], warped[:b], alpha)


class FlowBlockNet(nn.Module):
    """What every RIFE 4.x network shares: IFBlocks named ``block0``..., an optional frame
    encoder ``encode``, and the forward over prepared rows.

    A subclass builds those modules and sets ``base_multiple`` (the padding at scale 1),
    ``carry_features`` and ``mask_accumulates`` (see :func:`run_blocks`) and
    ``feature_channels`` (the encoder's output channels per frame, 0 without one).
    """

    base_multiple = 32
    carry_features = False
    mask_accumulates = False
    feature_channels = 0
    encode: nn.Module | None  # set by the subclass (a class default would hide the module)

    @classmethod
    def multiple(cls, scale: float) -> int:
        """Frames are padded to this multiple at flow ``scale``."""
        return max(cls.base_multiple, int(cls.base_multiple / scale))

    def blocks(self) -> list[IFBlock]:
        return [m for name, m in self.named_children() if name.startswith("block")]

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """Encoder features of padded BGR frames (N, 3, H, W), in the weights' precision."""
        assert self.encode is not None
        weight = next(self.encode.parameters())
        return self.encode(frames.to(weight.dtype, memory_format=weight_layout(weight)))

    def forward_rows(self, src: torch.Tensor, timestep: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """The frames at ``timestep`` from prepared rows (see :func:`run_blocks`)."""
        return run_blocks(
            self.blocks(), src, timestep, scale,
            carry_features=self.carry_features, mask_accumulates=self.mask_accumulates,
        )

    def forward(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        timestep: torch.Tensor,
        scale: float = 1.0,
        f0: torch.Tensor | None = None,
        f1: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Frames (B, 3, H, W) BGR in [0, 1]; ``timestep`` (B, 1, 1, 1); optional encoder
        features (computed here when missing). Returns float32 (or wider)."""
        if self.encode is not None and (f0 is None or f1 is None):
            f0, f1 = self.features(torch.cat((img0, img1), 0)).chunk(2, 0)
        return self.forward_rows(frame_rows(img0, img1, f0, f1), timestep, scale)
