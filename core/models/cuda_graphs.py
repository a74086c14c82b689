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
- Capture, replay and warm-up run under ``torch.cuda.device`` of the inputs, with a capture
  stream made on that device: ``torch.cuda.graph`` otherwise synchronises and captures on
  the thread's current device (0), and with ``--device cuda:1`` the kernels would run
  eagerly outside the capture, leaving an empty graph whose replays return the same stale
  output (PyTorch issue 87894). Each graph gets its own memory pool (no ``pool`` argument):
  graphs of different shapes are replayed in any order, which a shared pool does not allow.
- Each new graph is checked before it is used: its inputs are filled with random values
  other than the ones it was captured on, replayed, and compared with an eager forward on
  those values computed before the capture (so no eager forward runs beside the graph's
  memory). An empty graph replays the capture-time output and fails the check; so does any
  difference above the tolerance. A failed check turns graphs off, with the reason in the log.
  The call that captures returns the eager result of its own inputs (the first warm-up).
- Each call copies its inputs into the graph's own input tensors. Inputs at the positions
  in ``adopt`` are taken as those tensors at capture (not copied), so a caller that owns
  such a buffer and passes it again pays no copy; it must not use it for anything else, and
  its contents are not kept by the call (the RIFE wrapper stacks each batch into one buffer
  per shape). Other inputs are cloned, so a caller's tensor is never written.
