"""Smoke tests: each benchmark's main() runs end to end on a tiny clip and reports every row.

No timings are asserted; the figures must only be there, finite and consistent in counts.
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from bench import memory, throughput
from bench.inputs import generated_clip, trimmed_clip
from core.video.probe import probe_video
from sample_media.generate import render_frame
from tests.conftest import shared_path


def test_throughput_reports_every_way(tmp_path, capsys):
    report = throughput.main(
        ["--generate", "64x36", "--seconds", "0.25", "--repeat", "1", "--model", "blend",
         "--preset", "ultrafast", "--cache", str(tmp_path), "--json", str(tmp_path / "raw.json")]
    )  # fmt: skip
    (result,) = report["results"]
    assert (result.width, result.height, result.frames) == (64, 36, 6)
    assert set(result.runs) == {"framedeck", "null-sink", "model-only", "png"}
    for name, run in result.runs.items():
        assert run.pairs == 5, name
        assert run.seconds > 0 and math.isfinite(run.pairs_per_second), name
    # 2x of 6 frames: 5 pairs, each a source and a middle frame, plus the repeated tail
    assert result.runs["framedeck"].frames_out == result.runs["png"].frames_out == 12
    assert result.runs["null-sink"].frames_out == 12
    assert set(result.ratios()) == {"end-to-end/model-only", "null-sink/model-only", "framedeck/png"}
    assert set(result.cpu_ratios()) == set(result.ratios())
    assert all(run.cpu_seconds > 0 for run in result.runs.values())
    assert set(result.runs["framedeck"].stages) >= set(throughput.STAGES)
    assert result.job["codec"] == "libx264" and result.job["model"] == "blend"
    assert set(result.runs["png"].parts) == {"decode+png", "pairs", "model", "encode"}
    raw = json.loads((tmp_path / "raw.json").read_text())["results"][0]
    assert raw["runs"]["framedeck"]["frames_out"] == 12 and "limiter" in raw
    printed = capsys.readouterr().out
    assert "| generated_64x36_24fps_0.25s.mp4 64x36 | 6 | blend" in printed
    assert "libx264 crf 18 preset ultrafast" in printed


def test_trimmed_clip_keeps_the_first_frames(tmp_path):
    source = generated_clip(64, 36, 24, 0.5, tmp_path)
    trimmed = trimmed_clip(source, 4, tmp_path)
    info = probe_video(trimmed)
    assert (info.width, info.height, info.frame_count, info.fps) == (64, 36, 4, 24)
    assert trimmed_clip(source, 4, tmp_path) == trimmed  # cached, not remade
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_large_clips_are_rendered_small_and_resized_up(tmp_path):
    clip = generated_clip(128, 72, 24, 0.125, tmp_path, render_limit=64 * 36)
    info = probe_video(clip)
    assert (info.width, info.height, info.frame_count) == (128, 72, 3)
    assert clip.name == "generated_128x72_24fps_0.125s.mp4"
    first = throughput.decode_frames(clip)[0].astype(np.float64)
    truth = render_frame(0.0, 128, 72).astype(np.float64)
    psnr = 10 * np.log10(255**2 / np.mean((first - truth) ** 2))
    assert psnr > 24, psnr  # 27 dB: the same scene, only softer (0.5 s later scores 21 dB)


def test_memory_reports_both_lengths(tmp_path, capsys):
    report = memory.main(
        ["--width", "64", "--height", "36", "--seconds", "0.25", "--long", "3", "--models", "blend",
         "--gpu-sizes", "64x36", "--batches", "1,2", "--cache", str(tmp_path)]
    )  # fmt: skip
    short, long = report["host"]
    assert (short["length"], long["length"]) == (1, 3)
    assert (short["input_frames"], long["input_frames"]) == (6, 18)
    assert long["output_frames"] == 36
    for row in report["host"]:
        assert row["peak_kib"] >= row["before_kib"] > 0
    if torch.cuda.is_available():
        assert [(r["size"], r["batch"]) for r in report["gpu"]] == [("64x36", 1), ("64x36", 2)]
    else:
        assert "skipped" in report["gpu"]
        assert "GPU memory: skipped" in capsys.readouterr().out


def _result(model_only: float, framedeck: float, null: float, stages: dict[str, float], device="cuda:0"):
    """Runs of 10 pairs at these pairs/s; on the CPU device the same figures as CPU seconds."""
    runs = {
        "model-only": throughput.Run(10, 10, 10 / model_only, 10 / model_only),
        "framedeck": throughput.Run(10, 20, 10 / framedeck, 1.0, stages=stages),
        "null-sink": throughput.Run(10, 20, 10 / null, 10 / null, stages=stages),
    }
    return throughput.InputResult("clip", 64, 36, 11, runs, {"device": device})


def test_limiter_rule():
    stages = {"decode": 1.0, "upload": 3.0, "model": 2.0, "download": 0.5, "encode": 9.0}
    assert _result(10, 9.5, 10, stages).limiter() is None  # within 0.9 x model-only
    assert _result(10, 5, 9.5, stages).limiter() == "encode"  # the null sink recovers the rate
    assert _result(10, 5, 6, stages).limiter() == "encode, then upload"  # still short without the encoder
    assert _result(10, 5, 5.2, stages).limiter() == "upload"  # the encoder costs under 10%
    # on the CPU the rule reads CPU seconds per pair: here framedeck costs 0.1 s/pair like model-only
    assert _result(10, 5, 6, stages, device="cpu").limiter() is None


def test_model_speed_reports_a_row_per_size_batch_and_mode(tmp_path, capsys):
    from bench import model_speed

    out = tmp_path / "speed.json"
    rows = model_speed.main(["--weights", str(shared_path("models/rife-4.25")), "--sizes", "128x64",
                             "--batches", "1,2", "--graphs", "on,off", "--seconds", "0.05",
                             "--device", "cpu", "--json", str(out)])
    assert [(r["batch"], r["graphs"]) for r in rows] == [(1, "on"), (2, "on"), (1, "off"), (2, "off")]
    assert all(r["pairs_per_s"] > 0 and r["precision"] == "fp32" for r in rows)
    assert json.loads(out.read_text()) == rows
    assert "| 128x64 | 2 | off | fp32 | 1.0 |" in capsys.readouterr().out


def test_rife_forward_stays_lean():
    """The fp16 forward converts weights once at load, not on every call (autocast cast ~220
    tensors per forward), and launches about 220 kernels for a batch of four pairs."""
    from bench.op_count import count_forward
    from core.interpolators.rife import RifeInterpolator

    shape = (4, 3, 64, 128)
    img0, img1 = torch.rand(shape), torch.rand(shape)
    for precision in ("fp16", "fp32"):
        model = RifeInterpolator(shared_path("models/rife-4.25"), precision=precision, scale=1.0)
        model.load(torch.device("cpu"))
        tally = count_forward(model, img0, img1)
        assert tally.casts <= 4 and tally.kernels < 240, (precision, tally.casts, tally.kernels)
