"""Scene-cut and duplicate detection on real footage and on the generated clip."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from core.options import DEFAULT_SCENE_CUT
from core.scenecut import PairKind, SceneCutDetector
from sample_media.generate import SAMPLE_PATH, render_frame, write_clip
from tests.conftest import shared_path

# The first frame of each new shot in bikes_640x272_25fps.mp4, checked by eye on contact
# sheets of all 250 frames: road markings -> man in suit (30), taxi sign -> taxi and cyclist
# (76), cyclist -> fence and square (137), fence -> walking legs (187), legs -> close-up of
# a wheel (242). No dissolves; frames 96-102 are a car sweeping past (motion, not a cut).
BIKES_CUTS = [30, 76, 137, 187, 242]
# Big Buck Bunny repeats a frame every 25 frames (a 24 -> 25 fps conversion): frame i equals
# frame i - 1 for these i (thumbnails differ by under 0.1 level on average).
BUNNY_REPEATS = [7, 32, 57, 82, 107]


def frames(path: Path) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def classify(path: Path, threshold: float | None = DEFAULT_SCENE_CUT) -> dict[PairKind, list[int]]:
    """Index i of the second frame of every pair (i - 1, i), grouped by kind."""
    detector = SceneCutDetector(threshold)
    found: dict[PairKind, list[int]] = {kind: [] for kind in PairKind}
    previous = None
    for index, rgb in enumerate(frames(path)):
        if previous is not None:
            found[detector.compare(previous, rgb)].append(index)
        previous = rgb
    return found


def test_every_cut_in_bikes_and_nothing_else() -> None:
    found = classify(shared_path("media/clips/bikes_640x272_25fps.mp4"))
    assert found[PairKind.CUT] == BIKES_CUTS
    assert found[PairKind.DUPLICATE] == []


@pytest.mark.parametrize(
    "clip", ["media/clips/carphone_176x144_2997fps.mp4", "media/clips/bigbuckbunny_1280x720_25fps.mp4"]
)
def test_no_cuts_in_continuous_shots(clip: str) -> None:
    assert classify(shared_path(clip))[PairKind.CUT] == []


def test_repeated_frames_of_big_buck_bunny_are_duplicates() -> None:
    found = classify(shared_path("media/clips/bigbuckbunny_1280x720_25fps.mp4"))
    assert found[PairKind.DUPLICATE] == BUNNY_REPEATS


def test_generated_clip_has_no_cut_and_its_hard_cut_is_found(tmp_path: Path) -> None:
    found = classify(SAMPLE_PATH)
    assert found[PairKind.CUT] == [] and found[PairKind.DUPLICATE] == []
    path = write_clip(tmp_path / "cut.mp4", 160, 90, fps=24, seconds=2.0, audio=False, cut_at=1.0)
    assert classify(path)[PairKind.CUT] == [24]


def test_threshold_none_disables_cuts_but_not_duplicates() -> None:
    found = classify(shared_path("media/clips/bikes_640x272_25fps.mp4"), threshold=None)
    assert found[PairKind.CUT] == []
    a, b = render_frame(0.0, 160, 90), render_frame(0.0, 160, 90, scene=1)
    detector = SceneCutDetector(None)
    assert detector.compare(a, b) is PairKind.NORMAL
    assert detector.compare(b, b.copy()) is PairKind.DUPLICATE


def test_re_encoded_repeats_are_duplicates(shared: type, tmp_path: Path) -> None:
    source = list(itertools.islice(frames(shared("media/clips/bikes_640x272_25fps.mp4")), 96, 102))
    path = tmp_path / "repeats.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 272, "yuv420p"
        stream.options = {"crf": "18"}
        for picture in source:  # every frame twice: the copies decode with coding noise
            for _ in range(2):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode(None))
    decoded = list(frames(path))
    assert len(decoded) == 12
    assert not any(np.array_equal(decoded[i], decoded[i + 1]) for i in range(0, 12, 2))
    detector = SceneCutDetector()
    kinds = [detector.compare(decoded[i - 1], decoded[i]) for i in range(1, 12)]
    expected = [PairKind.DUPLICATE if i % 2 else PairKind.NORMAL for i in range(1, 12)]
    assert kinds == expected


def test_a_frame_buffer_reused_in_place_is_not_served_from_the_cache() -> None:
    first, second = render_frame(0.0, 160, 90), render_frame(0.0, 160, 90, scene=1)
    detector = SceneCutDetector()
    buffer = first.copy()
    assert detector.compare(first, buffer) is PairKind.DUPLICATE
    buffer[:] = second  # the same array object now holds another picture
    assert detector.compare(buffer, second.copy()) is PairKind.DUPLICATE


def test_score_is_relative_to_the_recent_motion_level() -> None:
    detector = SceneCutDetector()
    clip = [render_frame(i / 24, 160, 90) for i in range(10)]
    for a, b in itertools.pairwise(clip):
        assert detector.compare(a, b) is PairKind.NORMAL
    assert 0 <= abs(detector.last_score) < 0.05
    other = render_frame(10 / 24, 160, 90, scene=1)
    assert detector.compare(clip[-1], other) is PairKind.CUT
    assert detector.last_score > DEFAULT_SCENE_CUT
    detector.reset()
    assert detector.last_score == 0.0 and not detector.recent
