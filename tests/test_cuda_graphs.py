"""CUDA graph replay of the RIFE 4.x forward.

On the CPU: the forward has what capture needs (no host synchronisation, no tensors built
from Python values, one graph for dynamo) and the runner passes CPU calls straight through.
On CUDA (skipped without one): replays equal eager runs, one-off shapes stay eager, drop()
gives the memory back, and a whole job gives the same frames with and without graphs.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from core.interpolators.rife import RifeInterpolator
from core.job import run_job
from core.models.cuda_graphs import GraphedForward
from core.options import JobOptions
from tests.clips import moving_frames, psnr, read_frames, write_frames
from tests.conftest import shared_path
from tests.test_rife import FAMILIES, frames, save_official

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
# operators that wait for the device, or copy Python values to it: both break a capture
HOST_BOUND = {"_local_scalar_dense", "equal", "nonzero", "lift_fresh", "lift_fresh_copy", "item"}


class RecordOps(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.bad: list[str] = []
        self.names: list[str] = []
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        name = func.__name__.split(".")[0]
        self.names.append(name)
        self.count += 1
        if name in HOST_BOUND:
            self.bad.append(name)
        if name == "index" and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in (args[1] or [])
        ):
            self.bad.append("index by mask")
        return func(*args, **(kwargs or {}))


def loaded(weights: str | Path, **kwargs) -> RifeInterpolator:
    it = RifeInterpolator(weights, precision="fp32", scale=1.0, **kwargs)
    it.load(torch.device("cpu"))
    return it


def graph_inputs(it: RifeInterpolator, h: int = 64, w: int = 128) -> list[torch.Tensor]:
    """What the wrapper hands the graphed forward: prepared rows and the timesteps."""
    a, b = frames(h, w, b=2, seed=21)
    net = it.model.net
    rows = it._prepare_rows(net, [a[0], a[1], b[0], b[1]], net.multiple(1.0))
    return [rows, torch.tensor([0.3, 0.5]).view(2, 1, 1, 1)]


@pytest.mark.parametrize("version", ["4.25-real", "4.18", "4.6"])
def test_forward_has_no_host_round_trips(version, tmp_path):
    if version == "4.25-real":
        it = loaded(shared_path("models/rife-4.25/flownet.pkl"))
    else:
        torch.manual_seed(1)
        save_official(FAMILIES[version][0](), tmp_path / "flownet.pkl", prefix=False)
        it = loaded(tmp_path)
    tensors = graph_inputs(it)
    with torch.no_grad():
        it._forward(*tensors)  # the capture's warm-up: lazily cached grids are made here
        with RecordOps() as ops:
            it._forward(*tensors)
    assert ops.count > 100 and ops.bad == []


def test_a_reintroduced_host_value_is_caught():
    """The check above is not blind: a tensor built from Python values inside is seen."""
    it = loaded(shared_path("models/rife-4.25/flownet.pkl"))
    tensors = graph_inputs(it)

    def leaky(*t):
        return it._forward(*t) * torch.tensor(1.0)

    with torch.no_grad(), RecordOps() as ops:
        leaky(*tensors)
    assert ops.bad == ["lift_fresh"]


def test_dynamo_traces_the_forward_as_one_graph():
    it = loaded(shared_path("models/rife-4.25/flownet.pkl"))
    tensors = graph_inputs(it)
    torch._dynamo.reset()
    try:
        compiled = torch.compile(it._forward, backend="eager", fullgraph=True, dynamic=False)
        with torch.no_grad():
            got, want = compiled(*tensors), it._forward(*tensors)
    finally:
        torch._dynamo.reset()
    assert torch.allclose(got, want, atol=1e-5)


def test_cpu_calls_pass_straight_through():
    calls = []

    def fn(x):
        calls.append(x)
        return x * 2

    graphed = GraphedForward(fn)
    x = torch.ones(3)
    for _ in range(3):
        assert torch.equal(graphed(x), x * 2)
    assert len(calls) == 3 and graphed.captures == 0 and graphed.graphs == {}


class FakeGraphs(GraphedForward):
    """The runner's own logic on the CPU: only the CUDA recording is replaced, by a "graph"
    that reruns ``fn`` on the static inputs into the same output buffer (optionally wrong)."""

    def __init__(self, fn, corrupt: bool = False, fail: Exception | None = None, **kwargs) -> None:
        super().__init__(fn, **kwargs)
        self.corrupt, self.fail = corrupt, fail

    def supported(self, inputs) -> bool:
        return True

    def record(self, static):
        if self.fail is not None:
            raise self.fail
        output = self.fn(*static)

        def replay() -> None:
            output.copy_(self.fn(*static) + (1.0 if self.corrupt else 0.0))

        return replay, output, None


def doubling(x: torch.Tensor) -> torch.Tensor:
    return x * 2


def test_a_shape_is_captured_on_its_second_use_and_replays_follow_new_inputs():
    graphed = FakeGraphs(doubling)
    a, b, c = torch.ones(2, 3), torch.full((2, 3), 3.0), torch.full((2, 3), 5.0)
    assert torch.equal(graphed(a), a * 2) and graphed.captures == 0  # first use: eager
    assert torch.equal(graphed(b), b * 2) and graphed.captures == 1  # captured, checked
    assert torch.equal(graphed(c), c * 2) and graphed.replays == 2
    assert graphed.disabled_reason is None


def test_an_adopted_buffer_is_the_graph_input_and_other_inputs_are_never_written():
    graphed = FakeGraphs(torch.mul, adopt=(0,))
    buffer, half = torch.ones(2, 3), torch.full((2, 3), 0.5)
    graphed(buffer, half)
    graphed(buffer, half)  # captured: the buffer itself is the graph's first input
    (captured,) = graphed.graphs.values()
    assert captured.inputs[0] is buffer and captured.inputs[1] is not half
    buffer.fill_(8.0)  # the next batch written in place, no copy needed
    assert torch.equal(graphed(buffer, half), torch.full((2, 3), 4.0))
    quarter = torch.full((2, 3), 0.25)  # another tensor in the cloned position
    assert torch.equal(graphed(buffer, quarter), torch.full((2, 3), 2.0))
    assert torch.equal(half, torch.full((2, 3), 0.5))  # the caller's tensor left alone


def test_alternating_shapes_stay_eager_and_at_most_two_graphs_are_kept():
    graphed = FakeGraphs(doubling)
    x, y = torch.ones(1, 2), torch.ones(3, 2)
    for _ in range(3):
        graphed(x)
        graphed(y)
    assert graphed.captures == 0  # the probe and the short last batch hold no graph
    for n in (1, 2, 3):
        for _ in range(2):
            graphed(torch.ones(n, 4))
    assert graphed.captures == 3 and [k[0][0] for k in graphed.graphs] == [(2, 4), (3, 4)]
    graphed.drop()
    assert not graphed.graphs


def test_a_replay_that_differs_from_eager_turns_graphs_off():
    notes: list[str] = []
    graphed = FakeGraphs(doubling, corrupt=True, on_note=notes.append)
    x = torch.ones(2, 2)
    graphed(x)
    assert torch.equal(graphed(x), x * 2)  # the eager answer, not the wrong replay
    assert graphed.disabled_reason and "differed from the eager forward by 1" in notes[0]
    assert not graphed.graphs and torch.equal(graphed(x), x * 2) and graphed.replays == 1


def test_capture_failures_fall_back_or_raise_out_of_memory():
    notes: list[str] = []
    broken = FakeGraphs(doubling, fail=RuntimeError("operation not permitted when stream is capturing"),
                        on_note=notes.append)
    x = torch.ones(2, 2)
    assert torch.equal(broken(x), x * 2) and torch.equal(broken(x), x * 2)
    assert "not permitted" in broken.disabled_reason and len(notes) == 1
    full = FakeGraphs(doubling, fail=torch.cuda.OutOfMemoryError("CUDA out of memory"))
    full(x)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        full(x)  # the job's back-off handles it
    assert full.disabled_reason is None and not full.graphs


def test_rife_batches_run_through_a_graph_and_a_short_last_batch_is_padded_into_it():
    """The wrapper's graph path on the CPU, with only the CUDA recording faked: batches are
    stacked into the adopted input buffer, and a short last batch replays the captured
    graph padded with its last pair instead of running eagerly beside it."""
    weights = shared_path("models/rife-4.25/flownet.pkl")
    it, eager = loaded(weights), loaded(weights)
    it.graphed = FakeGraphs(it._forward, adopt=(0,))
    clip = torch.cat(frames(64, 128, b=6, seed=8))  # 12 frames, consecutive pairs below
    batches = [range(0, 4), range(4, 8), range(8, 10)]
    for rows in batches:
        idx = list(rows)
        img0, img1 = clip[idx], clip[[i + 1 for i in idx]]
        t = torch.full((len(idx),), 0.5)
        keys = (idx, [i + 1 for i in idx])
        got, want = it.interpolate(img0, img1, t, keys=keys), eager.interpolate(img0, img1, t, keys=keys)
        assert got.shape == want.shape and torch.allclose(got, want, atol=1e-4)
    assert it.graphed.captures == 1 and it.graphed.replays == 2  # the short batch replayed too
    (buffer,) = it.inputs.values()
    assert next(iter(it.graphed.graphs.values())).inputs[0] is buffer and buffer.shape[0] == 8


@pytest.mark.parametrize("asked", [True, False])
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_rife_wrapper_uses_graphs_only_on_cuda_and_when_asked(device, asked, monkeypatch):
    """What load() decides; without a GPU the net's move to "cuda" is faked (nothing runs)."""
    if device == "cuda" and not torch.cuda.is_available():
        monkeypatch.setattr(torch.nn.Module, "to", lambda self, *args, **kwargs: self)
    path = shared_path("models/rife-4.25/flownet.pkl")
    assert RifeInterpolator(path).cuda_graphs is True  # on unless turned off
    it = RifeInterpolator(path, precision="fp32", scale=1.0, channels_last=False, cuda_graphs=asked)
    it.load(torch.device(device))
    assert isinstance(it.graphed, GraphedForward) is (device == "cuda" and asked)


