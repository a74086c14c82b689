"""Footage comes out as it went in: bit depth, colour matrix and tags, HDR10 metadata.

Clips are made plane by plane with PyAV (colour bars with a moving box in each matrix, 10-bit
HEVC in HLG and PQ with HDR10 side data, ProRes 4:2:2 10-bit, a 10-bit ramp) and run through
the real job; the outputs are read back with PyAV.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from core.events import LogRecord
from core.job import run_job
from core.options import JobOptions
from core.video.colour_tags import ContentLight, MasteringDisplay, output_colour
from core.video.formats import choose_pix_fmt
from core.video.probe import VideoInfo, probe_video
from tests.clips import write_frames
from tests.colour_clips import (
    X265_CLL,
    X265_MASTER,
    bars_clip,
    bars_rgb,
    read_planes,
    side_data,
    write_planes,
)

MATRICES = {"bt601": 6, "bt709": 1, "bt2020": 9, "fcc": 4, "smpte240m": 7, "rgb": 0}
X265_QUIET = {"x265-params": "log-level=error"}


def run(src: Path, out: Path, journal: bool = True, **options: object) -> list[str]:
    """Run the job on the CPU; returns its log messages."""
    logs: list[str] = []
    options.setdefault("model", "blend")
    run_job(src, out, JobOptions(device="cpu", **options),  # type: ignore[arg-type]
            on_event=lambda e: logs.append(e.message) if isinstance(e, LogRecord) else None, journal=journal)
    return logs


def tags(ctx: av.video.codeccontext.VideoCodecContext) -> tuple[int, int, int, int]:
    return ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range


def worst_mean_error(planes: list[list[np.ndarray]], depth: int) -> float:
    """Largest |mean of an interpolated frame's plane - mean of its neighbours'|, 8-bit units."""
    scale = 1 << (depth - 8)
    return max(
        abs(planes[i][k].mean() - (planes[i - 1][k].mean() + planes[i + 1][k].mean()) / 2) / scale
        for i in range(1, len(planes) - 1, 2)
        for k in range(3)
    )


def worst_static_error(planes: list[list[np.ndarray]], depth: int) -> float:
    """The same per sample, inside the bars above the box (away from every edge)."""
    scale, worst = 1 << (depth - 8), 0.0
    for k in range(3):
        h, w = planes[0][k].shape
        full_w = planes[0][0].shape[1]
        bar = w / 7
        cols = np.concatenate([np.arange(int(c * bar) + 2, int((c + 1) * bar) - 2) for c in range(7)])
        rows = slice(0, max(1, h // 2 - 2))  # the box starts at half height
        for i in range(1, len(planes) - 1, 2):
            mean = (planes[i - 1][k] + planes[i + 1][k]) / 2
            diff = np.abs(planes[i][k][rows][:, cols] - mean[rows][:, cols]).max() / scale
            worst = max(worst, float(diff))
        assert full_w >= w
    return worst


@pytest.mark.parametrize("colour", ["cpu", "device"])
@pytest.mark.parametrize("matrix", list(MATRICES))
def test_interpolated_frames_use_the_originals_matrix(tmp_path: Path, matrix: str, colour: str) -> None:
    """Blend on bars: each interpolated frame is the mean of its neighbours on every plane, for
    every matrix, on the swscale and the torch paths (BT.2020 was off by 10 levels of luma).
    RGB comes as 10-bit gbrp (ffv1 has no 8-bit planar RGB)."""
    space = MATRICES[matrix]
    depth = 10 if space == 0 else 8
    src = bars_clip(tmp_path / "in.mkv", space, depth, primaries=1, transfer=1)
    out = tmp_path / "out.mkv"
    run(src, out, codec="ffv1", colour=colour)
    planes, first, ctx = read_planes(out)
    assert len(planes) == 10
    assert first.format.name == ("gbrp10le" if space == 0 else "yuv420p")
    assert tags(ctx) == (space, 1, 1, 2 if space == 0 else 1)
    assert worst_mean_error(planes, depth) <= 0.5
    # the torch path is exact; swscale's rgb48 rounding leaves a sparse +-1 level
    assert worst_static_error(planes, depth) <= (0.5 if colour == "device" else 1.0)


@pytest.mark.parametrize("colour", ["cpu", "device"])
@pytest.mark.parametrize("matrix", ["bt709", "bt2020"])
def test_ten_bit_bars_stay_ten_bit_and_exact(tmp_path: Path, matrix: str, colour: str) -> None:
    space = MATRICES[matrix]
    src = bars_clip(tmp_path / "in.mkv", space, 10, primaries=9, transfer=14)
    out = tmp_path / "out.mkv"
    run(src, out, codec="ffv1", colour=colour)
    planes, first, ctx = read_planes(out)
    assert first.format.name == "yuv420p10le"
    assert tags(ctx) == (space, 9, 14, 1)
    assert worst_mean_error(planes, 10) <= 0.5
    assert worst_static_error(planes, 10) <= (0.5 if colour == "device" else 1.0)


def test_untagged_matrix_is_resolved_by_size_and_written(tmp_path: Path) -> None:
    for height, expected in ((48, 6), (584, 1)):  # up to 576 lines BT.601, above BT.709
        src = bars_clip(tmp_path / f"in{height}.mkv", expected, size=(28, height), frames=3,
                        space=2, color_range=0)
        out = tmp_path / f"out{height}.mkv"
        logs = run(src, out, codec="ffv1", colour="cpu")
        planes, _, ctx = read_planes(out)
        assert (ctx.colorspace, ctx.color_range) == (expected, 1)
        assert worst_mean_error(planes, 8) <= 0.5
        assert any("does not tag its colour matrix" in m for m in logs)


def _ramp_clip(path: Path, frames: int = 5) -> Path:
    """10-bit luma ramp 4..1019 (below black to above white) with a moving grey box."""
    width, height = 320, 32
    ramp = np.round(np.linspace(4, 1019, width))
    out = []
    for i in range(frames):
        y = np.tile(ramp, (height, 1))
        y[8:24, 10 + 6 * i : 26 + 6 * i] = 500
        chroma = np.full((height // 2, width // 2), 512.0)
        out.append([y, chroma, chroma.copy()])
    return write_planes(path, out, "ffv1", "yuv420p10le", space=1, primaries=1, transfer=1, color_range=1)


def test_ten_bit_ramp_keeps_its_levels_and_code_values(tmp_path: Path) -> None:
    """On the CPU, auto takes the torch path for deep video: interpolated frames keep the
    10-bit levels (an 8-bit round trip kept 75 of 301) and, with blend, the code values
    below 64 and above 940 that the originals have."""
    src = _ramp_clip(tmp_path / "ramp.mkv")
    for model in ("flow", "blend"):
        out = tmp_path / f"{model}.mkv"
        logs = run(src, out, codec="ffv1", model=model)
        assert any("colour conversion on cpu: bt709, limited range, yuv420p10le, 10-bit" in m for m in logs)
        planes, first, _ = read_planes(out)
        assert first.format.name == "yuv420p10le"
        rows = slice(0, 6)  # above the box
        for i in range(1, len(planes) - 1, 2):
            original = np.unique(planes[i - 1][0][rows])
            between = np.unique(planes[i][0][rows])
            assert len(between) >= 0.9 * len(original), (model, len(between), len(original))
            if model == "blend":
                assert np.array_equal(planes[i][0][rows], planes[i - 1][0][rows])
        assert planes[1][0].min() < 16 and planes[1][0].max() > 1000


def test_ten_bit_ramp_on_the_swscale_path_keeps_its_precision(tmp_path: Path) -> None:
    src = _ramp_clip(tmp_path / "ramp.mkv", frames=3)
    out = tmp_path / "out.mkv"
    logs = run(src, out, codec="ffv1", colour="cpu")
    assert any("swscale, rgb48" in m for m in logs)
    planes, _, _ = read_planes(out)
    original = np.unique(planes[0][0][:6])
    between = np.unique(planes[1][0][:6])
    # rgb48 cannot hold below black / above white: those levels clip (see README), the rest stay
    legal = original[(original >= 64) & (original <= 940)]
    assert len(between) >= 0.9 * len(legal)


def _hevc_hdr(path: Path, transfer: int, hdr10: bool) -> Path:
    params = "log-level=error"
    if hdr10:
        params += f":master-display={X265_MASTER}:max-cll={X265_CLL[0]},{X265_CLL[1]}:hdr10=1"
    return bars_clip(path, 9, 10, codec="libx265", pix_fmt="yuv420p10le", primaries=9,
                     transfer=transfer, options={"x265-params": params}, size=(112, 64))


def test_hdr10_pq_keeps_depth_tags_and_side_data_with_x265(tmp_path: Path) -> None:
    src = _hevc_hdr(tmp_path / "pq.mkv", 16, hdr10=True)
    info = probe_video(src)
    assert info.colour is not None and info.colour.hdr == "PQ"
    assert info.colour.light == ContentLight(*X265_CLL)
    assert info.colour.mastering is not None and info.colour.mastering.x265() == X265_MASTER
    out = tmp_path / "out.mp4"
    logs = run(src, out, codec="libx265")
    planes, first, ctx = read_planes(out)
    assert first.format.name == "yuv420p10le"
    assert tags(ctx) == (9, 9, 16, 1)
    got, want = side_data(first), side_data(read_planes(src)[1])
    assert got["MASTERING_DISPLAY_METADATA"] == want["MASTERING_DISPLAY_METADATA"]
    assert got["CONTENT_LIGHT_LEVEL"] == want["CONTENT_LIGHT_LEVEL"]
    assert any("HDR10 mastering display and content light level written" in m for m in logs)
    assert worst_mean_error(planes, 10) <= 0.5


def test_hdr10_metadata_a_codec_cannot_write_is_named_as_dropped(tmp_path: Path) -> None:
    src = _hevc_hdr(tmp_path / "pq.mkv", 16, hdr10=True)
    out = tmp_path / "out.mkv"
    logs = run(src, out, codec="ffv1")
    assert any("dropped (--codec libx265 keeps it)" in m for m in logs)
    _, first, ctx = read_planes(out)
    assert first.format.name == "yuv420p10le" and tags(ctx) == (9, 9, 16, 1)


def test_hlg_ten_bit_comes_out_ten_bit_hlg_by_default(tmp_path: Path) -> None:
    src = _hevc_hdr(tmp_path / "hlg.mp4", 18, hdr10=False)
    out = tmp_path / "out.mp4"
    logs = run(src, out)  # codec auto: libx264 here (High 10)
    planes, first, ctx = read_planes(out)
    assert first.format.name == "yuv420p10le"
    assert tags(ctx) == (9, 9, 18, 1)
    assert any("10 bits per sample" in m for m in logs)
    assert worst_mean_error(planes, 10) <= 0.5


def test_prores_422_ten_bit_keeps_422_ten_bit(tmp_path: Path) -> None:
    src = bars_clip(tmp_path / "in.mov", 1, 10, (2, 1), codec="prores_ks", primaries=1, transfer=1)
    info = probe_video(src)
    assert info.pix_fmt == "yuv422p10le" and info.colour is not None and info.colour.matrix == "bt709"
    for codec, suffix in (("libx265", "mp4"), ("ffv1", "mkv")):
        out = tmp_path / f"out.{suffix}"
        run(src, out, codec=codec, **({"crf": 10} if codec == "libx265" else {}))
        planes, first, ctx = read_planes(out)
        assert first.format.name == "yuv422p10le", codec
        assert tags(ctx) == (1, 1, 1, 1), codec
        assert worst_mean_error(planes, 10) <= 0.5, codec


def test_pix_fmt_override_still_wins(tmp_path: Path) -> None:
    src = _hevc_hdr(tmp_path / "hlg.mkv", 18, hdr10=False)
    out = tmp_path / "out.mkv"
    logs = run(src, out, codec="libx264", pix_fmt="yuv420p")
    planes, first, ctx = read_planes(out)
    assert first.format.name == "yuv420p" and tags(ctx) == (9, 9, 18, 1)
    assert any("8 bits per sample" in m and "banding" in m for m in logs)
    assert worst_mean_error(planes, 8) <= 0.5


def _info(pix_fmt: str) -> VideoInfo:
    return VideoInfo(
        path="x", width=64, height=48, fps=Fraction(24), time_base=Fraction(1, 24), frame_count=2,
        duration=None, codec="hevc", pix_fmt=pix_fmt, is_rgb=pix_fmt.startswith("gbr"),
        rotation=0, audio_streams=0,
    )


@pytest.mark.parametrize(
    ("codec", "source", "expected"),
    [
        ("libx264", "yuv420p", "yuv420p"),
        ("libx264", "yuv420p10le", "yuv420p10le"),
        ("libx264", "yuv422p10le", "yuv422p10le"),
        ("libx264", "yuv422p", "yuv420p"),  # 8-bit keeps the old default
        ("libx265", "yuv444p12le", "yuv444p12le"),
        ("libx265", "gbrp10le", "yuv444p10le"),
        ("libx265", "p010le", "yuv420p10le"),
        ("prores_ks", "yuv420p", "yuv422p10le"),
        ("prores_ks", "yuv422p10le", "yuv422p10le"),
        ("prores_ks", "yuv444p12le", "yuv444p10le"),
        ("libsvtav1", "yuv422p10le", "yuv420p10le"),
        ("libsvtav1", "yuv420p", "yuv420p"),
        ("ffv1", "yuv422p10le", "yuv422p10le"),
        ("ffv1", "p010le", "yuv420p10le"),
        ("h264_nvenc", "yuv420p10le", "p010le"),
    ],
)
def test_default_pixel_format_keeps_depth_and_chroma(codec: str, source: str, expected: str) -> None:
    notes: list[str] = []
    assert choose_pix_fmt(codec, None, _info(source), 64, 48, notes) == expected
    if source.endswith(("10le", "12le")) and codec != "ffv1":
        assert any("bits per sample" in n for n in notes)
    # libvpx-vp9 of this PyAV build has no 10-bit format: the note says it cannot keep them
    vp9_notes: list[str] = []
    if codec == "libx264" and source == "yuv420p10le":
        assert choose_pix_fmt("libvpx-vp9", None, _info(source), 64, 48, vp9_notes) == "yuv420p"
        assert any("cannot keep" in n for n in vp9_notes)


def test_mastering_display_and_light_level_parse_and_format() -> None:
    values = [34000, 50000, 16000, 50000, 13250, 50000, 34500, 50000, 7500, 50000, 3000, 50000,
              15635, 50000, 16450, 50000, 1, 10000, 10000000, 10000, 1, 1]
    raw = struct.pack("<22i", *values)
    mastering = MasteringDisplay.from_bytes(raw)
    assert mastering is not None and mastering.x265() == X265_MASTER
    assert mastering.svt().startswith("G(0.26500,0.69000)B(0.15000,0.06000)R(0.68000,0.32000)")
    assert MasteringDisplay.from_bytes(raw[:80]) is None  # cut short
    assert MasteringDisplay.from_bytes(struct.pack("<22i", *values[:20], 0, 0)) is None  # flags unset
    assert ContentLight.from_bytes(struct.pack("<2I", 1000, 400)) == ContentLight(1000, 400)


@pytest.mark.parametrize("journal", [False, True], ids=["segmented", "journal"])
def test_parallel_segment_encoders_keep_depth_tags_and_hdr10(tmp_path: Path, journal: bool) -> None:
    """--encode-workers (the default on big machines): every segment's encoder gets the tags
    and the HDR10 parameters, and held 12-bit 4:4:4 frames are copied at full depth; both
    for the plain segmented writer and for the journal's (one encoder per journal segment)."""
    src = _hevc_hdr(tmp_path / "pq.mkv", 16, hdr10=True)
    out = tmp_path / "out.mkv"
    logs = run(src, out, journal, codec="libx265", encode_workers=2, factor=6)
    said = "2 encoders on segments in parallel" if journal else "2 libx265 encoders on segments of 24 frames"
    assert any(f"encoding with {said}" in m for m in logs)
    planes, first, ctx = read_planes(out)
    assert len(planes) == 30 and first.format.name == "yuv420p10le" and tags(ctx) == (9, 9, 16, 1)
    with av.open(str(out)) as container:
        keys = [f for f in container.decode(video=0) if f.key_frame]
    assert len(keys) >= (1 if journal else 2) and all("MASTERING_DISPLAY_METADATA" in side_data(f) for f in keys)
    deep = bars_clip(tmp_path / "deep.mkv", 1, 12, (1, 1), frames=3)
    run(deep, tmp_path / "deep_out.mkv", journal, codec="ffv1", encode_workers=2, factor=4)
    planes, first, _ = read_planes(tmp_path / "deep_out.mkv")
    assert first.format.name == "yuv444p12le" and len(planes) == 12
    assert np.array_equal(planes[-1][0], planes[-4][0])  # the held last frame, at full depth


