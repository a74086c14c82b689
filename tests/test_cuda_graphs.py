"""CUDA graph replay of the RIFE 4.x forward.

On the CPU: the forward has what capture needs (no host synchronisation, no tensors built
from Python values, one graph for dynamo) and the runner passes CPU calls straight through.
On CUDA (skipped without one): replays equal eager runs, one-off shapes stay eager, drop()
gives the memory back, and a whole job gives the same frames with and without graphs.
"""

from __future__ import annotations

import contextlib
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
    that reruns ``fn`` on the static inputs into the same output buffer (optionally wrong,
    or ``stale``: an empty graph whose replay leaves the capture-time output, as a capture on
    the wrong device does). ``contexts`` logs the device context each step ran under."""

    def __init__(self, fn, corrupt: bool = False, fail: Exception | None = None,
                 stale: bool = False, device: str = "cuda:1", **kwargs) -> None:
        super().__init__(fn, **kwargs)
        self.corrupt, self.fail, self.stale = corrupt, fail, stale
        self.device = torch.device(device)
        self.current: torch.device | None = None
        self.contexts: list[tuple[str, torch.device | None]] = []

    def supported(self, inputs) -> bool:
        return True

    @contextlib.contextmanager
    def device_context(self, device):
        assert device == inputs_device(self), "the context is the inputs' device"
        previous, self.current = self.current, self.device
        try:
            yield
        finally:
            self.current = previous

    def record(self, static, warm_up):
        self.contexts.append(("warm-up", self.current))
        warm_up()
        if self.fail is not None:
            raise self.fail
        self.contexts.append(("capture", self.current))
        output = self.fn(*static)

        def replay() -> None:
            self.contexts.append(("replay", self.current))
            if not self.stale:
                output.copy_(self.fn(*static) + (1.0 if self.corrupt else 0.0))

        return replay, output, None


def inputs_device(graphed: FakeGraphs) -> torch.device:
    return torch.device("cpu")  # the fakes run on CPU tensors


def doubling(x: torch.Tensor) -> torch.Tensor:
    return x * 2


def test_a_shape_is_captured_on_its_second_use_and_replays_follow_new_inputs():
    graphed = FakeGraphs(doubling)
    a, b, c = torch.ones(2, 3), torch.full((2, 3), 3.0), torch.full((2, 3), 5.0)
    assert torch.equal(graphed(a), a * 2) and graphed.captures == 0  # first use: eager
    assert torch.equal(graphed(b), b * 2) and graphed.captures == 1  # captured, checked
    assert torch.equal(graphed(c), c * 2) and graphed.replays == 1
    assert torch.equal(graphed(a), a * 2) and graphed.replays == 2
    assert graphed.disabled_reason is None


def test_capture_check_and_replay_run_under_the_inputs_device_context():
    graphed = FakeGraphs(doubling, device="cuda:1")
    x = torch.ones(2, 3)
    for _ in range(3):
        graphed(x)
    assert graphed.contexts == [("warm-up", torch.device("cuda:1")), ("capture", torch.device("cuda:1")),
                                ("replay", torch.device("cuda:1")), ("replay", torch.device("cuda:1"))]
    assert graphed.current is None  # left again after each call


def test_an_empty_graph_that_replays_its_capture_output_is_caught():
    """A capture on the wrong device runs the kernels eagerly and records nothing: every
    replay returns the output computed during capture. Checking on the capture's own
    inputs cannot see that; the check on other inputs does."""
    notes: list[str] = []
    graphed = FakeGraphs(doubling, stale=True, on_note=notes.append)
    a, b = torch.ones(2, 2), torch.full((2, 2), 7.0)
    graphed(a)
    assert torch.equal(graphed(a), a * 2)  # the capturing call's own eager result
    assert graphed.disabled_reason and "differed from the eager forward" in notes[0]
    assert not graphed.graphs and torch.equal(graphed(b), b * 2)  # eager from now on


def test_the_check_uses_inputs_other_than_the_capture_ones_and_keeps_global_rng():
    seen: list[torch.Tensor] = []

    def recording(x):
        seen.append(x.clone())
        return x * 2

    graphed = FakeGraphs(recording)
    x = torch.full((2, 3), 0.5)
    graphed(x)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    graphed(x)
    assert torch.equal(torch.get_rng_state(), state)
    # first use, then warm-up on x, the check's eager run, the capture, the check's replay
    _first, answer, expected, captured, replayed = seen
    assert torch.equal(answer, x) and torch.equal(replayed, expected)
    assert not torch.equal(expected, x) and not torch.equal(captured, expected)


def test_an_adopted_buffer_is_the_graph_input_and_other_inputs_are_never_written():
    graphed = FakeGraphs(torch.mul, adopt=(0,))
    buffer, half = torch.ones(2, 3), torch.full((2, 3), 0.5)
    graphed(buffer, half)
    assert torch.equal(graphed(buffer, half), torch.full((2, 3), 0.5))  # captured here
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
    assert not graphed.graphs and torch.equal(graphed(x), x * 2) and graphed.replays == 0


@pytest.mark.parametrize("error", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    RuntimeError("CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported"),
    RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"),
])
def test_capture_out_of_memory_in_any_spelling_is_raised_for_the_back_off(error):
    full = FakeGraphs(doubling, fail=error)
    x = torch.ones(2, 2)
    full(x)
    with pytest.raises(type(error)):
        full(x)  # the job's back-off handles it
    assert full.disabled_reason is None and not full.graphs


def test_other_capture_failures_fall_back_to_eager():
    notes: list[str] = []
    broken = FakeGraphs(doubling, fail=RuntimeError("operation not permitted when stream is capturing"),
                        on_note=notes.append)
    x = torch.ones(2, 2)
    assert torch.equal(broken(x), x * 2) and torch.equal(broken(x), x * 2)
    assert "not permitted" in broken.disabled_reason and len(notes) == 1
    lying = FakeGraphs(doubling, fail=RuntimeError("the graph holds 3 MiB; not out of memory"))
    lying(x)
    assert torch.equal(lying(x), x * 2) and lying.disabled_reason  # a mention is not an OOM


def test_the_real_record_captures_on_a_stream_of_the_inputs_device(monkeypatch):
    """GraphedForward.record itself with torch's CUDA calls faked: the capture gets an
    explicit stream made on the inputs' device, and warm-up runs on it after the current
    stream's work (torch.cuda.graph alone would use a process-wide stream of device 0)."""
    log: list[tuple] = []

    class Stream:
        def __init__(self, device, name="side"):
            self.device, self.name = torch.device(device), name
            if name == "side":
                log.append(("stream", str(self.device)))

        def wait_stream(self, other):
            log.append((self.name, "waits for", other.name))

    class Graph:
        def replay(self):
            log.append(("replay",))

    class Capture:
        def __init__(self, graph, pool=None, stream=None, capture_error_mode="global"):
            log.append(("capture", str(stream.device), pool, capture_error_mode))

        def __enter__(self):
            return None

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(torch.cuda, "Stream", Stream)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: Stream(device, "current"))
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "CUDAGraph", Graph)
    monkeypatch.setattr(torch.cuda, "graph", Capture)
    graphed = GraphedForward(doubling)
    x = torch.ones(2, 2)
    warmed = []
    replay, output, _graph = graphed.record([x], lambda: warmed.append(True))
    assert warmed == [True] and torch.equal(output, x * 2)
    cpu = "cpu"
    assert log == [("stream", cpu), ("side", "waits for", "current"), ("current", "waits for", "side"),
                   ("capture", cpu, None, "thread_local")]
    replay()
    graphed.record([x], lambda: None)
    assert log.count(("stream", cpu)) == 1  # one stream per device, made once


