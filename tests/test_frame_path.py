"""The device frame path (YUV planes converted by torch) against the swscale path, on each
device present (real H.264 yuv420p input, so on a GPU the conversion runs on it)."""

from __future__ import annotations

import numpy as np
import pytest

from core.device import resolve_device
from core.events import LogRecord
from core.job import run_job
from core.options import JobOptions
from sample_media.generate import render_frame, write_clip
from tests.clips import psnr, read_frames
from tests.conftest import DEVICES


def run(src, out, colour, device="cpu", **kw):
    logs = []
    options = JobOptions(model="flow", codec="ffv1", colour=colour, device=device, **kw)
    result = run_job(src, out, options,
                     on_event=lambda e: logs.append(e.message) if isinstance(e, LogRecord) else None)
    return result, logs


@pytest.mark.parametrize("device", DEVICES)
def test_device_path_matches_the_swscale_path(tmp_path, device):
    src = tmp_path / "in.mp4"
    write_clip(src, 160, 90, 12, 1.0, audio=False, codec="libx264")
    cpu, cpu_logs = run(src, tmp_path / "cpu.mkv", "cpu", device)
    dev, dev_logs = run(src, tmp_path / "dev.mkv", "device", device)
    where = resolve_device(device)
    assert any(f"colour conversion on {where}: bt601, limited range, yuv420p" in m for m in dev_logs)
    assert any("swscale" in m for m in cpu_logs)
    a, _ = read_frames(tmp_path / "cpu.mkv")
    b, _ = read_frames(tmp_path / "dev.mkv")
    assert cpu.output_frames == dev.output_frames == len(a) == len(b) == 24
    for i in range(0, 24, 2):  # input frames pass through untouched on both paths
        assert np.array_equal(a[i], b[i])
    # interpolated frames: as close to the analytic truth as the swscale path's (measured
    # 28.05 vs 28.24 dB here: the two paths filter chroma differently)
    truth = [render_frame((i + 0.5) / 12, 160, 90) for i in range(11)]
    score_cpu = np.mean([psnr(a[2 * i + 1], truth[i]) for i in range(11)])
    score_dev = np.mean([psnr(b[2 * i + 1], truth[i]) for i in range(11)])
    assert abs(score_dev - score_cpu) < 0.4, (score_cpu, score_dev)


def test_device_path_falls_back_where_it_cannot_convert(tmp_path):
    src = tmp_path / "rgb.mkv"
    write_clip(src, 64, 36, 12, 0.5, audio=False, codec="ffv1")  # RGB frames: no YUV planes
    _, logs = run(src, tmp_path / "o.mkv", "device")
    assert any("is not a layout the device path converts" in m for m in logs)


@pytest.mark.parametrize("colour", ["cpu", "device"])
def test_scene_cuts_are_found_on_both_paths(tmp_path, colour):
    src = tmp_path / "cut.mp4"
    write_clip(src, 160, 90, 12, 1.0, audio=False, codec="libx264", cut_at=0.5)
    _, logs = run(src, tmp_path / "o.mkv", colour)
    assert [m for m in logs if m.startswith("scene cut")] == ["scene cut between frames 5 and 6"]


def test_auto_takes_the_torch_path_for_planar_input_of_any_depth(tmp_path):
    import torch

    from core.frame_path import DeviceFramePath, RgbFramePath, choose_frame_path
    from core.video.probe import probe_video
    from tests.colour_clips import bars_clip

    cpu = torch.device("cpu")
    deep = probe_video(bars_clip(tmp_path / "deep.mkv", 9, 10, (2, 1), frames=2))
    path, why = choose_frame_path("auto", cpu, deep, "yuv420p")  # 10-bit 4:2:2 in, 8-bit 4:2:0 out
    assert isinstance(path, DeviceFramePath) and path.in_layout.depth == 10
    assert path.out_layout is not None and path.out_layout.subsample == (2, 2)
    assert why == "colour conversion on cpu: bt2020, limited range, yuv420p, 10-bit"
    path, why = choose_frame_path("auto", cpu, deep, "p010le")  # semi-planar out: 16-bit RGB
    assert path.out_layout is None and "16-bit RGB" in why
    path, _ = choose_frame_path("auto", cpu, deep, None)  # a sink takes 16-bit RGB here
    assert path.deep and path.out_layout is None
    path, why = choose_frame_path("cpu", cpu, deep, "yuv420p10le")
    assert isinstance(path, RgbFramePath) and path.deep and "rgb48" in why
    packed = tmp_path / "rgb.mkv"
    write_clip(packed, 64, 36, 12, 0.2, audio=False, codec="ffv1")
    path, why = choose_frame_path("auto", cpu, probe_video(packed), "yuv420p")
    assert isinstance(path, RgbFramePath) and "is not a layout the device path converts" in why
