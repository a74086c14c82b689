"""The generated sample clip: the committed file, the renderer and clip variants."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from sample_media import generate
from sample_media.generate import (
    BEEP_HZ,
    BEEP_TIMES,
    SAMPLE_PATH,
    SCENES,
    render_frame,
    write_clip,
)


def decode_video(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 10 * np.log10(255.0**2 / mse)


def test_committed_clip_probes_as_documented() -> None:
    assert SAMPLE_PATH.stat().st_size <= 1_500_000
    with av.open(str(SAMPLE_PATH)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == (640, 360)
        assert video.average_rate == Fraction(24)
        assert video.codec_context.name == "h264"
        assert video.pix_fmt == "yuv420p"
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        assert audio.rate == 48_000
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 96


def test_committed_clip_shows_what_render_frame_draws() -> None:
    frames = decode_video(SAMPLE_PATH)
    for index in (0, 47, 95):
        # yuv420p halves the chroma of the colourful noise texture: about 30.5 dB measured
        same = psnr(frames[index], render_frame(index / 24))
        assert same > 29
        # and not some other instant: one frame later is clearly further away (about 25.5 dB)
        assert psnr(frames[index], render_frame((index + 1) / 24)) < same - 3


def test_committed_clip_beeps_at_the_documented_times() -> None:
    assert tuple(generate.beep_times(4.0)) == BEEP_TIMES
    with av.open(str(SAMPLE_PATH)) as container:
        chunks = [f.to_ndarray()[0] for f in container.decode(audio=0)]
    samples = np.concatenate(chunks).astype(np.float64)
    window = 480  # 10 ms
    n = len(samples) // window
    t = np.arange(n * window) / 48_000
    probe = (samples[: n * window] * np.exp(-2j * np.pi * BEEP_HZ * t)).reshape(n, window)
    level = np.abs(probe.mean(axis=1)) * 2  # amplitude of the 1 kHz component per window
    loud = level > 0.25
    onsets = [i * 0.01 for i in range(1, n) if loud[i] and not loud[i - 1]]
    assert len(onsets) == len(BEEP_TIMES)
    for found, expected in zip(onsets, BEEP_TIMES, strict=True):
        assert abs(found - expected) <= 0.03


def test_render_frame_is_deterministic_and_moves() -> None:
    a = render_frame(1.25)
    assert a.shape == (360, 640, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render_frame(1.25))
    assert mean_abs(a, render_frame(1.25 + 1 / 24)) > 5
    small = render_frame(0.5, width=64, height=36)
    assert small.shape == (36, 64, 3)


def test_midpoint_render_lies_between_its_neighbours() -> None:
    t0, t1 = 2.0, 2.0 + 1 / 24
    f0, f1, mid = render_frame(t0), render_frame(t1), render_frame((t0 + t1) / 2)
    whole = mean_abs(f0, f1)
    to_first, to_second = mean_abs(f0, mid), mean_abs(mid, f1)
    assert 0.3 * whole < to_first < 0.8 * whole
    assert 0.3 * whole < to_second < 0.8 * whole
    # the true middle is not the plain average of two frames: things move, they do not fade
    f4, mid4 = render_frame(t0 + 4 / 24), render_frame(t0 + 2 / 24)
    average = ((f0.astype(np.float64) + f4) / 2).round().astype(np.uint8)
    assert mean_abs(mid4, average) > 0.35 * mean_abs(f0, f4)


def test_sub_pixel_motion_changes_the_picture_continuously() -> None:
    steps = [mean_abs(render_frame(1.0), render_frame(1.0 + k * 0.002)) for k in (1, 2, 4)]
    assert 0 < steps[0] < steps[1] < steps[2]


def test_shapes_follow_their_constant_velocity_and_wrap_around() -> None:
    for shape in SCENES[0]:
        x0, y0, a0 = shape.state(1.0)
        x1, y1, a1 = shape.state(1.5)
        assert x1 - x0 == pytest.approx(shape.velocity[0] * 0.5)
        assert y1 - y0 == pytest.approx(shape.velocity[1] * 0.5)
        assert a1 - a0 == pytest.approx(shape.spin * 0.5)
    x, y, _ = SCENES[0][0].state(1000.0)
    margin = 2 * SCENES[0][0].size
    assert -margin <= x < 640 + margin and -margin <= y < 360 + margin


def test_lossless_rgb_variant_round_trips_exactly(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "rgb.mkv", 160, 90, fps=24, seconds=0.5, codec="ffv1")
    frames = decode_video(path)
    assert len(frames) == 12
    for index in (0, 11):
        assert np.array_equal(frames[index], render_frame(index / 24, 160, 90))


def test_hard_cut_switches_scene_at_cut_time(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "cut.mkv", 64, 36, fps=24, seconds=1.0, codec="ffv1",
                      audio=False, cut_at=0.5)
    frames = decode_video(path)
    assert len(frames) == 24
    assert np.array_equal(frames[11], render_frame(11 / 24, 64, 36, scene=0))
    assert np.array_equal(frames[12], render_frame(12 / 24, 64, 36, scene=1))
    with av.open(str(path)) as container:
        assert not container.streams.audio


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(av.error.FFmpegError):
        write_clip(tmp_path / "odd.mp4", 63, 35, seconds=0.2)  # yuv420p needs even sizes
    assert list(tmp_path.iterdir()) == []


def test_generate_script_regenerates_the_clip(tmp_path: Path) -> None:
    out = tmp_path / "again.mp4"
    script = Path(generate.__file__)
    done = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True,
                          check=True)
    assert "wrote" in done.stdout
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height, video.average_rate) == (640, 360, Fraction(24))
        assert len(container.streams.audio) == 1
    again, committed = decode_video(out), decode_video(SAMPLE_PATH)
    assert len(again) == len(committed) == 96
    assert mean_abs(again[50], committed[50]) < 0.5
