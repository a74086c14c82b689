"""Every interpolator takes the frames the deep-video paths hand over: float32 with 10-bit
precision and values a little outside [0, 1] (super-black / super-white), and keeps both."""

from __future__ import annotations

import pytest
import torch

from core.interpolators.base import clamp_to_inputs
from core.interpolators.blend import BlendInterpolator
from core.interpolators.flow import FlowInterpolator
from core.interpolators.rife import RifeInterpolator, TorchScriptInterpolator
from tests.conftest import shared_path

LO, HI = -12 / 219, 1 + 15 / 219  # 8-bit code values 4 and 250 of a limited-range picture


def _ramp(height: int = 64, width: int = 96) -> torch.Tensor:
    """(1, 3, H, W): a horizontal ramp over 1024 levels from below black to above white."""
    ramp = torch.linspace(LO, HI, width)
    levels = torch.round(ramp * 876) / 876  # on the 10-bit grid
    return levels.view(1, 1, 1, width).expand(1, 3, height, width).contiguous()


def _distinct(x: torch.Tensor) -> int:
    return int(torch.unique(torch.round(x[0, 0, 0] * 876)).numel())


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("name", ["blend", "flow", "rife", "torchscript"])
def test_static_deep_frames_come_back_with_their_levels_and_range(name: str, tmp_path) -> None:
    frame = _ramp()
    if name == "blend":
        model = BlendInterpolator()
    elif name == "flow":
        model = FlowInterpolator(threads=1)
    elif name == "rife":
        model = RifeInterpolator(shared_path("models/rife-4.25/flownet.pkl"), precision="fp32", scale=1.0)
    else:
        scripted = torch.jit.script(_Mean())
        path = tmp_path / "mean.pt"
        scripted.save(str(path))
        model = TorchScriptInterpolator(path, precision="fp32")
    model.load(torch.device("cpu"))
    try:
        out = model.interpolate(frame, frame.clone(), torch.tensor([0.5]))
    finally:
        model.unload()
    assert out.dtype == torch.float32
    # every 10-bit level survives (an 8-bit round trip would keep a quarter of them)
    assert _distinct(out) >= 0.9 * _distinct(frame)
    assert float(out.min()) < 0 and float(out.max()) > 1  # not clipped to black/white
    error = (out - frame).abs()
    if name == "rife":  # RIFE reconstructs the frame; the others copy it
        assert float(error.mean()) <= 0.005 and float(error.max()) <= 0.06
    else:
        assert float(error.max()) <= 1e-5


class _Mean(torch.nn.Module):
    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return img0 * (1 - t) + img1 * t


def test_clamp_to_inputs_cuts_overshoot_but_keeps_what_the_inputs_hold() -> None:
    img0 = torch.zeros(2, 3, 4, 4)
    img1 = torch.ones(2, 3, 4, 4)
    img1[1] = 1.1  # the second row's frames go above white
    img0[1, :, 0, 0] = -0.05
    out = torch.full((2, 3, 4, 4), 1.5)
    out[:, :, 1, 1] = -0.5
    got = clamp_to_inputs(out, img0, img1)
    assert float(got[0].max()) == 1.0 and float(got[0].min()) == 0.0
    assert float(got[1].max()) == pytest.approx(1.1) and float(got[1].min()) == pytest.approx(-0.05)
