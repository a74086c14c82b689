"""Backward warping by optical flow, the sampling step every RIFE family shares.

Sampling always runs in float32, even inside an fp16 autocast region: bilinear
weights and normalised coordinates lose whole pixels in half precision on large frames.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# shared by workers on several devices in one process (core/device_job.py): only single dict
# operations (atomic in CPython), no lock, as torch.compile traces grid_terms
_GRIDS: dict[tuple[int, int, str, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}
_MAX_GRIDS = 8


def grid_terms(
    height: int, width: int, device: torch.device, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """The identity sampling grid (1, H, W, 2), x then y in [-1, 1], and the factors
    (2 / (W - 1), 2 / (H - 1)) that turn pixel offsets into grid units; cached per size."""
    key = (height, width, str(device), dtype)
    terms = _GRIDS.get(key)  # no lock here: torch.compile traces this; single dict calls are atomic
    if terms is None:
        xs = torch.linspace(-1.0, 1.0, width, device=device, dtype=dtype)
        ys = torch.linspace(-1.0, 1.0, height, device=device, dtype=dtype)
        grid = torch.stack(
            (xs.view(1, width).expand(height, width), ys.view(height, 1).expand(height, width)), -1
        ).unsqueeze(0)
        norm = torch.tensor((2.0 / (width - 1.0), 2.0 / (height - 1.0)), dtype=dtype).to(device)
        if len(_GRIDS) >= _MAX_GRIDS:
            for old in list(_GRIDS)[: len(_GRIDS) - _MAX_GRIDS + 1]:
                _GRIDS.pop(old, None)
        terms = _GRIDS.setdefault(key, (grid, norm))
    return terms


def cached_grids() -> list[torch.Tensor]:
    """Every cached grid tensor (a captured CUDA graph keeps these alive while it lives)."""
    return [t for terms in list(_GRIDS.values()) for t in terms]


def flow_grids(flow: torch.Tensor) -> torch.Tensor:
    """Sampling grids (2B, H, W, 2) for both frames of B pairs from RIFE's flow (B, 4, H, W).

    Rows 0..B-1 sample frame 0 at x + flow[:, :2], rows B..2B-1 frame 1 at x + flow[:, 2:4]:
    one fused multiply-add in the flow's precision (float32 or wider), whatever its layout.
    Inference only (the result is written with ``out=``, which autograd refuses).
    """
    b, _, height, width = flow.shape
    base, norm = grid_terms(height, width, flow.device, flow.dtype)
    grid = flow.new_empty((2, b, height, width, 2))
    torch.addcmul(base, flow.unflatten(1, (2, 2)).permute(1, 0, 3, 4, 2), norm, out=grid)
    return grid.view(2 * b, height, width, 2)


def sample(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``grid_sample`` with RIFE's convention (bilinear, border, corners aligned)."""
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=True)


def clear_grids(device: torch.device | str | None = None) -> None:
    """Drop the cached sampling grids of ``device`` (a model unloaded from it), or all.
    A model on another device keeps its own."""
    if device is None:
        _GRIDS.clear()
        return
    name = str(torch.device(device))
    for key in [k for k in list(_GRIDS) if k[2] == name]:
        _GRIDS.pop(key, None)


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` (B, C, H, W) at x + flow, flow (B, 2, H, W) in pixels.

    Bilinear, border padding, corner-aligned: the convention the RIFE weights were
    trained with. Returns the dtype of ``image``.
    """
    height, width = flow.shape[-2:]
    with torch.autocast(device_type=flow.device.type, enabled=False):
        base, norm = grid_terms(height, width, flow.device)
        grid = torch.addcmul(base, flow.float().permute(0, 2, 3, 1), norm)
        out = sample(image.float(), grid)
    return out.to(image.dtype)