def test_cuda_context_selects_the_device_and_nothing_off_cuda(monkeypatch):
    from core.device import cuda_context

    entered = []

    class Device:
        def __init__(self, device):
            self.device = device

        def __enter__(self):
            entered.append(self.device)

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(torch.cuda, "device", Device)
    with cuda_context(torch.device("cuda", 1)):
        pass
    with cuda_context("cpu"):
        pass
    assert entered == [torch.device("cuda", 1)]


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
    assert it.graphed.captures == 1 and it.graphed.replays == 1  # the short batch was replayed
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
    device = torch.device("cuda", torch.cuda.device_count() - 1)  # the last GPU: not the current one
    it = RifeInterpolator(shared_path("models/rife-4.25/flownet.pkl"), precision="fp16", scale=1.0)
    it.load(device)
    assert it.graphed is not None
    a, b = (x.to(device) for x in frames(256, 384, b=4, seed=3))
    t = torch.tensor([0.2, 0.4, 0.6, 0.8], device=device)
    eager = RifeInterpolator(shared_path("models/rife-4.25/flownet.pkl"), precision="fp16",
                             scale=1.0, cuda_graphs=False)
    eager.load(device)
    scales = (1.0, 0.9, 0.8, 0.7)  # eager, capture (checked, eager result), replay, replay
    with torch.inference_mode():
        outs = [it.interpolate(a * k, b * k, t) for k in scales]
        refs = [eager.interpolate(a * k, b * k, t) for k in scales]
        assert it.graphed.captures == 1 and it.graphed.replays == 2
        assert it.graphed.disabled_reason is None
        for out, ref in zip(outs, refs, strict=True):
            assert (out - ref).abs().max().item() < 2e-3
        assert (outs[2] - outs[3]).abs().mean().item() > 1e-3  # each replay saw its own input
        it.interpolate(a[:3], b[:3], t[:3])  # a short last batch: padded into the graph
        assert it.graphed.captures == 1
    torch.cuda.synchronize(device)
    held = torch.cuda.memory_reserved(device)
    it.drop_graphs()
    torch.cuda.empty_cache()
    assert torch.cuda.memory_reserved(device) < held
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
