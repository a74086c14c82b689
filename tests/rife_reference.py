"""The plain RIFE 4.x forward, as the published code writes it: the oracle for the fast one.

Every block concatenates its inputs at full resolution and resizes them, each warp builds its
own grid, and images and features are warped one by one. ``core.models`` reorders this work
(resize before concatenating, one grid and one ``grid_sample`` for both frames and their
features, flow kept in float32); the tests check that it computes the same frames.
"""

from __future__ import annotations

import torch

from core.models.layers import resize
from core.models.rife_425 import IFNet425
from core.models.rife_v4 import IFNetV4
from core.models.warp import backward_warp


def _block(block, x: torch.Tensor, flow: torch.Tensor | None, scale: float):
    x = resize(x, 1.0 / scale)
    if flow is not None:
        x = torch.cat((x, resize(flow, 1.0 / scale) / scale), 1)
    tmp = block.lastconv(block.convblock(block.conv0(x)))
    tmp = resize(tmp, scale)
    return tmp[:, :4] * scale, tmp[:, 4:5], tmp[:, 5:]


def forward_425(net: IFNet425, img0, img1, timestep, scale: float = 1.0) -> torch.Tensor:
    b, _, h, w = img0.shape
    t = timestep.to(img0.dtype).expand(b, 1, h, w)
    f0, f1 = net.encode(torch.cat((img0, img1), 0)).chunk(2, 0)
    blocks = net.blocks()
    n = len(blocks)
    flow = mask = feat = None
    warped0, warped1 = img0, img1
    for i, block in enumerate(blocks):
        level = 2 ** (n - 1 - i) / scale
        if flow is None:
            flow, mask, feat = _block(block, torch.cat((img0, img1, f0, f1, t), 1), None, level)
        else:
            wf0 = backward_warp(f0, flow[:, :2])
            wf1 = backward_warp(f1, flow[:, 2:4])
            x = torch.cat((warped0, warped1, wf0, wf1, t, mask, feat), 1)
            delta, mask, feat = _block(block, x, flow, level)
            flow = flow + delta
        warped0 = backward_warp(img0, flow[:, :2])
        warped1 = backward_warp(img1, flow[:, 2:4])
    alpha = torch.sigmoid(mask)
    return warped0 * alpha + warped1 * (1 - alpha)


def forward_v4(net: IFNetV4, img0, img1, timestep, scale: float = 1.0) -> torch.Tensor:
    b, _, h, w = img0.shape
    t = timestep.to(img0.dtype).expand(b, 1, h, w)
    f0 = f1 = None
    if net.encode is not None:
        f0, f1 = net.encode(torch.cat((img0, img1), 0)).chunk(2, 0)
    blocks = net.blocks()
    n = len(blocks)
    flow = mask = None
    warped0, warped1 = img0, img1
    for i, block in enumerate(blocks):
        level = 2 ** (n - 1 - i) / scale
        if flow is None:
            parts = [img0, img1] + ([f0, f1] if f0 is not None else []) + [t]
            flow, mask, _ = _block(block, torch.cat(parts, 1), None, level)
        else:
            feats = []
            if f0 is not None:
                feats = [backward_warp(f0, flow[:, :2]), backward_warp(f1, flow[:, 2:4])]
            x = torch.cat([warped0, warped1, *feats, t, mask], 1)
            delta, m, _ = _block(block, x, flow, level)
            flow = flow + delta
            mask = mask + m if net.mask_accumulates else m
        warped0 = backward_warp(img0, flow[:, :2])
        warped1 = backward_warp(img1, flow[:, 2:4])
    alpha = torch.sigmoid(mask)
    return warped0 * alpha + warped1 * (1 - alpha)
