"""RIFE families in process: loading, detection, wrong files, numerics and Middlebury quality."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import torch
import torch.nn.functional as F

from bench.middlebury import evaluate, mean_psnr
from core.errors import ModelError, OptionError
from core.interpolators.base import Interpolator
from core.interpolators.registry import create_interpolator
from core.interpolators.rife import RifeInterpolator, TorchScriptInterpolator, choose_scale
from core.memory import degrade
from core.models.detect import strip_prefix
from core.models.layers import fold_gains
from core.models.loader import load_rife
from core.models.rife_425 import FiveBlockConfig, IFNet425
from core.models.rife_hdv3 import IFNetHDv3, dyadic_depth
from core.models.rife_v4 import IFNetV4, V4Config
from core.models.warp import backward_warp
from tests import rife_reference
from tests.conftest import shared_path

W4 = (192, 128, 96, 64)
FAMILIES = {
    "4.6": (lambda: IFNetV4(V4Config(W4, 0, "none")), "rife-v4", "RIFE 4.6"),
    "4.7": (
        lambda: IFNetV4(V4Config(W4, 4, "sequential", ((3, 16), (16, 4)))),
        "rife-v4",
        "RIFE 4.7-4.9",
    ),
    "4.10": (
        lambda: IFNetV4(
            V4Config(W4, 8, "sequential", ((3, 32), None, (32, 32), None, (32, 32), None, (32, 8)))
        ),
        "rife-v4",
        "RIFE 4.10-4.12",
    ),
    "4.18": (lambda: IFNetV4(V4Config(W4, 8, "head", head=(32, 8))), "rife-v4", "RIFE 4.13-4.18"),
    "4.25": (lambda: IFNet425(FiveBlockConfig()), "rife-4.25", "RIFE 4.25/4.26"),
    "hdv3": (lambda: IFNetHDv3(), "rife-hdv3", "RIFE v3.x HDv3"),
}
EXTRAS = {
    "teacher.conv0.0.0.weight": torch.zeros(4, 3, 3, 3),
    "caltime.0.bias": torch.zeros(2),
    "block_tea.conv0.0.0.weight": torch.zeros(2, 2, 3, 3),
}
MIDDLEBURY = "media/middlebury-other"


def save_official(
    net: torch.nn.Module, path: Path, prefix: bool, legacy: bool = False
) -> dict[str, torch.Tensor]:
    """Write ``net`` the way the releases do: optional module. prefix, training extras."""
    state = {("module." if prefix else "") + k: v for k, v in net.state_dict().items()}
    state.update({("module." if prefix else "") + k: v for k, v in EXTRAS.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    return net.state_dict()


def frames(h: int = 48, w: int = 56, b: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth random image and the same image shifted by two pixels."""
    g = torch.Generator().manual_seed(seed)
    base = F.interpolate(torch.rand(b, 3, h // 4 + 2, w // 4 + 2, generator=g), size=(h + 4, w + 4),
                         mode="bilinear", align_corners=False)
    return base[..., 2 : h + 2, 2 : w + 2].contiguous(), base[..., :h, :w].contiguous()


def one_sentence(message: str) -> bool:
    return "\n" not in message and "Traceback" not in message and message.endswith((".", ")"))


# ---------------------------------------------------------------- loading and detection


@pytest.mark.parametrize("version", list(FAMILIES))
@pytest.mark.parametrize("prefix", [True, False])
def test_random_official_file_loads_back_and_is_detected(version, prefix, tmp_path):
    build, key, label = FAMILIES[version]
    torch.manual_seed(1)
    net = build()
    as_folder = prefix  # official releases: train_log/flownet.pkl with module. keys
    target = tmp_path / "train_log" / "flownet.pkl" if as_folder else tmp_path / "w.pkl"
    original = save_official(net, target, prefix, legacy=version == "hdv3" and prefix)
    loaded = load_rife(tmp_path / "train_log" if as_folder else target)
    assert loaded.family.key == key
    assert loaded.family.label == label
    state = loaded.net.state_dict()
    assert set(state) == set(original)
    assert all(torch.equal(state[k], original[k]) for k in original)


def test_real_425_weights_load_and_detect():
    loaded = load_rife(shared_path("models/rife-4.25/flownet.pkl"))
    assert (loaded.family.key, loaded.family.label) == ("rife-4.25", "RIFE 4.25/4.26")
    assert loaded.net.config.widths == (192, 128, 96, 64, 32)


def test_real_hdv3_legacy_pickle_loads_and_detects():
    path = shared_path("models/rife-hdv3/flownet.pkl")
    assert not __import__("zipfile").is_zipfile(path)  # the legacy format is what is exercised
    loaded = load_rife(path.parent)  # a folder holding flownet.pkl works too
    assert (loaded.family.key, loaded.family.label) == ("rife-hdv3", "RIFE v3.x HDv3")


def test_strip_prefix_drops_module_and_training_tensors():
    state = {"module.block0.x": torch.zeros(1), "teacher.y": torch.zeros(1), "caltime.z": torch.zeros(1)}
    assert list(strip_prefix(state)) == ["block0.x"]


# ---------------------------------------------------------------- wrong files


def _expect_model_error(spec, *fragments: str) -> str:
    with pytest.raises(ModelError) as info:
        load_rife(spec)
    message = str(info.value)
    assert one_sentence(message), message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_path_and_empty_folder(tmp_path):
    _expect_model_error(tmp_path / "nope.pkl", "not found", "nope.pkl")
    _expect_model_error(tmp_path, "holds no flownet.pkl")


def test_non_torch_and_truncated_files(tmp_path):
    text = tmp_path / "notes.pkl"
    text.write_text("these are not weights\n")
    _expect_model_error(text, "not a PyTorch weights file")
    torch.manual_seed(0)
    good = tmp_path / "good.pkl"
    save_official(FAMILIES["4.6"][0](), good, prefix=True)
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _expect_model_error(cut, "damaged or truncated")
    legacy = tmp_path / "legacy.pkl"
    save_official(FAMILIES["4.6"][0](), legacy, prefix=True, legacy=True)
    cut_legacy = tmp_path / "cut_legacy.pkl"
    cut_legacy.write_bytes(legacy.read_bytes()[:5000])
    _expect_model_error(cut_legacy, "damaged or truncated")


def test_other_families_and_objects_are_named(tmp_path):
    resnet_like = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(8, 3, 7, 7), "fc.bias": torch.zeros(10)}, resnet_like)
    _expect_model_error(resnet_like, "not a RIFE flownet", "2 tensors", "conv1.weight")
    hd_v2 = tmp_path / "hdv2.pkl"  # RIFE HD v2 style: plain convblock, lastconv without beta
    torch.save({"module.block0.conv0.0.0.weight": torch.zeros(4, 6, 3, 3),
                "module.block0.lastconv.weight": torch.zeros(4, 5, 4, 4)}, hd_v2)
    _expect_model_error(hd_v2, "RIFE variant framedeck does not support", "1 blocks")
    listing = tmp_path / "list.pkl"
    torch.save([torch.zeros(1)], listing)
    _expect_model_error(listing, "holds a list, not a dictionary of tensors")
    checkpoint = tmp_path / "ckpt.pkl"
    torch.save({"epoch": 3, "block0.x": torch.zeros(1)}, checkpoint)
    _expect_model_error(checkpoint, "non-tensor entries such as 'epoch'")
    torch.manual_seed(0)
    bad_shape = tmp_path / "bad.pkl"
    state = IFNetHDv3().state_dict()
    state["block2.conv1.2.bias"] = torch.zeros(5)
    torch.save(state, bad_shape)
    _expect_model_error(bad_shape, "looks like RIFE v3.x HDv3", "block2.conv1.2.bias", "(5,)")


