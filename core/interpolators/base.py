"""The protocol every interpolator implements, its optional capabilities, and padding helpers."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
import torch.nn.functional as F

FrameKeys = tuple[Sequence[Hashable], Sequence[Hashable]]


@runtime_checkable
class Interpolator(Protocol):
    """Makes frames between pairs of frames.

    Frames are float tensors, RGB, values in [0, 1], shape (B, 3, H, W), on the device
    the interpolator was loaded onto. ``t`` has shape (B,) with values in (0, 1).
    The interpolator pads internally to its own multiple and crops back, so any H and W work.

    The optional capabilities below have defaults here; an interpolator subclasses this
    protocol to inherit them and overrides the ones it has, so the job never probes for them.
    """

    name: str

    #: ``interpolate(img0, img1, t, keys=(keys0, keys1))`` is accepted: equal keys name
    #: equal frames, so a frame shared by pairs is prepared once (the job passes frame indices)
    takes_frame_keys: ClassVar[bool] = False
    #: torch intra-op threads the job should use on the CPU (None: leave torch's setting)
    cpu_torch_threads: ClassVar[int | None] = None
    #: the flow scale in use, where the model has one (None: it has none, or not chosen yet)
    scale: float | None = None
    #: set (truthy) while forwards are replayed as captured CUDA graphs
    graphed: Any = None
    #: where the interpolator sends notes worth a log line (the job sets it)
    on_note: Callable[[str], None] | None = None

    @property
    def precision_used(self) -> str:
        """The precision the model runs in: "fp16" or "fp32"."""
        return "fp32"

    def load(self, device: torch.device) -> None:
        """Move weights (if any) to ``device`` and get ready to run."""

    def interpolate(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Return the frames at timesteps ``t`` between ``img0`` (t=0) and ``img1`` (t=1)."""

    def unload(self) -> None:
        """Release every tensor and cache the interpolator holds."""

    def drop_graphs(self) -> None:
        """Free memory held by captured CUDA graphs (the out-of-memory back-off calls it)."""


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Zero-pad (B, C, H, W) on the right and bottom to a multiple; returns (padded, H, W)."""
    h, w = x.shape[-2:]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph))
    return x, h, w