def test_svt_av1_is_given_the_hdr10_metadata_it_writes(tmp_path: Path) -> None:
    """libsvtav1 (for .webm/.mkv AV1) gets the mastering display and light level through
    svtav1-params; an AV1 stream encoded with the options framedeck chose carries them."""
    src = _hevc_hdr(tmp_path / "pq.mkv", 16, hdr10=True)
    colour = output_colour(probe_video(src).colour, "yuv420p10le", "libsvtav1", 64)
    assert set(colour.options) == {"svtav1-params", "chroma_sample_location"}
    planes = read_planes(src)[0][:2]
    out = write_planes(tmp_path / "av1.mkv", planes, "libsvtav1", "yuv420p10le", space=9,
                       primaries=9, transfer=16, color_range=1, options=colour.options)
    got, want = side_data(read_planes(out)[1]), side_data(read_planes(src)[1])
    assert got["CONTENT_LIGHT_LEVEL"] == want["CONTENT_LIGHT_LEVEL"]
    assert MasteringDisplay.from_bytes(got["MASTERING_DISPLAY_METADATA"]).x265() == X265_MASTER


@pytest.mark.parametrize("colour", ["cpu", "device"])
def test_packed_rgb_input_to_yuv_gets_one_matrix_both_ways(tmp_path: Path, colour: str) -> None:
    """bgr0 (packed: swscale on every path) into libx264: the size rule's matrix converts the
    original and the interpolated frames alike and is written into the output."""
    rgb = [np.round(bars_rgb(112, 32, i) * 255).astype(np.uint8) for i in range(5)]
    src = write_frames(tmp_path / "rgb.mkv", rgb, codec="ffv1", pix_fmt="bgr0")
    out = tmp_path / "out.mkv"
    logs = run(src, out, codec="libx264", crf=0, colour=colour)
    assert any("RGB input written as YUV with the BT.601 matrix" in m for m in logs)
    planes, first, ctx = read_planes(out)
    assert first.format.name == "yuv420p" and (ctx.colorspace, ctx.color_range) == (6, 1)
    assert worst_mean_error(planes, 8) <= 0.5


def test_a_matrix_framedeck_cannot_convert_is_named_and_replaced_by_the_size_rule(tmp_path: Path) -> None:
    src = bars_clip(tmp_path / "ycgco.mkv", 1, frames=3, space=8)  # YCgCo tag on BT.709 samples
    out = tmp_path / "out.mkv"
    logs = run(src, out, codec="ffv1")
    assert any("colour matrix (AVColorSpace 8) is not one framedeck converts" in m for m in logs)
    _, _, ctx = read_planes(out)
    assert ctx.colorspace == 6  # 32 lines: BT.601, written out