class Payload:
    """An arbitrary Python object: loading it would need code execution."""


def test_code_needing_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    torch.save({"x": Payload()}, path)
    _expect_model_error(path, "needs code execution to load")


# ---------------------------------------------------------------- the interpolator wrapper


@pytest.fixture(scope="module")
def rife425() -> RifeInterpolator:
    it = create_interpolator("rife", str(shared_path("models/rife-4.25/flownet.pkl")),
                             precision="auto", scale=None, batch=4)
    assert isinstance(it, RifeInterpolator) and isinstance(it, Interpolator)
    it.load(torch.device("cpu"))
    return it


@pytest.fixture(scope="module")
def hdv3() -> RifeInterpolator:
    it = RifeInterpolator(shared_path("models/rife-hdv3/flownet.pkl"), precision="fp32", scale=1.0)
    it.load(torch.device("cpu"))
    return it


def test_registry_needs_weights_and_picks_cpu_fp32(rife425):
    with pytest.raises(OptionError, match="needs --weights"):
        create_interpolator("rife")
    assert rife425.precision_used == "fp32" and rife425.channels_last is False


def test_odd_sizes_pad_and_crop_and_bgr_order(rife425):
    a, b = frames(45, 70)
    out = rife425.interpolate(a, b, torch.tensor([0.5]))
    assert out.shape == a.shape and out.dtype == torch.float32
    net = rife425.model.net
    pa, pb = (F.pad(x.flip(1), (0, 128 - 70, 0, 64 - 45)) for x in (a, b))
    with torch.no_grad():
        direct = net(pa, pb, torch.full((1, 1, 1, 1), 0.5), 1.0)[..., :45, :70].flip(1).clamp(0, 1)
    assert torch.allclose(out, direct, atol=1e-5)
    with torch.no_grad():
        rgb_fed = net(F.pad(a, (0, 58, 0, 19)), F.pad(b, (0, 58, 0, 19)), torch.full((1, 1, 1, 1), 0.5))
    assert not torch.allclose(out, rgb_fed[..., :45, :70].clamp(0, 1), atol=1e-4)


