"""Rebuilding the scene-cut detector's state before a run's first pair (core/scene_warmup.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.scene_warmup import SceneWarmup
from core.scenecut import SceneCutDetector
from tests.clips import moving_frames


@dataclass
class Frame:
    rgb: np.ndarray
    missing_before: int = 0


def frames_with_cuts() -> list[Frame]:
    """100 frames, cuts to another scene at frames 20 and 45 (and back to moving texture)."""
    a = moving_frames(20, 96, 64, seed=0)
    b = [255 - f[:, ::-1] for f in moving_frames(25, 96, 64, seed=3, speed=3.0)]
    c = moving_frames(55, 96, 64, seed=7, speed=1.0)
    return [Frame(f) for f in a + b + c]


def whole_run_state(frames: list[Frame], at: int) -> list[float]:
    detector = SceneCutDetector()
    for i in range(at):
        detector.classify(frames[i].rgb, frames[i + 1].rgb)
    return list(detector.recent)


def warmed(frames: list[Frame], start: int, lookback: int) -> tuple[SceneWarmup, list[str]]:
    detector = SceneCutDetector()
    warmup = SceneWarmup.for_start(detector, start, None, lookback=lookback)
    for i in range(warmup.first_frame, start):
        warmup.feed(frames[i], frames[i + 1])
    lines: list[str] = []
    warmup.report(lambda level, message: lines.append(f"{level}: {message}"))
    return warmup, lines


def test_a_lookback_across_a_cut_rebuilds_the_whole_runs_state_exactly():
    frames = frames_with_cuts()
    warmup, lines = warmed(frames, 70, lookback=30)  # from frame 40: the cut at 45, then 24 ordinary pairs
    assert warmup.first_frame == 40 and warmup.exact
    assert list(warmup.detector.recent) == whole_run_state(frames, 70)
    assert lines == ["info: scene-cut state rebuilt from the 30 pairs before pair 71"]


def test_too_short_a_lookback_after_a_cut_says_so():
    frames = frames_with_cuts()
    warmup, lines = warmed(frames, 50, lookback=8)  # from frame 42: the cut at 45, then only 4 pairs
    assert not warmup.exact
    assert lines == ["warning: scene-cut state rebuilt from only 8 pairs before pair 51: "
                     "scene-cut decisions near it may differ from a whole run's"]


def test_no_lookback_from_the_first_frame_or_with_a_recorded_state():
    detector = SceneCutDetector()
    assert SceneWarmup.for_start(detector, 0, None).first_frame == 0
    recorded = SceneWarmup.for_start(detector, 16, [0.1, 0.2])
    assert recorded.first_frame == 16 and list(detector.recent) == [0.1, 0.2]
    near = SceneWarmup.for_start(SceneCutDetector(), 40, None)
    assert near.first_frame == 0 and near.exact  # from the first frame it is the whole run
    off = SceneWarmup.for_start(SceneCutDetector(None), 40, None)  # --scene-cut off: the state never matters
    assert off.first_frame == 40 and off.exact
