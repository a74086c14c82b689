"""Remembers encoder features of recent frames so a frame shared by pairs is encoded once."""

from __future__ import annotations

from collections.abc import Callable

import torch


class FeatureCache:
    """Features keyed by frame content (a private copy of each frame, checked with torch.equal).

    ``resolve`` takes the raw frames of a batch of pairs, interleaved (a0, b0, a1, b1, ...),
    and the padded frames the encoder sees, and returns features for every frame while
    encoding each distinct one once. Only likely repeats are compared: the two frames before
    each one in that order (the shared frame of consecutive pairs, or a pair repeated for
    another timestep) and the last pair of the previous call.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self.entries: list[tuple[torch.Tensor, torch.Tensor]] = []  # (raw frame, feature)
        self.encoded = 0  # frames sent through the encoder since creation (for tests and logs)

    def clear(self) -> None:
        self.entries.clear()

    def _lookup(self, frame: torch.Tensor) -> torch.Tensor | None:
        for raw, feat in self.entries:
            if raw.shape == frame.shape and raw.dtype == frame.dtype and torch.equal(raw, frame):
                return feat
        return None

    def resolve(
        self,
        raw: list[torch.Tensor],
        padded: torch.Tensor,
        encode: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """Features (N, C, H, W) for ``raw`` frames (N of (3, h, w)) whose padded form is ``padded``."""
        source: list[int | torch.Tensor] = []  # index into the encode batch, or a cached feature
        todo: list[int] = []
        for i, frame in enumerate(raw):
            cached = self._lookup(frame)
            if cached is not None:
                source.append(cached)
                continue
            for j in (i - 1, i - 2):
                if j >= 0 and raw[j].shape == frame.shape and torch.equal(raw[j], frame):
                    source.append(source[j])
                    break
            else:
                source.append(len(todo))
                todo.append(i)
        fresh = encode(padded[todo]) if todo else None
        self.encoded += len(todo)
        feats = [fresh[s] if isinstance(s, int) and fresh is not None else s for s in source]
        out = torch.stack(feats)  # type: ignore[arg-type]
        self._remember(raw[-1], out[-1])
        if len(raw) > 1:
            self._remember(raw[-2], out[-2])
        return out

    def _remember(self, frame: torch.Tensor, feat: torch.Tensor) -> None:
        if self._lookup(frame) is not None:
            return
        self.entries.insert(0, (frame.detach().clone(), feat.detach()))
        del self.entries[self.size :]
