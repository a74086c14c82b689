"""Run any interpolator in overlapping tiles, the last resort when one pair does not fit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from core.interpolators.base import Interpolator


class TiledInterpolator(Interpolator):
    """Splits frames into ``grid`` x ``grid`` tiles with ``overlap`` pixels and feathers the seams.

    The inner model's capabilities that still hold per tile are forwarded: ``drop_graphs``
    (equal tiles replay one captured graph, which a further back-off must be able to free),
    ``graphed`` (the preflight budgets its memory), ``precision_used``, ``scale`` (read only:
    the back-off has lowered it as far as it goes before tiling), ``cpu_torch_threads`` and
    ``on_note``. ``takes_frame_keys`` is not: a key names a whole frame, not one of its tiles.
    """

    def __init__(self, inner: Interpolator, grid: int = 2, overlap: int = 64) -> None:
        self.inner = inner
        self.grid = grid
        self.overlap = overlap
        self.name = f"{inner.name} (tiled {grid}x{grid})"

    def load(self, device: torch.device) -> None:
        self.inner.load(device)

    def unload(self) -> None:
        self.inner.unload()

    def drop_graphs(self) -> None:
        """Free the memory the inner model's captured CUDA graphs hold."""
        self.inner.drop_graphs()

    @property  # type: ignore[override]
    def graphed(self) -> Any:
        return self.inner.graphed

    @property
    def precision_used(self) -> str:
        return self.inner.precision_used

    @property  # type: ignore[override]
    def scale(self) -> float | None:
        return self.inner.scale

    @property  # type: ignore[override]
    def cpu_torch_threads(self) -> int | None:
        return self.inner.cpu_torch_threads

    @property  # type: ignore[override]
    def on_note(self) -> Callable[[str], None] | None:
        return self.inner.on_note

    @on_note.setter
    def on_note(self, note: Callable[[str], None] | None) -> None:
        self.inner.on_note = note

    def _spans(self, size: int) -> list[tuple[int, int]]:
        step = -(-size // self.grid)
        return [
            (max(0, i * step - self.overlap), min(size, (i + 1) * step + self.overlap))
            for i in range(self.grid)
        ]

    def _ramp(self, start: int, end: int, size: int, device: torch.device) -> torch.Tensor:
        """Weights rising over the overlap at inner edges, flat elsewhere."""
        n = end - start
        w = torch.ones(n, device=device)
        ramp = torch.linspace(0.0, 1.0, self.overlap + 2, device=device)[1:-1]
        k = min(self.overlap, n)
        if start > 0:
            w[:k] = torch.minimum(w[:k], ramp[:k])
        if end < size:
            w[n - k :] = torch.minimum(w[n - k :], ramp[:k].flip(0))
        return w

    def interpolate(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        _, _, h, w = img0.shape
        out = torch.zeros_like(img0)
        weight = torch.zeros(1, 1, h, w, device=img0.device, dtype=img0.dtype)
        for y0, y1 in self._spans(h):
            wy = self._ramp(y0, y1, h, img0.device)
            for x0, x1 in self._spans(w):
                wx = self._ramp(x0, x1, w, img0.device)
                tile = self.inner.interpolate(img0[..., y0:y1, x0:x1], img1[..., y0:y1, x0:x1], t)
                mask = (wy[:, None] * wx[None, :]).to(img0.dtype)
                out[..., y0:y1, x0:x1] += tile * mask
                weight[..., y0:y1, x0:x1] += mask
        return out / weight.clamp_min(1e-6)
