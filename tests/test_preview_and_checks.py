"""The preview tap and the output check on a real job, and the half-block renderer."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from core.events import JobFinished, JobStarted
from core.job import run_job
from core.options import JobOptions
from core.output_check import OutputChecker
from core.preview import FrameTap, small_rgb
from sample_media.generate import write_clip
from tui.widgets.halfblock import HALF_BLOCK, downscale, fit, halfblock


def test_a_real_job_gives_the_tap_a_made_frame_between_its_neighbours_and_reads_the_output_back(
    tmp_path: Path,
) -> None:
    clip = write_clip(tmp_path / "in.mp4", 64, 36, 24, 0.5, audio=False)  # 12 frames
    tap = FrameTap(every=0.0, width=32)
    lines: list[tuple[str, str]] = []
    checker = OutputChecker(lambda level, text: lines.append((level, text)))
    result = run_job(clip, tmp_path / "out.mp4", JobOptions(factor=2, model="blend", device="cpu"),
                     on_event=checker.on_event, preview=tap)
    frames = tap.latest()
    assert frames is not None and tap.taken >= 5
    assert frames.before.shape == frames.made.shape == frames.after.shape == (18, 32, 3)
    middle = (frames.before.astype(int) + frames.after.astype(int)) / 2
    assert np.abs(frames.made - middle).mean() < 6  # blend: the mix of its two neighbours (each via its own colour path)
    assert lines == [("info", f"output check: out.mp4 {result.output_frames} frames, 0.500 s at 48 fps, as expected")]
    assert checker.last is not None and checker.last.problems == []


def test_the_tap_copies_at_most_every_n_seconds_and_only_made_frames() -> None:
    now = {"t": 0.0}
    tap = FrameTap(every=2.0, width=8, clock=lambda: now["t"])
    frame = SimpleNamespace(rgb=np.zeros((4, 16, 3), np.uint8), source=object())
    other = SimpleNamespace(rgb=np.full((4, 16, 3), 200, np.uint8), source=object())
    made = np.full((4, 16, 3), 100, np.uint8)
    tap.offer_pair(0, frame, other)
    tap.offer_slot(0, frame.source)  # the pair's own first frame (t = 0) is not a made one
    assert tap.latest() is None
    tap.offer_slot(0, made)
    assert tap.taken == 1 and tap.latest().made.shape == (2, 8, 3)  # type: ignore[union-attr]
    now["t"] = 1.0
    tap.offer_pair(1, frame, other)
    tap.offer_slot(1, made)
    assert tap.taken == 1  # not due yet
    now["t"] = 2.5
    tap.offer_pair(2, frame, other)
    tap.offer_slot(2, made)
    assert tap.taken == 2 and tap.latest().pair == 2  # type: ignore[union-attr]
    now["t"] = 5.0
    tap.offer_pair(7, frame, other)  # remembered, but the clip ends before its made frame
    tap.offer_pair(0, other, frame)  # the next clip starts again at pair 0: the old one is dropped
    tap.offer_slot(0, made)
    assert tap.taken == 3 and tap.latest().before[0, 0, 0] == 200  # type: ignore[union-attr]


def test_small_rgb_of_deep_arrays_keeps_the_top_bits() -> None:
    deep = np.full((10, 40, 3), 0xABCD, np.uint16)
    small = small_rgb(deep, width=10)
    assert small.shape == (3, 10, 3) and small.dtype == np.uint8 and (small == 0xAB).all()


def test_an_output_that_disagrees_by_more_than_a_frame_is_a_warning() -> None:
    lines: list[tuple[str, str]] = []
    infos = {"in.mp4": SimpleNamespace(frame_count=10, duration=0.4, stream_duration=0.4),
             "out.mp4": SimpleNamespace(frame_count=17, duration=0.34, stream_duration=0.34)}
    checker = OutputChecker(lambda level, text: lines.append((level, text)), probe=lambda p: infos[Path(p).name])
    checker.on_event(JobStarted("in.mp4", "out.mp4", 64, 48, 25.0, 50.0, 9, 20, "flow", "cpu", "fp32", 1, "libx264"))
    check = checker.check("out.mp4")
    assert check.problems == ["17 frames where 20 were expected", "0.340 s where the input lasts 0.400 s"]
    level, text = check.line()
    assert level == "warning" and text.startswith("output check: out.mp4 has 17 frames where 20")
    one_off = SimpleNamespace(frame_count=19, duration=0.38, stream_duration=0.38)
    checker.probe = lambda p: one_off if Path(p).name == "out.mp4" else infos["in.mp4"]
    assert checker.check("out.mp4").problems == []  # one frame off is within a frame
    checker.on_event(JobFinished("", 0, 0, 0, 0, 0.0, 0.0))  # a sink wrote no file: nothing to say
    assert lines == []


def test_halfblock_draws_two_pixels_a_cell() -> None:
    picture = np.zeros((4, 2, 3), np.uint8)
    picture[0, :, 0] = 255  # row 0 red
    picture[1, :, 2] = 255  # row 1 blue
    picture[2:, :, 1] = 255  # rows 2-3 green
    text = halfblock(picture, cols=2, rows=2)
    assert text.plain == HALF_BLOCK * 2 + "\n" + HALF_BLOCK * 2
    styles = [span.style for span in text.spans]
    assert str(styles[0].color.triplet.hex) == "#ff0000" and str(styles[0].bgcolor.triplet.hex) == "#0000ff"
    assert str(styles[2].color.triplet.hex) == "#00ff00" and str(styles[2].bgcolor.triplet.hex) == "#00ff00"


def test_fit_keeps_the_aspect_and_downscale_averages_areas() -> None:
    assert fit(1920, 1080, 40, 20) == (40, 22)  # 40 cells across, 22.5 pixel rows -> even
    assert fit(100, 400, 40, 10) == (5, 20)  # a tall picture is limited by the rows
    block = np.zeros((4, 4, 3), np.uint8)
    block[:2, :2] = 200
    assert downscale(block, 2, 2)[..., 0].tolist() == [[200, 0], [0, 0]]
    assert downscale(block, 1, 2)[..., 0].tolist() == [[100], [0]]