# ---------------------------------------------------------------- on a CUDA device


@needs_cuda
def test_replays_equal_eager_runs_and_one_off_shapes_stay_eager():
    device = torch.device("cuda")
    it = RifeInterpolator(shared_path("models/rife-4.25/flownet.pkl"), precision="fp16", scale=1.0)
    it.load(device)
    assert it.graphed is not None
    a, b = (x.to(device) for x in frames(256, 384, b=4, seed=3))
    t = torch.tensor([0.2, 0.4, 0.6, 0.8], device=device)
    eager = RifeInterpolator(shared_path("models/rife-4.25/flownet.pkl"), precision="fp16",
                             scale=1.0, cuda_graphs=False)
    eager.load(device)
    with torch.inference_mode():
        outs = [it.interpolate(a * k, b * k, t) for k in (1.0, 0.9, 0.8)]  # eager, capture, replay
        refs = [eager.interpolate(a * k, b * k, t) for k in (1.0, 0.9, 0.8)]
        assert it.graphed.captures == 1 and it.graphed.replays == 2
        for out, ref in zip(outs, refs, strict=True):
            assert (out - ref).abs().max().item() < 2e-3
        assert (outs[1] - outs[2]).abs().mean().item() > 1e-3  # each replay saw its own input
        it.interpolate(a[:3], b[:3], t[:3])  # a short last batch: padded into the graph
        assert it.graphed.captures == 1
    torch.cuda.synchronize()
    held = torch.cuda.memory_reserved()
    it.drop_graphs()
    torch.cuda.empty_cache()
    assert torch.cuda.memory_reserved() < held
    it.unload()
    eager.unload()


@needs_cuda
def test_job_frames_are_the_same_with_and_without_graphs(tmp_path):
    src = write_frames(tmp_path / "in.mkv", moving_frames(12, 320, 192), fps=Fraction(24))
    outs = []
    for graphs in (True, False):
        out = tmp_path / f"out_{graphs}.mkv"
        options = JobOptions(factor=2, model="rife", weights=str(shared_path("models/rife-4.25")),
                             codec="ffv1", batch=4, cuda_graphs=graphs, scene_cut=None)
        run_job(src, out, options)
        outs.append(read_frames(out)[0])
    assert len(outs[0]) == len(outs[1]) == 24
    assert min(psnr(np.asarray(x), np.asarray(y)) for x, y in zip(*outs, strict=True)) > 45