def test_several_pairs_with_own_t_in_one_forward_match_single_calls(rife425):
    a, b = frames(64, 64, b=3, seed=3)
    t = torch.tensor([0.25, 0.5, 0.75])
    batched = rife425.interpolate(a, b, t)
    for i in range(3):
        single = rife425.interpolate(a[i : i + 1], b[i : i + 1], t[i : i + 1])
        assert torch.allclose(batched[i : i + 1], single, atol=1e-4)
    assert not torch.allclose(batched[0], batched[2], atol=1e-3)  # t matters


def test_head_features_of_shared_frame_are_encoded_once(rife425):
    clip = frames(64, 64, b=3, seed=5)[0]
    f = [clip[i : i + 1].clone() for i in range(3)]
    rife425.cache.clear()
    start = rife425.cache.encoded
    first = rife425.interpolate(f[0], f[1], torch.tensor([0.5]))
    second = rife425.interpolate(f[1], f[2], torch.tensor([0.5]))
    assert rife425.cache.encoded - start == 3  # f1 encoded once for both pairs
    rife425.interpolate(f[1], f[2], torch.tensor([0.25]))  # same pair, other t: no encode
    assert rife425.cache.encoded - start == 3
    batch = rife425.interpolate(torch.cat(f[:2]), torch.cat(f[1:]), torch.tensor([0.5, 0.5]))
    # batched convolutions round differently from single ones by ~1e-4
    assert torch.allclose(batch[0:1], first, atol=1e-3) and torch.allclose(batch[1:2], second, atol=1e-3)
    buffer = f[2].clone()
    rife425.interpolate(f[1], buffer, torch.tensor([0.5]))
    before = rife425.cache.encoded
    buffer.mul_(0.5)  # a reused buffer with new content must not hit the cache
    rife425.interpolate(f[1], buffer, torch.tensor([0.5]))
    assert rife425.cache.encoded == before + 1