- The tensor returned is the graph's own output buffer: it is valid until the next call,
  so the caller copies what it needs first (the RIFE wrapper's crop and flip do).

The forward must not synchronise with the host or build tensors from Python values; the
CPU tests check that for the RIFE networks (tests/test_cuda_graphs.py).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.device import cuda_context, is_out_of_memory

Key = tuple[tuple[tuple[int, ...], tuple[int, ...], torch.dtype, str], ...]
CAPTURE_SEED, CHECK_SEED = 1, 2  # the random inputs a graph is captured on, and checked on


@dataclass
class _Captured:
    replay: Callable[[], None]
    inputs: list[torch.Tensor]
    output: torch.Tensor
    kept: object = None  # what must outlive the graph: the graph itself, cached tensors it reads


def _key(inputs: tuple[torch.Tensor, ...]) -> Key:
    return tuple((tuple(t.shape), t.stride(), t.dtype, str(t.device)) for t in inputs)


def fill_random(tensors: list[torch.Tensor], seed: int) -> None:
    """Overwrite the floating-point tensors with uniform values from a private generator (the
    same seed gives the same values again; torch's global random state is left alone)."""
    generators: dict[torch.device, torch.Generator] = {}
    for tensor in tensors:
        if tensor.is_floating_point():
            generator = generators.get(tensor.device)
            if generator is None:
                generator = generators[tensor.device] = torch.Generator(tensor.device).manual_seed(seed)
            tensor.uniform_(0.0, 1.0, generator=generator)


def max_difference(got: torch.Tensor, want: torch.Tensor) -> float:
    """The largest absolute difference (NaN where both are NaN counts as equal; any other NaN,
    or a shape mismatch, as infinitely different)."""
    if got.shape != want.shape:
        return float("inf")
    a, b = got.float(), want.float()
    both_nan = torch.isnan(a) & torch.isnan(b)
    difference = torch.where(both_nan, torch.zeros_like(a), (a - b).abs())
    value = difference.max().item() if difference.numel() else 0.0
    return float("inf") if value != value else value


class GraphedForward:
    """Calls ``fn(*tensors) -> tensor`` through CUDA graphs where it can, eagerly otherwise.

    Each new graph is checked on fresh random inputs against an eager forward before it is
    used; a difference above ``tolerance`` (relative to the eager output's largest value when
    that is above 1) turns graphs off, with a note, rather than trusting them.
    """

    def __init__(
        self,
        fn: Callable[..., torch.Tensor],
        max_graphs: int = 2,
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
        self.on_note = on_note
        self.tolerance = tolerance
        self.adopt = adopt
        self.graphs: OrderedDict[Key, _Captured] = OrderedDict()
        self.last_key: Key | None = None
        self.disabled_reason: str | None = None
        self.captures = 0
        self.replays = 0
        self._streams: dict[torch.device, torch.cuda.Stream] = {}

    def supported(self, inputs: tuple[torch.Tensor, ...]) -> bool:
        """Whether these inputs can go through a graph (CUDA tensors)."""
        return inputs[0].device.type == "cuda"

    def device_context(self, device: torch.device) -> contextlib.AbstractContextManager[object]:
        """The context every CUDA call of this runner is made in (the inputs' device)."""
        return cuda_context(device)

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.disabled_reason is not None or not self.supported(inputs):
            return self.fn(*inputs)
        key = _key(inputs)
        with self.device_context(inputs[0].device):
            captured = self.graphs.get(key)
            if captured is None:
                seen_before, self.last_key = key == self.last_key, key
                if not seen_before:
                    return self.fn(*inputs)
                return self._capture(key, inputs)
            self.graphs.move_to_end(key)
            for static, given in zip(captured.inputs, inputs, strict=True):
                static.copy_(given, non_blocking=True)
            captured.replay()
            self.replays += 1
            return captured.output

    def drop(self) -> None:
        """Forget every graph and the memory it holds."""
        self.graphs.clear()
        self.last_key = None

    def turn_off(self, reason: str) -> None:
        """Run eagerly from now on, with ``reason`` in ``disabled_reason`` and the note."""
        self.disabled_reason = f"CUDA graphs turned off, the model runs eagerly: {reason}"
        self.drop()
        if self.on_note is not None:
            self.on_note(self.disabled_reason)

    def stream(self, device: torch.device) -> torch.cuda.Stream:
        """This runner's warm-up and capture stream on ``device`` (made once; capture may not
        use the default stream, and ``torch.cuda.graph``'s own shared stream belongs to
        whichever device was current when the first graph of the process was made)."""
        stream = self._streams.get(device)
        if stream is None:
            stream = self._streams[device] = torch.cuda.Stream(device)
        return stream

    def record(
        self, static: list[torch.Tensor], warm_up: Callable[[], None]
    ) -> tuple[Callable[[], None], torch.Tensor, object]:
        """Run ``warm_up`` (eager forwards: lazy state such as cuDNN plans and cached grids is
        made there), then capture ``fn`` on ``static``: (replay, output buffer, the graph).
        Called under :meth:`device_context` of the inputs.

        Warm-up and capture run on :meth:`stream`, after the current stream's work. What the
        warm-up allocates belongs to that stream; it is only allocated from again by a later
        warm-up, which first waits for the current stream, so results handed to the caller
        are never reused under it."""
        device = static[0].device
        stream = self.stream(device)
        current = torch.cuda.current_stream(device)
        stream.wait_stream(current)
        with torch.cuda.stream(stream):
            warm_up()
        current.wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
            output = self.fn(*static)
        return graph.replay, output, graph

    def _capture(self, key: Key, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Capture a graph for ``key``, check it, keep it if it passes; the eager result of
        ``inputs`` either way."""
        while len(self.graphs) >= self.max_graphs:
            self.graphs.popitem(last=False)
        static = [t if i in self.adopt else t.clone() for i, t in enumerate(inputs)]
        results: dict[str, torch.Tensor] = {}

        def warm_up() -> None:
            results["answer"] = self.fn(*static)  # this call's own result
            fill_random(static, CHECK_SEED)
            results["expected"] = self.fn(*static)  # what the check's replay must give
            fill_random(static, CAPTURE_SEED)  # captured on other values than checked on

        try:
            replay, output, graph = self.record(static, warm_up)
        except Exception as exc:  # any capture failure falls back to eager
            if is_out_of_memory(exc):
                self.drop()
                raise
            self.turn_off((str(exc).strip().splitlines() or [type(exc).__name__])[0][:200])
            return results["answer"] if "answer" in results else self.fn(*inputs)
        answer, expected = results["answer"], results["expected"]
        fill_random(static, CHECK_SEED)
        replay()
        difference = max_difference(output, expected)
        finite = torch.nan_to_num(expected.float(), nan=0.0, posinf=0.0, neginf=0.0)
        scale = max(1.0, finite.abs().max().item()) if expected.numel() else 1.0
        if difference > self.tolerance * scale:
            self.turn_off(f"a replay differed from the eager forward by {difference:.3g}")
            return answer
        kept = (graph, self.keep_alive() if self.keep_alive else None)
        self.graphs[key] = _Captured(replay, static, output, kept)
        self.captures += 1
        return answer
