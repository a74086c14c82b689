"""``blend``: the linear mix of the two frames, the trivial last resort."""

from __future__ import annotations

import torch

from core.interpolators.base import Interpolator


class BlendInterpolator(Interpolator):
    """(1 - t) * img0 + t * img1; needs no weights and no padding."""

    name = "blend"

    def load(self, device: torch.device) -> None:
        self.device = device

    def interpolate(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.to(img0.dtype).view(-1, 1, 1, 1)
        return img0 + (img1 - img0) * t

    def unload(self) -> None:
        pass
