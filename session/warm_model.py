"""An interpolator kept loaded across the clips of a session.

``run_job`` loads the model it is given and unloads it at the end. Wrapped in
:class:`WarmModel`, the first load really loads the weights; later loads onto the same
device are free, and the job's unload only releases what one clip held (per-frame caches,
captured CUDA graphs, the CUDA cache) and puts back the user's flow scale, so the next
clip (perhaps another frame size) chooses again. :meth:`WarmModel.close` really unloads.
"""

from __future__ import annotations

import gc
from typing import Any

import torch

from core.interpolators.base import Interpolator
from core.memory import empty_device_cache

_OWN = frozenset({"inner", "choice", "loads", "device", "_scale"})


class WarmModel:
    """Acts as the wrapped interpolator; see the module docstring."""

    def __init__(self, inner: Interpolator, choice: Any = None) -> None:
        object.__setattr__(self, "inner", inner)
        object.__setattr__(self, "choice", choice)  # core.models.auto.ModelChoice: what and why, once
        object.__setattr__(self, "loads", 0)  # real loads of the weights
        object.__setattr__(self, "device", None)
        object.__setattr__(self, "_scale", getattr(inner, "scale", None))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self.inner, name, value)

    def load(self, device: torch.device) -> None:
        device = torch.device(device)
        if self.device == device:
            return
        if self.device is not None:
            self.inner.unload()
        self.inner.load(device)
        self.loads += 1
        self.device = device

    def interpolate(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.inner.interpolate(*args, **kwargs)

    def unload(self) -> None:
        """Between clips: drop what one clip held, keep the weights."""
        self.inner.drop_graphs()
        cache = getattr(self.inner, "cache", None)
        if cache is not None and hasattr(cache, "clear"):
            cache.clear()
        if getattr(self.inner, "scale", None) != self._scale:
            self.inner.scale = self._scale  # chosen again for the next clip's size
        gc.collect()
        if self.device is not None:
            empty_device_cache(self.device)  # this model's device, not the thread's current one

    def close(self) -> None:
        """End of the session: unload the weights for real."""
        if self.device is not None:
            self.inner.unload()
            self.device = None
