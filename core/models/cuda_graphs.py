"""Replaying a network's forward as a captured CUDA graph, one graph per input shape.

RIFE's forward is a few hundred small kernels; at 1080p on a large GPU launching them costs
about as much as running them. A CUDA graph launches the whole forward at once. Rules kept:

- A shape is captured the second time in a row it is seen, so one-off calls (the memory
  probe, a short batch) run eagerly and hold no graph memory. (The RIFE wrapper pads a short
  last batch up to a captured shape instead, see ``RifeInterpolator._graph_batch``.)
- At most ``max_graphs`` graphs are kept, least recently used dropped first; each holds its
  own memory pool. :meth:`drop` frees them all (the out-of-memory back-off calls it).
- An out-of-memory error while capturing drops the graphs and is raised for the back-off;
  any other capture failure turns graphs off for good and the forward runs eagerly, with
  the reason in ``disabled_reason`` and passed to ``on_note``.
- The first replay of each graph is compared with an eager run on the same inputs; a
  difference above the tolerance turns graphs off, with the reason in the log.
- Each call copies its inputs into the graph's own input tensors. Inputs at the positions
  in ``adopt`` are taken as those tensors at capture (not copied), so a caller that owns
  such a buffer and passes it again pays no copy; it must not use it for anything else (the
  RIFE wrapper stacks each batch into one buffer per shape). Other inputs are cloned, so a
  caller's tensor is never written.
- The tensor returned is the graph's own output buffer: it is valid until the next call,
  so the caller copies what it needs first (the RIFE wrapper's crop and flip do).

The forward must not synchronise with the host or build tensors from Python values; the
CPU tests check that for the RIFE networks (tests/test_cuda_graphs.py).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch

Key = tuple[tuple[tuple[int, ...], tuple[int, ...], torch.dtype, str], ...]


@dataclass
class _Captured:
    replay: Callable[[], None]
    inputs: list[torch.Tensor]
    output: torch.Tensor
    kept: object = None  # what must outlive the graph: the graph itself, cached tensors it reads


def _key(inputs: tuple[torch.Tensor, ...]) -> Key:
    return tuple((tuple(t.shape), t.stride(), t.dtype, str(t.device)) for t in inputs)


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


class GraphedForward:
    """Calls ``fn(*tensors) -> tensor`` through CUDA graphs where it can, eagerly otherwise.

    The first replay of each new graph is checked against an eager run on the same inputs;
    a difference above ``tolerance`` turns graphs off (with a note) rather than trusting them.
    """

    def __init__(
        self,
        fn: Callable[..., torch.Tensor],
        max_graphs: int = 2,
        warmup: int = 2,
        on_note: Callable[[str], None] | None = None,
        keep_alive: Callable[[], object] | None = None,
        tolerance: float = 2e-3,
        adopt: tuple[int, ...] = (),
    ) -> None:
        """``keep_alive`` returns, after a capture, whatever cached tensors ``fn`` read
        (a graph replays raw addresses, so those must outlive it)."""
        self.fn = fn
        self.keep_alive = keep_alive
        self.max_graphs = max_graphs
        self.warmup = warmup
        self.on_note = on_note
        self.tolerance = tolerance
        self.adopt = adopt
        self.graphs: OrderedDict[Key, _Captured] = OrderedDict()
        self.last_key: Key | None = None
        self.disabled_reason: str | None = None
        self.captures = 0
        self.replays = 0

    def supported(self, inputs: tuple[torch.Tensor, ...]) -> bool:
        """Whether these inputs can go through a graph (CUDA tensors)."""
        return inputs[0].device.type == "cuda"

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.disabled_reason is not None or not self.supported(inputs):
            return self.fn(*inputs)
        key = _key(inputs)
        captured = self.graphs.get(key)
        fresh = captured is None
        if captured is None:
            seen_before, self.last_key = key == self.last_key, key
            if not seen_before:
                return self.fn(*inputs)
            captured = self._capture(key, inputs)
            if captured is None:
                return self.fn(*inputs)
        self.graphs.move_to_end(key)
        for static, given in zip(captured.inputs, inputs, strict=True):
            static.copy_(given, non_blocking=True)
        captured.replay()
        self.replays += 1
        if fresh:
            return self._checked(captured.output, inputs)
        return captured.output

    def drop(self) -> None:
        """Forget every graph and the memory it holds."""
        self.graphs.clear()
        self.last_key = None

    def _turn_off(self, reason: str) -> None:
        self.disabled_reason = f"CUDA graphs turned off, the model runs eagerly: {reason}"
        self.drop()
        if self.on_note is not None:
            self.on_note(self.disabled_reason)

    def _checked(self, replayed: torch.Tensor, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The first replay of a graph against the eager forward (one extra forward, once)."""
        expected = self.fn(*inputs)
        if replayed.shape == expected.shape:
            difference = (replayed.float() - expected.float()).abs().max().item()
            if difference <= self.tolerance:
                return replayed
        else:
            difference = float("inf")
        self._turn_off(f"a replay differed from the eager forward by {difference:.3g}")
        return expected

    def record(self, static: list[torch.Tensor]) -> tuple[Callable[[], None], torch.Tensor, object]:
        """Capture ``fn`` on ``static`` inputs: (replay, output buffer, what must outlive it)."""
        device = static[0].device
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(self.warmup):  # lazy state (cuDNN plans, cached grids) first
                self.fn(*static)
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            output = self.fn(*static)
        return graph.replay, output, graph

    def _capture(self, key: Key, inputs: tuple[torch.Tensor, ...]) -> _Captured | None:
        while len(self.graphs) >= self.max_graphs:
            self.graphs.popitem(last=False)
        static = [t if i in self.adopt else t.clone() for i, t in enumerate(inputs)]
        try:
            replay, output, graph = self.record(static)
        except Exception as exc:  # any capture failure falls back to eager
            if _is_oom(exc):
                self.drop()
                raise
            self._turn_off((str(exc).strip().splitlines() or [type(exc).__name__])[0][:200])
            return None
        kept = (graph, self.keep_alive() if self.keep_alive else None)
        captured = _Captured(replay, static, output, kept)
        self.graphs[key] = captured
        self.captures += 1
        return captured
