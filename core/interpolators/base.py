"""The protocol every interpolator implements, and padding helpers."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F


@runtime_checkable
class Interpolator(Protocol):
    """Makes frames between pairs of frames.

    Frames are float tensors, RGB, values in [0, 1], shape (B, 3, H, W), on the device
    the interpolator was loaded onto. ``t`` has shape (B,) with values in (0, 1).
    The interpolator pads internally to its own multiple and crops back, so any H and W work.
    """

    name: str
    # optional: ``cpu_torch_threads = N`` asks the job to run torch with N intra-op threads on
    # the CPU (for models that parallelise by themselves)

    def load(self, device: torch.device) -> None:
        """Move weights (if any) to ``device`` and get ready to run."""

    def interpolate(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Return the frames at timesteps ``t`` between ``img0`` (t=0) and ``img1`` (t=1)."""

    def unload(self) -> None:
        """Release every tensor and cache the interpolator holds."""


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Zero-pad (B, C, H, W) on the right and bottom to a multiple; returns (padded, H, W)."""
    h, w = x.shape[-2:]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph))
    return x, h, w
