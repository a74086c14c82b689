"""Tensor operations behind ``flow``: backward warping, forward splatting, hole filling.

Every flow is (B, 2, H, W) in pixels, channel 0 = x (right), channel 1 = y (down), and says
where a pixel of the frame it belongs to moves to in the other frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pixel_grid(b: int, h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(B, 2, H, W) pixel coordinates: channel 0 = x, channel 1 = y."""
    ys = torch.arange(h, device=device, dtype=dtype).view(1, h, 1).expand(1, h, w)
    xs = torch.arange(w, device=device, dtype=dtype).view(1, 1, w).expand(1, h, w)
    return torch.cat([xs, ys], 0)[None].expand(b, 2, h, w)


def sampling_grid(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """grid_sample grid (B, H, W, 2), align_corners=True, that samples at x + flow(x).

    ``flow`` may be smaller than ``size`` (flow estimated on a downscaled copy, in pixels of
    that copy): positions are formed at flow resolution and upsampled bilinearly with
    corners aligned, so the identity part stays exact and only the flow is interpolated.
    """
    h, w = flow.shape[-2:]
    big_h, big_w = size
    dev, dtype = flow.device, flow.dtype
    xs = torch.linspace(-1.0, 1.0, w, device=dev, dtype=dtype) if w > 1 else torch.zeros(1, device=dev, dtype=dtype)
    ys = torch.linspace(-1.0, 1.0, h, device=dev, dtype=dtype) if h > 1 else torch.zeros(1, device=dev, dtype=dtype)
    # low-res pixels -> full-res pixels (x big_w / w) -> normalised units (x 2 / (big_w - 1))
    gain_x = 2.0 * big_w / (w * max(big_w - 1, 1))
    gain_y = 2.0 * big_h / (h * max(big_h - 1, 1))
    gx = flow[:, 0] * gain_x + xs.view(1, 1, w)
    gy = flow[:, 1] * gain_y + ys.view(1, h, 1)
    grid = torch.stack([gx, gy], dim=1)
    if (h, w) != (big_h, big_w):
        grid = F.interpolate(grid, size=(big_h, big_w), mode="bilinear", align_corners=True)
    return grid.permute(0, 2, 3, 1)


def backward_warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Samples ``img`` at x + flow(x) (bilinear, border-clamped): out(x) = img(x + flow(x)).

    ``flow`` may have a lower resolution than ``img``; see :func:`sampling_grid`.
    """
    grid = sampling_grid(flow, tuple(img.shape[-2:])).to(img.dtype)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def forward_splat(
    values: torch.Tensor, flow: torch.Tensor, weight: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Adds each pixel's ``values`` (times ``weight``) at x + flow(x) with bilinear splat weights.

    Returns (summed values (B, C, H, W), summed weights (B, 1, H, W)); divide one by the
    other for the average. Contributions that land outside the frame are dropped.
    """
    b, c, h, w = values.shape
    dev, dtype = values.device, values.dtype
    pos = pixel_grid(b, h, w, dev, flow.dtype) + flow
    x, y = pos[:, 0].reshape(-1), pos[:, 1].reshape(-1)
    x0, y0 = torch.floor(x), torch.floor(y)
    ax, ay = (x - x0).to(dtype), (y - y0).to(dtype)
    x0, y0 = x0.long(), y0.long()
    base = torch.arange(b, device=dev).repeat_interleave(h * w) * (h * w)
    src = values.permute(0, 2, 3, 1).reshape(-1, c)
    src_w = torch.ones(b * h * w, 1, device=dev, dtype=dtype)
    if weight is not None:
        src_w = weight.reshape(-1, 1).to(dtype)
    payload = torch.cat([src * src_w, src_w], dim=1)
    acc = torch.zeros(b * h * w, c + 1, device=dev, dtype=dtype)
    for dx, dy, k in ((0, 0, (1 - ax) * (1 - ay)), (1, 0, ax * (1 - ay)),
                      (0, 1, (1 - ax) * ay), (1, 1, ax * ay)):  # fmt: skip
        xi, yi = x0 + dx, y0 + dy
        inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        idx = base + yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)
        acc.index_add_(0, idx, payload * (k * inside.to(dtype)).unsqueeze(1))
    acc = acc.view(b, h, w, c + 1).permute(0, 3, 1, 2)
    return acc[:, :c], acc[:, c:]


def fill_holes(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Replaces values where ``known`` is 0 by averages of known values from growing neighbourhoods.

    Push-pull: known values are averaged down a pyramid of halvings until the holes close,
    then the coarse averages are brought back up into the holes only.
    """
    mask = (known > 0).to(values.dtype)
    if bool(mask.min() > 0):
        return values
    h, w = values.shape[-2:]
    if h <= 1 and w <= 1:
        return values * mask
    total = F.avg_pool2d(values * mask, 2, ceil_mode=True)
    count = F.avg_pool2d(mask, 2, ceil_mode=True)
    coarse = fill_holes(total / count.clamp_min(1e-12), count)
    up = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return torch.where(mask > 0, values, up)


def reverse_flow(flow: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow from time ``t`` back to the flow's own frame, by forward splatting.

    Each pixel x of frame A with flow F (A -> B) lands at x + t*F at time t and carries -t*F,
    so sampling frame A at (y + result(y)) reconstructs time t. ``t`` is (B,) per row.
    Returns the reversed flow (holes filled) and the splat density (0 where nothing landed).
    """
    tt = t.to(flow.dtype).view(-1, 1, 1, 1)
    moved = flow * tt
    total, density = forward_splat(-moved, moved)
    reversed_flow = total / density.clamp_min(1e-6)
    known = (density > 1e-3).to(flow.dtype)
    return fill_holes(reversed_flow * known, known), density
