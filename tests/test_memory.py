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
