"""Backward warping by optical flow, the sampling step every RIFE family shares.

Sampling always runs in float32, even inside an fp16 autocast region: bilinear
weights and normalised coordinates lose whole pixels in half precision on large frames.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_GRIDS: dict[tuple[int, int, str], torch.Tensor] = {}
_MAX_GRIDS = 8


def base_grid(height: int, width: int, device: torch.device) -> torch.Tensor:
    """The identity sampling grid, shape (1, H, W, 2), x then y in [-1, 1], float32."""
    key = (height, width, str(device))
    grid = _GRIDS.get(key)
    if grid is None:
        xs = torch.linspace(-1.0, 1.0, width, device=device).view(1, width).expand(height, width)
        ys = torch.linspace(-1.0, 1.0, height, device=device).view(height, 1).expand(height, width)
        grid = torch.stack((xs, ys), dim=-1).unsqueeze(0)
        if len(_GRIDS) >= _MAX_GRIDS:
            _GRIDS.pop(next(iter(_GRIDS)))
        _GRIDS[key] = grid
    return grid


def flow_grids(flow: torch.Tensor) -> torch.Tensor:
    """Sampling grids (2B, H, W, 2) for both frames of B pairs from RIFE's flow (B, 4, H, W).

    Rows 0..B-1 sample frame 0 at x + flow[:, :2], rows B..2B-1 frame 1 at x + flow[:, 2:4]:
    one fused multiply-add in the flow's precision (float32 or wider), whatever its layout.
    Inference only (the result is written with ``out=``, which autograd refuses).
    """
    b, _, height, width = flow.shape
    base = base_grid(height, width, flow.device).to(flow.dtype)
    norm = base.new_tensor((2.0 / (width - 1.0), 2.0 / (height - 1.0)))
    grid = flow.new_empty((2, b, height, width, 2))
    torch.addcmul(base, flow.unflatten(1, (2, 2)).permute(1, 0, 3, 4, 2), norm, out=grid)
    return grid.view(2 * b, height, width, 2)


def sample(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``grid_sample`` with RIFE's convention (bilinear, border, corners aligned)."""
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=True)


def clear_grids() -> None:
    """Drop the cached sampling grids (called when a model is unloaded)."""
    _GRIDS.clear()


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` (B, C, H, W) at x + flow, flow (B, 2, H, W) in pixels.

    Bilinear, border padding, corner-aligned: the convention the RIFE weights were
    trained with. Returns the dtype of ``image``.
    """
    height, width = flow.shape[-2:]
    with torch.autocast(device_type=flow.device.type, enabled=False):
        offset = flow.float().permute(0, 2, 3, 1)
        offset = torch.stack(
            (offset[..., 0] / ((width - 1.0) / 2.0), offset[..., 1] / ((height - 1.0) / 2.0)), dim=-1
        )
        grid = base_grid(height, width, flow.device) + offset
        out = F.grid_sample(
            image.float(), grid, mode="bilinear", padding_mode="border", align_corners=True
        )
    return out.to(image.dtype)
