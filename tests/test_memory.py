"""Batch choice from (fake) memory figures, tiling, and degrading after out-of-memory."""

import pytest
import torch

from core.errors import ModelError
from core.interpolators.blend import BlendInterpolator
from core.interpolators.tiling import TiledInterpolator
from core.memory import choose_batch, degrade, is_out_of_memory, preflight

GIB = 2**30


def test_choose_batch_fits_free_memory_with_margin():
    choice = choose_batch(per_pair_bytes=2 * GIB, free_bytes=10 * GIB, margin=0.15)
    assert choice.batch == 4  # 8.5 GiB usable / 2 GiB
    assert "batch 4" in choice.reason


def test_choose_batch_caps_and_reports_when_nothing_fits():
    assert choose_batch(GIB // 10, 80 * GIB, max_batch=8).batch == 8
    none = choose_batch(per_pair_bytes=12 * GIB, free_bytes=10 * GIB)
    assert none.batch == 0 and none.per_pair_bytes == 12 * GIB


def test_preflight_uses_the_probe_and_free_memory():
    calls = []

    def probe(model, device, h, w):
        calls.append((h, w))
        return 3 * GIB

    choice = preflight(BlendInterpolator(), torch.device("cpu"), 1080, 1920, probe=probe,
                       free_memory=lambda d: 20 * GIB)
    assert calls == [(1080, 1920)]
    assert choice.batch == 5


def test_tiled_blend_equals_untiled_blend():
    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 70, 97), torch.rand(2, 3, 70, 97)
    t = torch.tensor([0.25, 0.5])
    plain = BlendInterpolator()
    tiled = TiledInterpolator(BlendInterpolator(), grid=2, overlap=8)
    for m in (plain, tiled):
        m.load(torch.device("cpu"))
    assert torch.allclose(tiled.interpolate(a, b, t), plain.interpolate(a, b, t), atol=1e-6)


def test_degrade_goes_to_tiles_then_finer_tiles_then_gives_up():
    model = degrade(BlendInterpolator())
    assert isinstance(model, TiledInterpolator) and model.grid == 2
    assert degrade(model).grid == 4
    with pytest.raises(ModelError, match="4x4 tiles"):
        degrade(model)


def test_degrade_lowers_the_scale_first_where_the_model_has_one():
    class Scaled(BlendInterpolator):
        scale = 1.0

        def set_scale(self, scale: float) -> None:
            self.scale = scale

    model = Scaled()
    assert degrade(model) is model and model.scale == 0.5


def test_out_of_memory_recognition():
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: not enough memory: you tried ..."))
    assert not is_out_of_memory(RuntimeError("size mismatch"))


# ---------------------------------------------------------------- out-of-memory spellings


def accelerator_error(message: str, code: int) -> Exception:
    exc = torch.AcceleratorError(message)
    exc.error_code = code  # set by torch when a CUDA call fails; torch.cuda.OutOfMemoryError's twin
    return exc


@pytest.mark.parametrize("exc", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 1; 23.6 GiB total)"),
    torch.cuda.OutOfMemoryError("CUDA out of memory."),
    accelerator_error("CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported", 2),
    RuntimeError("CUDA error: out of memory\nCompile with `TORCH_USE_CUDA_DSA` to enable device-side assertions."),
    RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"),
    RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED"),
    RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
    MemoryError(),
    RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 123 bytes."),
])
def test_every_spelling_of_out_of_memory_is_recognised(exc):
    assert is_out_of_memory(exc)


@pytest.mark.parametrize("exc", [
    RuntimeError("size mismatch"),
    accelerator_error("CUDA error: an illegal memory access was encountered", 700),
    RuntimeError("operation not permitted when stream is capturing\nnote: the pool is not out of memory"),
    ValueError("CUDA out of memory"),  # not an error torch raises for memory
])
def test_other_errors_are_not_taken_for_out_of_memory(exc):
    assert not is_out_of_memory(exc)


def test_the_graph_runner_and_the_job_share_the_check():
    import core.model_runner
    import core.models.cuda_graphs as graphs
    from core.device import is_out_of_memory as shared

    assert graphs.is_out_of_memory is shared and core.model_runner.is_out_of_memory is shared