def test_fp16_weights_close_to_fp32_and_warp_samples_in_fp32():
    path = shared_path("models/rife-4.25/flownet.pkl")
    a, b = frames(64, 96, seed=7)
    ref = RifeInterpolator(path, precision="fp32", scale=1.0)
    ref.load(torch.device("cpu"))
    half = RifeInterpolator(path, precision="fp16", scale=1.0, channels_last=True)
    half.load(torch.device("cpu"))
    assert half.precision_used == "fp16"
    assert {p.dtype for p in half.model.net.parameters()} == {torch.float16}  # converted once
    t = torch.tensor([0.5])
    diff = (ref.interpolate(a, b, t) - half.interpolate(a, b, t)).abs().mean().item()
    assert 0 < diff < 5e-3
    image = torch.rand(1, 3, 40, 40).half()
    flow = (torch.rand(1, 2, 40, 40) * 6 - 3).half()
    with torch.autocast("cpu", dtype=torch.float16):
        warped = backward_warp(image, flow)
    exact = backward_warp(image.float(), flow.float())
    assert warped.dtype == torch.float16
    assert torch.equal(warped, exact.half())


def test_channels_last_matches_contiguous():
    path = shared_path("models/rife-hdv3/flownet.pkl")
    a, b = frames(40, 72, seed=9)
    outs = []
    for layout in (False, True):
        it = RifeInterpolator(path, precision="fp32", scale=1.0, channels_last=layout)
        it.load(torch.device("cpu"))
        outs.append(it.interpolate(a, b, torch.tensor([0.5])))
    assert torch.allclose(outs[0], outs[1], atol=1e-5)


def test_hdv3_quarter_by_recursion_and_other_t_refused(hdv3):
    a, b = frames(64, 64, seed=11)  # a multiple of 32: no padding, so crops change nothing
    quarter = hdv3.interpolate(a, b, torch.tensor([0.25]))
    mid = hdv3.interpolate(a, b, torch.tensor([0.5]))
    expected = hdv3.interpolate(a, mid, torch.tensor([0.5]))
    assert torch.allclose(quarter, expected, atol=2e-6)
    both = hdv3.interpolate(torch.cat((a, a)), torch.cat((b, b)), torch.tensor([0.75, 0.5]))
    assert torch.allclose(both[1:], mid, atol=1e-3)
    assert torch.allclose(both[:1], hdv3.interpolate(mid, b, torch.tensor([0.5])), atol=1e-3)
    assert not torch.allclose(both[:1], quarter, atol=1e-2)
    with pytest.raises(ModelError) as info:
        hdv3.interpolate(a, b, torch.tensor([0.3]))
    assert one_sentence(str(info.value)) and "t=0.3" in str(info.value)
    assert dyadic_depth(0.375) == 3


@pytest.mark.parametrize("version", ["4.6", "4.7", "4.10", "4.18"])
def test_random_v4_families_run_through_the_wrapper(version, tmp_path):
    torch.manual_seed(2)
    save_official(FAMILIES[version][0](), tmp_path / "flownet.pkl", prefix=True)
    it = RifeInterpolator(tmp_path, precision="fp32")
    it.load(torch.device("cpu"))
    a, b = frames(36, 52, b=2)
    out = it.interpolate(a, b, torch.tensor([0.3, 0.6]))
    assert out.shape == a.shape and torch.isfinite(out).all()
    assert it.model.net.multiple(1.0) == 32 and it.scale == 1.0
    it.unload()
    assert it.model is None
    with pytest.raises(ModelError, match="not loaded"):
        it.interpolate(a, b, torch.tensor([0.5]))


