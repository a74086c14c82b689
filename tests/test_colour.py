"""The torch YUV<->RGB conversion against PyAV's (swscale's) own, and the plane helpers."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from core.video.colour import (
    ACCURATE_RGB_FLAGS,
    ACCURATE_YUV420_FLAGS,
    ColourSpec,
    colour_of,
    rgb_to_yuv,
    rgb_to_yuv420,
    yuv_to_rgb,
)
from core.video.planes import frame_from_planes, frame_planes
from tests.clips import moving_frames
from tests.conftest import shared_path

SPECS = [ColourSpec(m, r, True) for m in ("bt601", "bt709") for r in ("limited", "full")]


def _content_planes(height: int, width: int, seed: int) -> list[np.ndarray]:
    """yuv420p planes of textured RGB content (in gamut, as real video is).

    Planes of pure noise are avoided on purpose: for wildly out-of-gamut samples
    (Y 250 with U 250) swscale's accurate path overflows and wraps blue to 0.
    """
    rgb = moving_frames(1, width=width, height=height, seed=seed)[0]
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    return [np.ascontiguousarray(p) for p in frame_planes(frame)]


def _random_planes(height: int, width: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    ch, cw = -(-height // 2), -(-width // 2)
    return [
        rng.integers(0, 256, size=(height, width), dtype=np.uint8),
        rng.integers(0, 256, size=(ch, cw), dtype=np.uint8),
        rng.integers(0, 256, size=(ch, cw), dtype=np.uint8),
    ]


def _tensors(planes: list[np.ndarray]) -> list[torch.Tensor]:
    return [torch.from_numpy(np.ascontiguousarray(p)) for p in planes]


def _to_hwc(rgb: torch.Tensor) -> np.ndarray:
    return rgb.permute(1, 2, 0).numpy().astype(np.int16)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.matrix}-{s.range}")
@pytest.mark.parametrize("size", [(48, 64), (17, 33)], ids=["64x48", "33x17"])
def test_yuv_to_rgb_matches_pyav_within_one_level(spec: ColourSpec, size: tuple[int, int]) -> None:
    planes = _content_planes(*size, seed=1)
    frame = frame_from_planes(planes, "yuv420p", spec)
    ref = frame.to_ndarray(format="rgb24", interpolation=ACCURATE_RGB_FLAGS).astype(np.int16)
    ours = _to_hwc(yuv_to_rgb(*_tensors(planes), spec.matrix, spec.range, dtype=torch.uint8))
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.matrix}-{s.range}")
def test_rgb_to_yuv420_matches_pyav_within_one_level(spec: ColourSpec) -> None:
    rgb = moving_frames(1, width=64, height=48, seed=3)[0]
    ref_frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv420p",
        dst_colorspace=spec.av_colorspace,
        dst_color_range=spec.av_color_range,
        interpolation=ACCURATE_YUV420_FLAGS,
    )
    ref = frame_planes(ref_frame)
    ours = rgb_to_yuv420(torch.from_numpy(rgb).permute(2, 0, 1), spec.matrix, spec.range)
    for plane_ref, plane_ours in zip(ref, ours, strict=True):
        assert plane_ours.shape == plane_ref.shape
        assert np.abs(plane_ours.numpy().astype(np.int16) - plane_ref).max() <= 1


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.matrix}-{s.range}")
def test_round_trip_through_rgb_keeps_planes(spec: ColourSpec) -> None:
    # desaturated so every 2x2 block's mean chroma stays in gamut with each of its lumas
    rgb8 = moving_frames(1, width=66, height=50, seed=5)[0].astype(np.float32)
    rgb8 = 0.5 * rgb8 + 0.5 * rgb8.mean(axis=2, keepdims=True)
    rgb = torch.from_numpy(rgb8.round().astype(np.uint8)).permute(2, 0, 1)
    planes = rgb_to_yuv420(rgb, spec.matrix, spec.range)
    back = rgb_to_yuv420(
        yuv_to_rgb(*planes, spec.matrix, spec.range, chroma="nearest"), spec.matrix, spec.range
    )
    for a, b in zip(planes, back, strict=True):
        assert (a.int() - b.int()).abs().max() <= 1
    full = rgb_to_yuv(rgb, spec.matrix, spec.range, subsample=(1, 1))
    again = yuv_to_rgb(*full, spec.matrix, spec.range, dtype=torch.uint8)
    # 8-bit limited range has fewer levels than RGB, so a level of Y moves RGB by ~1.2
    assert (again.int() - rgb.int()).abs().max() <= (1 if spec.range == "full" else 2)


def test_real_footage_matches_pyav_accurate_and_default_paths() -> None:
    path = shared_path("media/clips/carphone_176x144_2997fps.mp4")
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    spec = colour_of(frame, codec="h264")
    assert spec == ColourSpec("bt601", "limited", False, "left")
    planes = _tensors(list(frame_planes(frame)))
    accurate = frame.to_ndarray(format="rgb24", interpolation=ACCURATE_RGB_FLAGS).astype(np.int16)
    ours = _to_hwc(
        yuv_to_rgb(*planes, spec.matrix, spec.range, siting=spec.siting, dtype=torch.uint8)
    )
    assert np.abs(ours - accurate).max() <= 1
    # the H.264 decoder marks chroma left-sited and swscale honours it: centred is visibly off
    centred = _to_hwc(yuv_to_rgb(*planes, spec.matrix, spec.range, dtype=torch.uint8))
    assert np.abs(centred - accurate).max() > 4
    # swscale's default fast path: same chroma (nearest) but low-precision fixed point
    default = frame.to_ndarray(format="rgb24").astype(np.int16)
    nearest = _to_hwc(
        yuv_to_rgb(*planes, spec.matrix, spec.range, chroma="nearest", dtype=torch.uint8)
    )
    assert np.abs(nearest - default).max() <= 3
    assert np.abs(nearest - default).mean() < 1.5


def test_untagged_hd_frame_is_bt601_like_pyav_unless_asked_by_size() -> None:
    planes = _content_planes(720, 1280, seed=7)
    frame = frame_from_planes(planes, "yuv420p")
    spec = colour_of(frame)
    assert spec == ColourSpec("bt601", "limited", False)
    assert colour_of(frame, unspecified="by_size") == ColourSpec("bt709", "limited", False)
    ref = frame.to_ndarray(format="rgb24", interpolation=ACCURATE_RGB_FLAGS).astype(np.int16)
    ours = _to_hwc(yuv_to_rgb(*_tensors(planes), spec.matrix, spec.range, dtype=torch.uint8))
    assert np.abs(ours - ref).max() <= 1
    small = frame_from_planes(_random_planes(576, 720, seed=8), "yuv420p")
    assert colour_of(small, unspecified="by_size") == ColourSpec("bt601", "limited", False)


def test_colour_of_reads_tags_formats_and_streams(tmp_path) -> None:
    planes = _random_planes(16, 16, seed=2)
    assert colour_of(frame_from_planes(planes, "yuv420p", SPECS[3])) == SPECS[3]
    jpeg = frame_from_planes(planes, "yuvj420p")
    assert colour_of(jpeg) == ColourSpec("bt601", "full", False)
    smpte240 = frame_from_planes(planes, "yuv420p")
    smpte240.colorspace = 7
    assert colour_of(smpte240) == ColourSpec("smpte240m", "limited", True)
    deep = av.VideoFrame(16, 16, "yuv422p10le")
    deep.colorspace = 9
    assert colour_of(deep) == ColourSpec("bt2020", "limited", True)
    assert colour_of(av.VideoFrame(16, 16, "gbrp10le")) == ColourSpec("rgb", "full", True)
    assert colour_of(av.VideoFrame(16, 16, "rgb24")) is None  # packed: swscale's job
    assert colour_of(av.VideoFrame(16, 16, "p010le")) is None

    clip = tmp_path / "tagged.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.codec_context.colorspace, stream.codec_context.color_range = 1, 2
        for rgb in moving_frames(2, 32, 32):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        assert colour_of(stream) == ColourSpec("bt709", "full", True, "left")
        frame = next(container.decode(stream))
        assert colour_of(frame, codec="h264") == ColourSpec("bt709", "full", True, "left")
        assert colour_of(frame) == ColourSpec("bt709", "full", True, "center")


def test_batched_planes_and_float_output() -> None:
    batch = [_random_planes(24, 32, seed=s) for s in range(3)]
    y, u, v = (torch.stack([torch.from_numpy(p[i]) for p in batch]) for i in range(3))
    rgb = yuv_to_rgb(y, u, v, "bt709", "limited")
    assert rgb.shape == (3, 3, 24, 32) and rgb.dtype == torch.float32
    assert float(rgb.min()) >= 0.0 and float(rgb.max()) <= 1.0
    single = yuv_to_rgb(*_tensors(batch[1]), "bt709", "limited")
    assert torch.equal(rgb[1], single)
    planes = rgb_to_yuv420(rgb, "bt709", "limited")
    assert [tuple(p.shape) for p in planes] == [(3, 24, 32), (3, 12, 16), (3, 12, 16)]
    with pytest.raises(ValueError):
        yuv_to_rgb(y, u, v, "ycgco", "limited")  # type: ignore[arg-type]


def test_planes_strip_padding_and_rebuild_frames() -> None:
    planes = _random_planes(17, 33, seed=4)
    frame = frame_from_planes(planes, "yuv420p", SPECS[1])
    assert frame.planes[0].line_size > 33  # the buffer really is padded
    got = frame_planes(frame)
    for a, b in zip(got, planes, strict=True):
        assert np.array_equal(a, b)
    assert (frame.colorspace, frame.color_range) == (6, 2)
    # the views are the frame's own memory: no swscale, no copy
    got[0][0, 0] = planes[0][0, 0] ^ 0xFF
    assert frame_planes(frame)[0][0, 0] == planes[0][0, 0] ^ 0xFF
    with pytest.raises(ValueError):
        frame_from_planes([planes[0], planes[1][:, :-1], planes[2]], "yuv420p")
    with pytest.raises(ValueError):
        frame_planes(av.VideoFrame(16, 16, "rgb24"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("matrix", ["bt709", "bt2020", "rgb"])
@pytest.mark.parametrize("depth", [8, 10, 16])
def test_cuda_conversion_matches_the_cpu(matrix: str, depth: int) -> None:
    """The device path on a GPU: int16-held deep planes go up and come back bit for bit as on
    the CPU (torch's uint16 is not used on the device)."""
    rng = np.random.default_rng(depth)
    dtype = np.uint8 if depth == 8 else np.uint16
    top = (1 << depth) - 1
    sub = (1, 1) if matrix == "rgb" else (2, 1)
    shapes = [(32, 48), (32 // sub[1], 48 // sub[0]), (32 // sub[1], 48 // sub[0])]
    planes = [rng.integers(top // 8, top - top // 8, size=s).astype(dtype) for s in shapes]
    held = [torch.from_numpy(p.view(np.int16) if depth > 8 else p) for p in planes]
    kw = {"depth": depth, "clamp": False, "siting": "left"}
    cpu = yuv_to_rgb(*held, matrix, "limited", **kw)
    gpu = yuv_to_rgb(*(p.cuda() for p in held), matrix, "limited", **kw)
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-5)
    back_cpu = rgb_to_yuv(cpu, matrix, "limited", subsample=sub, siting="left", depth=depth)
    back_gpu = rgb_to_yuv(gpu, matrix, "limited", subsample=sub, siting="left", depth=depth)
    for a, b, p in zip(back_cpu, back_gpu, planes, strict=True):
        assert torch.equal(a, b.cpu())
        if matrix == "rgb":
            assert np.array_equal(a.numpy().view(dtype), p)
