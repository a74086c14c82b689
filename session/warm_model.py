"""An interpolator kept loaded across the clips of a session.

``run_job`` loads the model it is given and unloads it at the end. Wrapped in
:class:`WarmModel`, the first load really loads the weights; later loads onto the same
device are free, and the job's unload only releases what one clip held (per-frame caches,
captured CUDA graphs, the CUDA cache) and puts back the user's flow scale, so the next
clip (perhaps another frame size) chooses again. :meth:`WarmModel.close` really unloads.

A job shared out over several devices runs each device's replica once per range of pairs:
:meth:`WarmModel.hold` keeps what one clip set up (captured CUDA graphs, feature caches, the
flow scale, the preflight's batch) from one range to the next of the same clip, and drops it
when the replica turns to another job (one that did not name the same clip just before its
load) or the clip's job calls :meth:`WarmModel.let_go`.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Hashable
from typing import Any

import torch

from core.interpolators.base import Interpolator
from core.memory import empty_device_cache

_OWN = frozenset({"inner", "choice", "loads", "device", "_scale", "held", "batches", "_lock", "_armed"})


class WarmModel:
    """Acts as the wrapped interpolator; see the module docstring."""

    def __init__(self, inner: Interpolator, choice: Any = None) -> None:
        object.__setattr__(self, "inner", inner)
        object.__setattr__(self, "choice", choice)  # core.models.auto.ModelChoice: what and why, once
        object.__setattr__(self, "loads", 0)  # real loads of the weights
        object.__setattr__(self, "device", None)
        object.__setattr__(self, "_scale", getattr(inner, "scale", None))
        object.__setattr__(self, "held", None)  # the clip whose set-up outlives each range's unload
        object.__setattr__(self, "batches", {})  # (height, width) -> the preflight's batch, while held
        object.__setattr__(self, "_lock", threading.Lock())
        object.__setattr__(self, "_armed", False)  # hold() came just before this load

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self.inner, name, value)

    def load(self, device: torch.device) -> None:
        """A job starts: the weights load once; a held clip's set-up stays only when :meth:`hold`
        named the clip just before (any other job first drops it)."""
        with self._lock:
            if not self._armed and self.held is not None:
                self.held = None
                self._drop()
            self._armed = False
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

    def hold(self, clip: Hashable) -> None:
        """The next ranges run ``clip``: keep its set-up between them (another clip's goes first)."""
        with self._lock:
            if self.held != clip:
                if self.held is not None:
                    self._drop()
                self.held = clip
            self._armed = True

    def let_go(self, clip: Hashable) -> None:
        """``clip``'s job has ended: drop its set-up (nothing if the replica holds another clip)."""
        with self._lock:
            if self.held == clip:
                self.held = None
                self._drop()

    def unload(self) -> None:
        """Between clips: drop what one clip held, keep the weights (kept while :meth:`hold` says)."""
        with self._lock:
            self._armed = False  # a job that failed before its load: the next one must hold again
            if self.held is None:
                self._drop()

    def _drop(self) -> None:
        self.batches.clear()
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
        self.held = None
        self.batches.clear()
        if self.device is not None:
            self.inner.unload()
            self.device = None
