"""``flow``: real DIS flow and torch warping on real frames (Middlebury, scrolling clips)."""

from __future__ import annotations

from itertools import islice

import av
import numpy as np
import pytest
import torch

from bench.middlebury import Score, evaluate, mean_psnr, psnr, read_rgb, to_tensor, to_uint8
from bench.minterpolate import MinterpolateInterpolator
from core.errors import ModelError
from core.interpolators.base import Interpolator
from core.interpolators.flow import (
    FULL_RES_PIXELS,
    MAX_FLOW_PIXELS,
    FlowInterpolator,
    flow_factor,
)
from core.interpolators.flow_ops import backward_warp, fill_holes, forward_splat, reverse_flow
from core.interpolators.registry import create_interpolator
from tests.clips import moving_frames
from tests.conftest import shared_path

CPU = torch.device("cpu")


def loaded(**kwargs: object) -> FlowInterpolator:
    model = FlowInterpolator(**kwargs)
    model.load(CPU)
    return model


def frames(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.cat([to_tensor(a) for a in arrays])


def run(model: Interpolator, img0: torch.Tensor, img1: torch.Tensor, ts: list[float]) -> torch.Tensor:
    with torch.inference_mode():
        return model.interpolate(img0, img1, torch.tensor(ts))


@pytest.fixture(scope="module")
def middlebury_pair() -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """A 160x120 crop of RubberWhale (frame10, frame11, true middle frame)."""
    root = shared_path("media/middlebury-other")
    crop = (slice(100, 220), slice(200, 360))
    f0 = read_rgb(root / "input/RubberWhale/frame10.png")[crop]
    f1 = read_rgb(root / "input/RubberWhale/frame11.png")[crop]
    gt = read_rgb(root / "gt/RubberWhale/frame10i11.png")[crop]
    return to_tensor(np.ascontiguousarray(f0)), to_tensor(np.ascontiguousarray(f1)), gt


def test_registry_builds_flow_that_follows_the_protocol() -> None:
    model = create_interpolator("flow")
    assert isinstance(model, FlowInterpolator)
    assert isinstance(model, Interpolator)
    assert model.name == "flow"


@pytest.fixture(scope="module")
def flow_scores() -> list[Score]:
    return evaluate(loaded(), CPU, shared_path("media/middlebury-other"), with_ssim=False)


def test_flow_reaches_34db_on_middlebury_and_beats_blend(flow_scores) -> None:
    blend = create_interpolator("blend")
    blend.load(CPU)
    blend_scores = evaluate(blend, CPU, shared_path("media/middlebury-other"), with_ssim=False)
    assert len(flow_scores) == 12
    assert mean_psnr(flow_scores) >= 34.0
    assert mean_psnr(flow_scores) > mean_psnr(blend_scores) + 5.0
    # motion compensation wins on every sequence with real motion (Walking defeats all methods)
    wins = [f.psnr > b.psnr for f, b in zip(flow_scores, blend_scores, strict=True) if f.name != "Walking"]
    assert all(wins)


def test_flow_beats_minterpolate_on_middlebury(flow_scores) -> None:
    reference = MinterpolateInterpolator()
    reference.load(CPU)
    mi_scores = evaluate(reference, CPU, shared_path("media/middlebury-other"), with_ssim=False)
    assert abs(mean_psnr(mi_scores) - 33.00) < 0.05  # the figure of ../shared/README.md
    assert mean_psnr(flow_scores) > mean_psnr(mi_scores) + 1.0


def test_t0_and_t1_give_the_input_frames(middlebury_pair) -> None:
    img0, img1, _ = middlebury_pair
    out = run(loaded(), img0.expand(2, -1, -1, -1), img1.expand(2, -1, -1, -1), [0.0, 1.0])
    assert torch.allclose(out[0], img0[0], atol=1e-4)
    assert torch.allclose(out[1], img1[0], atol=1e-4)


def test_middle_of_a_real_pair_is_close_to_the_truth(middlebury_pair) -> None:
    img0, img1, gt = middlebury_pair
    pred = to_uint8(run(loaded(), img0, img1, [0.5]))
    blended = to_uint8((img0 + img1) / 2)
    assert psnr(pred, gt) > psnr(blended, gt) + 1.0
    assert psnr(pred, gt) > 38.0


def test_identical_frames_give_the_same_frame_back(middlebury_pair) -> None:
    img0, _, _ = middlebury_pair
    out = run(loaded(), img0, img0.clone(), [0.37])
    assert torch.allclose(out, img0, atol=1e-4)


def test_odd_size_and_mixed_t_batch_follow_the_motion() -> None:
    # 37x23 texture scrolling 3 px per frame: the frame at t between frames 0 and 4 is known.
    clip = moving_frames(5, width=37, height=23, speed=3.0, seed=4)
    model = loaded()
    img0 = frames([clip[0], clip[0], clip[1]])
    img1 = frames([clip[4], clip[4], clip[3]])
    out = run(model, img0, img1, [0.25, 0.5, 0.5])
    assert out.shape == (3, 3, 23, 37)
    truth = [clip[1], clip[2], clip[2]]
    for row, want, a, b in zip(out, truth, img0, img1, strict=True):
        pred = to_uint8(row)
        mixed = to_uint8(a + (b - a) * 0.5)
        assert psnr(pred, want) > psnr(mixed, want) + 2.0
    # each row equals the same pair run alone
    alone = run(loaded(), img0[1:2], img1[1:2], [0.5])
    assert torch.allclose(out[1:2], alone, atol=1e-5)


def test_frames_smaller_than_dis_patches_work() -> None:
    clip = moving_frames(2, width=5, height=3, speed=1.0)
    out = run(loaded(), frames(clip[:1]), frames(clip[1:]), [0.5])
    assert out.shape == (1, 3, 3, 5)
    assert torch.isfinite(out).all()


def test_flows_are_computed_once_per_distinct_pair() -> None:
    clip = moving_frames(3, width=48, height=32, speed=2.0)
    p0, p1, p2 = (frames([c]) for c in clip)
    model = loaded()
    out = run(model, torch.cat([p0, p0, p0]), torch.cat([p1, p1, p1]), [0.25, 0.5, 0.75])
    assert model.flow_calls == 2  # one flow each way for the single distinct pair
    again = run(model, p0, p1, [0.5])  # next batch, same pair: cached
    assert model.flow_calls == 2
    assert torch.allclose(again, out[1:2], atol=1e-6)
    run(model, torch.cat([p0, p1]), torch.cat([p1, p2]), [0.5, 0.5])  # one old, one new pair
    assert model.flow_calls == 4
    run(model, torch.cat([p1, p1]), torch.cat([p2, p2]), [0.25, 0.75])
    assert model.flow_calls == 4
    model.unload()
    model.load(CPU)
    run(model, p1, p2, [0.5])  # unload drops the cache
    assert model.flow_calls == 6


def test_large_frames_estimate_flow_on_a_smaller_copy() -> None:
    clip = moving_frames(3, width=160, height=96, speed=4.0, seed=2)
    small = loaded(full_res_pixels=0, max_flow_pixels=80 * 48)
    full = loaded()
    pred_small = to_uint8(run(small, frames(clip[:1]), frames(clip[2:]), [0.5]))
    pred_full = to_uint8(run(full, frames(clip[:1]), frames(clip[2:]), [0.5]))
    mixed = to_uint8((frames(clip[:1]) + frames(clip[2:])) / 2)
    assert psnr(pred_small, clip[1]) > psnr(mixed, clip[1]) + 2.0
    assert psnr(pred_full, clip[1]) > psnr(mixed, clip[1]) + 2.0


def test_720p_footage_uses_downscaled_flow_and_follows_the_motion() -> None:
    clip = shared_path("media/clips/bigbuckbunny_1280x720_25fps.mp4")
    with av.open(str(clip)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in islice(container.decode(video=0), 40)]
    first, truth, last = decoded[36], decoded[37], decoded[38]  # a stretch with visible motion
    model = loaded()
    pred = to_uint8(run(model, frames([first]), frames([last]), [0.5]))
    mixed = to_uint8((frames([first]) + frames([last])) / 2)
    assert flow_factor(720, 1280, model.full_res_pixels, model.max_flow_pixels) == 6
    assert psnr(pred, truth) > psnr(mixed, truth) + 1.0


def test_flow_resolution_rule() -> None:
    assert flow_factor(480, 640, FULL_RES_PIXELS, MAX_FLOW_PIXELS) == 1  # Middlebury: full res
    assert flow_factor(720, 1280, FULL_RES_PIXELS, MAX_FLOW_PIXELS) == 6  # -> 214x120
    assert flow_factor(1080, 1920, FULL_RES_PIXELS, MAX_FLOW_PIXELS) == 8  # -> 240x135
    for h, w in ((481, 641), (1000, 1001), (23, 40000)):
        k = flow_factor(h, w, FULL_RES_PIXELS, MAX_FLOW_PIXELS)
        assert -(-h // k) * -(-w // k) <= MAX_FLOW_PIXELS
        assert -(-h // (k - 1)) * -(-w // (k - 1)) > MAX_FLOW_PIXELS  # smallest such factor


def test_unknown_preset_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="Unknown DIS preset"):
        FlowInterpolator(preset="glacial")
    with pytest.raises(ModelError, match="Unknown DIS preset"):
        FlowInterpolator(large_preset="glacial")


def test_splatting_an_integer_shift_moves_the_image() -> None:
    img = torch.rand(2, 3, 9, 11)
    flow = torch.zeros(2, 2, 9, 11)
    flow[:, 0] = 2.0  # everything moves 2 px right
    total, weight = forward_splat(img, flow)
    assert torch.allclose(total[..., 2:], img[..., :-2])
    assert torch.equal(weight[..., :2], torch.zeros_like(weight[..., :2]))
    assert torch.allclose(weight[..., 2:], torch.ones_like(weight[..., 2:]))
    # sampling each pixel 2 px to the right of itself brings the original back
    assert torch.allclose(backward_warp(total, flow)[..., :-2], img[..., :-2], atol=1e-5)


def test_reversed_flow_of_a_uniform_motion_is_uniform() -> None:
    flow = torch.zeros(1, 2, 12, 16)
    flow[:, 0], flow[:, 1] = 4.0, -2.0
    back, density = reverse_flow(flow, torch.tensor([0.5]))
    assert torch.allclose(back[:, 0], torch.full((1, 12, 16), -2.0), atol=1e-5)
    assert torch.allclose(back[:, 1], torch.full((1, 12, 16), 1.0), atol=1e-5)
    assert float(density[..., :, :2].sum()) == 0.0  # nothing lands in the 2 left columns


def test_fill_holes_keeps_known_values_and_fills_the_rest() -> None:
    values = torch.zeros(1, 1, 8, 8)
    known = torch.zeros(1, 1, 8, 8)
    values[..., :, :4], known[..., :, :4] = 3.0, 1.0
    filled = fill_holes(values, known)
    assert torch.allclose(filled, torch.full_like(filled, 3.0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(middlebury_pair) -> None:
    img0, img1, _ = middlebury_pair
    cuda = torch.device("cuda")
    gpu = FlowInterpolator()
    gpu.load(cuda)
    on_gpu = run(gpu, img0.to(cuda), img1.to(cuda), [0.5])
    assert on_gpu.device.type == "cuda"
    on_cpu = run(loaded(), img0, img1, [0.5])
    assert torch.allclose(on_gpu.cpu(), on_cpu, atol=2e-3)
