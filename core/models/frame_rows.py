"""What a RIFE 4.x forward reads of each frame, prepared once and reused by the next pair.

A frame's *row* is its padded BGR float32 pixels followed by its encoder features, the layout
``core.models.flow_blocks.run_blocks`` warps. Consecutive pairs share a frame, and a pair may
come again for another timestep, so the last rows are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import torch


class FrameRows:
    """Rows keyed by frame, the last ``size`` frames kept.

    A frame is recognised by the key its caller gives (the job passes the decoder's frame
    index, so recognising costs no device work) or, without keys, by its content: a private
    copy compared with ``torch.equal`` (on CUDA each comparison waits for the device).
    Without keys only likely repeats are compared: the two frames before each one in the
    interleaved order (a0, b0, a1, b1, ...) and the frames kept from earlier calls.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self.entries: list[tuple[Hashable | None, torch.Tensor | None, torch.Tensor]] = []
        self.encoded = 0  # frames prepared since creation (for tests and logs)

    def clear(self) -> None:
        self.entries.clear()

    def _lookup(self, frame: torch.Tensor, key: Hashable | None) -> torch.Tensor | None:
        for known_key, raw, row in self.entries:
            if key is not None:
                if known_key == key:
                    return row
            elif raw is not None and raw.shape == frame.shape and torch.equal(raw, frame):
                return row
        return None

    def rows(
        self,
        frames: Sequence[torch.Tensor],
        keys: Sequence[Hashable] | None,
        prepare: Callable[[list[torch.Tensor]], torch.Tensor],
    ) -> list[torch.Tensor]:
        """Rows for ``frames`` (each (3, h, w), interleaved a0, b0, a1, b1, ...).

        ``prepare`` gets the distinct frames not seen before, in order, and returns their rows
        as one tensor (n, C, H, W); it is called at most once.
        """
        source: list[int | torch.Tensor] = []  # index into the prepared rows, or a kept row
        todo: list[torch.Tensor] = []
        seen: dict[Hashable, int | torch.Tensor] = {}
        for i, frame in enumerate(frames):
            key = keys[i] if keys is not None else None
            if key is not None and key in seen:
                source.append(seen[key])
                continue
            found = self._lookup(frame, key)
            if found is None and key is None:
                for j in (i - 1, i - 2):
                    if j >= 0 and frames[j].shape == frame.shape and torch.equal(frames[j], frame):
                        found = source[j]  # type: ignore[assignment]
                        break
            if found is None:
                found = len(todo)
                todo.append(frame)
            source.append(found)
            if key is not None:
                seen[key] = found
        fresh = prepare(todo) if todo else None
        self.encoded += len(todo)
        rows = [fresh[s] if isinstance(s, int) and fresh is not None else s for s in source]
        for i in sorted({len(frames) - 2, len(frames) - 1} - {-1}):
            self._remember(frames[i], keys[i] if keys is not None else None, rows[i])  # type: ignore[arg-type]
        return rows  # type: ignore[return-value]

    def _remember(self, frame: torch.Tensor, key: Hashable | None, row: torch.Tensor) -> None:
        if self._lookup(frame, key) is not None:
            return
        raw = frame.detach().clone() if key is None else None
        # a private copy: a view would keep the whole batch of prepared rows on the device
        self.entries.insert(0, (key, raw, row.detach().clone()))
        del self.entries[self.size :]