def test_scale_choice_by_frame_size_and_back_off(tmp_path):
    assert choose_scale(1080, 1920) == 1.0
    assert choose_scale(2160, 3840) == 0.5
    assert IFNet425.multiple(0.5) == 128 and IFNet425.multiple(1.0) == 64
    torch.manual_seed(4)
    save_official(IFNet425(FiveBlockConfig((32, 32, 16, 16, 8))), tmp_path / "small.pkl", prefix=False)
    it = RifeInterpolator(tmp_path / "small.pkl", precision="fp32")
    it.load(torch.device("cpu"))
    a, b = frames(40, 40)
    it.interpolate(a, b, torch.tensor([0.5]))
    assert it.scale == 1.0 and it.cache.entries
    degrade(it)  # the OOM back-off halves the scale of a model that has one
    assert it.scale == 0.5 and not it.cache.entries
    out = it.interpolate(a, b, torch.tensor([0.5]))  # features now padded to 128
    assert out.shape == a.shape and torch.isfinite(out).all()


# ---------------------------------------------------------------- torchscript


class _ShiftBlend(torch.nn.Module):
    """A tiny interpolation module: mix of the frames, plus a marker of t, at multiple 8."""

    multiple: int = 8

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return img0 * (1 - t) + img1 * t


def test_torchscript_module_runs_and_wrong_file_is_refused(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(_ShiftBlend())
        scripted.save(str(tmp_path / "m.pt"))
    it = create_interpolator("torchscript", str(tmp_path / "m.pt"), precision="fp32")
    assert isinstance(it, TorchScriptInterpolator)
    it.load(torch.device("cpu"))
    a, b = torch.rand(2, 3, 13, 21), torch.rand(2, 3, 13, 21)
    out = it.interpolate(a, b, torch.tensor([0.25, 0.5]))
    expected = torch.stack((a[0] * 0.75 + b[0] * 0.25, a[1] * 0.5 + b[1] * 0.5))
    assert torch.allclose(out, expected, atol=1e-6)
    plain = tmp_path / "plain.pkl"
    torch.save({"w": torch.zeros(1)}, plain)
    bad = TorchScriptInterpolator(str(plain))
    with pytest.raises(ModelError) as info:
        bad.load(torch.device("cpu"))
    assert one_sentence(str(info.value))
    with pytest.raises(ModelError, match="TorchScript module; run it with --model torchscript"):
        load_rife(tmp_path / "m.pt")


# ---------------------------------------------------------------- Middlebury quality


def middlebury_psnr(it: RifeInterpolator) -> float:
    """Mean PSNR over the 12 sequences, scored by the shared bench/middlebury.py rules."""
    scores = evaluate(it, root=shared_path(MIDDLEBURY), with_ssim=False)
    assert len(scores) == 12
    mean = mean_psnr(scores)
    print(f"middlebury-other mean PSNR {it.label}: {mean:.3f} dB")
    return mean


def test_rife_425_middlebury_psnr(rife425):
    rife425.set_scale(1.0)
    assert abs(middlebury_psnr(rife425) - 33.22) < 0.1


def test_rife_425_fp16_middlebury_psnr_is_the_fp32_one():
    """The GPU's default precision, run here on the CPU: fp16 weights and activations with
    float32 flow, warps and blend lose nothing measurable (33.219 vs 33.222 dB)."""
    it = RifeInterpolator(shared_path("models/rife-4.25/flownet.pkl"), precision="fp16",
                          scale=1.0, channels_last=True)
    it.load(torch.device("cpu"))
    psnr = middlebury_psnr(it)
    print(f"\nmiddlebury-other mean PSNR RIFE 4.25 fp16: {psnr:.3f} dB")
    assert abs(psnr - 33.22) < 0.05


def test_rife_hdv3_middlebury_psnr(hdv3):
    assert abs(middlebury_psnr(hdv3) - 34.81) < 0.1


# ---------------------------------------------------------------- the fast forward against the plain one


def middlebury_crop(name: str = "Urban3") -> tuple[torch.Tensor, torch.Tensor]:
    """frame10/frame11 of a Middlebury sequence, BGR in [0, 1], cropped to 256x384."""
    folder = shared_path(f"{MIDDLEBURY}/input/{name}")
    pair = [cv2.imread(str(folder / f"frame1{i}.png"))[:256, :384] for i in (0, 1)]
    return tuple(torch.from_numpy(p).permute(2, 0, 1)[None].float() / 255 for p in pair)


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_fast_forward_computes_the_published_forward_425(scale):
    net = load_rife(shared_path("models/rife-4.25/flownet.pkl")).net.eval()
    a, b = middlebury_crop()
    img0, img1 = torch.cat((a, b)), torch.cat((b, a))
    t = torch.tensor([0.5, 0.3]).view(2, 1, 1, 1)
    with torch.no_grad():
        fast = net(img0, img1, t, scale)
        plain = rife_reference.forward_425(net, img0, img1, t, scale)
    assert fast.dtype == torch.float32 and fast.shape == plain.shape
    diff = (fast - plain).abs()
    assert diff.max().item() < 1e-3 and diff.mean().item() < 1e-5  # float rounding only
    assert (fast[0] - fast[1]).abs().mean().item() > 0.01  # pairs and t are not mixed up


@pytest.mark.parametrize("version", ["4.6", "4.7", "4.18", "4.25"])
def test_fast_forward_computes_the_published_forward_random_weights(version):
    torch.manual_seed(4)
    net = FAMILIES[version][0]().eval()
    with torch.no_grad():  # small weights: random flows stay within a few pixels
        for p in net.parameters():
            p.mul_(0.3)
    a, b = frames(64, 128, b=2, seed=13)
    t = torch.tensor([0.25, 0.5]).view(2, 1, 1, 1)
    plain_forward = rife_reference.forward_425 if version == "4.25" else rife_reference.forward_v4
    with torch.no_grad():
        fast, plain = net(a, b, t), plain_forward(net, a, b, t)
    diff = (fast - plain).abs()
    assert diff.max().item() < 1e-4, diff.max().item()


def test_folding_resconv_gains_keeps_the_output():
    net = load_rife(shared_path("models/rife-4.25/flownet.pkl")).net.eval()
    a, b = middlebury_crop("Dimetrodon")
    t = torch.full((1, 1, 1, 1), 0.5)
    with torch.no_grad():
        before = net(a, b, t)
        assert not torch.all(net.block0.convblock[0].beta == 1)  # real gains to fold
        fold_gains(net)
        fold_gains(net)  # twice is once
        after = net(a, b, t)
    assert torch.all(net.block0.convblock[0].beta == 1)
    assert (before - after).abs().max().item() < 1e-3
    assert (before - after).abs().mean().item() < 1e-5


def test_frames_named_by_keys_are_prepared_once_without_comparing_pixels(rife425):
    """The job names frames by decode index: no torch.equal (a device wait on CUDA) at all,
    the shared frame prepared once, and the same frames out as the content-compared path."""
    from tests.test_cuda_graphs import RecordOps

    clip = frames(64, 64, b=4, seed=6)[0]
    a, b = clip[:3], clip[1:]  # pairs (0,1), (1,2), (2,3)
    t = torch.tensor([0.5, 0.5, 0.5])
    rife425.cache.clear()
    by_content = rife425.interpolate(a, b, t)
    rife425.cache.clear()
    start = rife425.cache.encoded
    with RecordOps() as ops:
        by_key = rife425.interpolate(a, b, t, keys=([0, 1, 2], [1, 2, 3]))
    assert "equal" not in ops.names and rife425.cache.encoded - start == 4
    assert torch.equal(by_key, by_content)
    rife425.interpolate(b[2:], b[2:] * 0.5, t[:1], keys=([3], [4]))  # frame 3 kept from before
    assert rife425.cache.encoded - start == 5