class FailsOnce(BlendInterpolator):
    """A blend whose first forward of more than one pair raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error: Exception | None = error

    def interpolate(self, img0, img1, t):
        if self.error is not None and img0.shape[0] > 1:
            error, self.error = self.error, None
            raise error
        return super().interpolate(img0, img1, t)


@pytest.mark.parametrize("error", [
    RuntimeError("CUDA error: out of memory"),
    RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"),
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB"),
])
def test_a_job_backs_off_from_each_spelling_and_loses_no_frame(tmp_path, error):
    from core.events import OomBackoff
    from core.job import run_job
    from core.options import JobOptions
    from tests.clips import moving_frames, write_frames

    src = write_frames(tmp_path / "in.mkv", moving_frames(7, 64, 48))
    events: list[object] = []
    result = run_job(src, tmp_path / "out.mkv", JobOptions(model="blend", codec="ffv1", batch=4, device="cpu"),
                     on_event=events.append, interpolator=FailsOnce(error))
    backoffs = [e for e in events if isinstance(e, OomBackoff)]
    assert [(b.old_batch, b.new_batch) for b in backoffs] == [(4, 2)]
    assert result.output_frames == 14


# ---------------------------------------------------------------- the preflight with graphs


def test_choose_batch_budgets_a_graph_pool_per_pair():
    plain = choose_batch(per_pair_bytes=2 * GIB, free_bytes=20 * GIB, margin=0.15)
    graphed = choose_batch(per_pair_bytes=2 * GIB, free_bytes=20 * GIB, margin=0.15, graph_share=1.0)
    assert (plain.batch, graphed.batch) == (8, 4)  # 17 GiB usable: 2 GiB a pair, 4 with its graph
    assert "4.00 GiB with its CUDA graph" in graphed.reason and graphed.per_pair_bytes == 2 * GIB


class Graphed(BlendInterpolator):
    def __init__(self) -> None:
        from core.models.cuda_graphs import GraphedForward

        self.notes: list[str] = []
        self.graphed = GraphedForward(lambda x: x, on_note=self.notes.append)


def test_preflight_budgets_the_graph_when_graphs_are_on():
    model = Graphed()
    choice = preflight(model, torch.device("cpu"), 1080, 1920, probe=lambda *a: 3 * GIB,
                       free_memory=lambda d: 20 * GIB)
    assert choice.batch == 2 and model.graphed.disabled_reason is None  # 17 GiB / 6 GiB
    model.graphed.turn_off("for the test")
    again = preflight(model, torch.device("cpu"), 1080, 1920, probe=lambda *a: 3 * GIB,
                      free_memory=lambda d: 20 * GIB)
    assert again.batch == 5  # graphs off: the pair alone


def test_preflight_turns_graphs_off_when_only_the_pair_without_its_graph_fits():
    model = Graphed()
    choice = preflight(model, torch.device("cpu"), 2160, 3840, probe=lambda *a: 6 * GIB,
                       free_memory=lambda d: 10 * GIB)
    assert choice.batch == 1 and model.graphed.disabled_reason is not None
    assert "do not fit" in model.notes[0]


def test_the_probe_leaves_no_graph_input_buffer_behind():
    from core.interpolators.rife import RifeInterpolator
    from core.memory import probe_forward
    from core.models.cuda_graphs import GraphedForward
    from tests.conftest import shared_path

    it = RifeInterpolator(shared_path("models/rife-4.25/flownet.pkl"), precision="fp32", scale=1.0)
    it.load(torch.device("cpu"))
    it.graphed = GraphedForward(it._forward, adopt=(0,))  # as on CUDA: rows stacked into a buffer
    it.interpolate(torch.zeros(1, 3, 64, 96), torch.zeros(1, 3, 64, 96), torch.full((1,), 0.5))
    assert len(it.inputs) == 1  # what a forward leaves: the buffer for its shape
    it.inputs.clear()
    probe_forward(it, torch.device("cpu"), 64, 96)
    assert it.inputs == {}


# ---------------------------------------------------------------- tiles


def test_tiles_forward_drop_graphs_and_the_inner_capabilities():
    class Inner(BlendInterpolator):
        precision_used = "fp16"
        scale = 0.25
        takes_frame_keys = True

        def __init__(self) -> None:
            self.dropped = 0
            self.graphed = object()

        def drop_graphs(self) -> None:
            self.dropped += 1

    inner = Inner()
    tiled = degrade(degrade(TiledInterpolator(inner, grid=1)))
    tiled.drop_graphs()
    assert inner.dropped == 1 and tiled.graphed is inner.graphed
    assert tiled.precision_used == "fp16" and tiled.scale == 0.25
    assert not getattr(tiled, "takes_frame_keys", False)  # keys name frames, not tiles
    tiled.on_note = print
    assert inner.on_note is print
    TiledInterpolator(BlendInterpolator()).drop_graphs()  # an inner model without graphs


def test_model_speed_memory_spans_the_load_the_capture_and_the_loop(monkeypatch, capsys):
    """The figure is the reserved peak from before the model loads to after the timed loop
    (where the graph is captured and its pool held), not the allocated peak of replays."""
    from bench import model_speed

    log: list[str] = []

    class Model(BlendInterpolator):
        def load(self, device):
            log.append("load")

        def unload(self):
            log.append("unload")

    def measure(model, frames, batch, seconds, device):
        log.append("warm-up, capture, timed loop")
        return {"pairs_per_s": 10.0}

    monkeypatch.setattr(model_speed, "create_interpolator", lambda *a, **k: Model())
    monkeypatch.setattr(model_speed, "measure", measure)
    monkeypatch.setattr(model_speed, "reserved_baseline", lambda d: log.append("baseline") or 100)
    monkeypatch.setattr(model_speed, "reserved_peak", lambda d, base: log.append(f"peak above {base}") or 42.0)
    rows = model_speed.main(["--sizes", "32x16", "--batches", "2", "--graphs", "on", "--device", "cpu"])
    assert log[:5] == ["baseline", "load", "warm-up, capture, timed loop", "peak above 100", "unload"]
    assert rows[0]["peak_mib"] == 42.0 and "| 42 |" in capsys.readouterr().out
