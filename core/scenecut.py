"""Scene-cut and duplicate-frame detection on small frame thumbnails.

Each frame is reduced once to a :class:`FrameSignature`: a 64x36 RGB thumbnail, a 16x9
zero-mean grey layout and a 512-bin colour histogram. A pair of frames then gets

* a *structure* distance, ``(1 - NCC) / 2`` of the 16x9 grey layouts (0 same layout,
  0.5 unrelated), which ordinary motion barely moves because 16x9 is so coarse;
* a *colour* distance, half the L1 distance of the histograms (0 same palette, 1 disjoint);
* a change score, the geometric mean of the two, so a cut must change both the layout
  and the palette, while a fast object crossing the frame moves only one of them much.

The score of a pair minus the median score of the last ordinary pairs ("the clip's recent
motion level") is compared with the threshold: 0.2 means the frames differ by 0.2 more
than the recent pairs did. On the live-action ``bikes`` clip the five real cuts score
0.33 to 0.69 and the worst ordinary pair (a car sweeping past the camera) 0.12; see
BENCHMARKS.md for the measurement.

A pair is a duplicate when its grey thumbnails differ by less than 4 levels everywhere and
the colour thumbnails by less than 0.3 of a level on average: the same picture coded twice,
which needs no model. Repeated frames re-encoded at crf 18 measure at most 1.9 / 0.18 at
640x272 and up; real motion in the test clips starts at 12 / 0.87, and a sub-pixel move of
Big Buck Bunny's bunny (6.2 / 0.21) stays NORMAL. The test is conservative on purpose: a
missed duplicate costs one model call, a false one a visible stutter. Tiny frames (176x144)
average less coding noise away, so their re-encoded repeats are often treated as NORMAL.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np

from core.options import DEFAULT_SCENE_CUT

THUMB_SIZE = (64, 36)  # width, height
LAYOUT_SIZE = (16, 9)
HIST_LEVELS = 8  # per channel: 8 x 8 x 8 colour bins
MOTION_WINDOW = 8  # ordinary pairs whose median score is the recent motion level
DUPLICATE_MEAN_LEVELS = 0.3  # colour thumbnail, mean absolute difference
DUPLICATE_GREY_MAX_LEVELS = 4.0  # grey thumbnail, largest absolute difference


class PairKind(Enum):
    """What a pair of consecutive frames needs."""

    NORMAL = "normal"  # interpolate
    CUT = "cut"  # a scene change: repeat the first frame, do not blend two shots
    DUPLICATE = "duplicate"  # the same picture twice: repeat it, no model call
    HOLE = "hole"  # frames lost to damage between the two: hold the first, as at a cut


@dataclass(frozen=True)
class FrameSignature:
    """What the detector keeps of one frame."""

    thumb: np.ndarray  # (36, 64, 3) float32 RGB levels 0..255
    grey: np.ndarray  # (36, 64) float32, the mean of the three channels
    layout: np.ndarray  # (9, 16) float32 grey, zero mean
    layout_norm: float
    hist: np.ndarray  # (512,) float32, sums to 1


def _thumbnail(rgb: np.ndarray) -> np.ndarray:
    """Area-averaged 64x36 float thumbnail; strides first so 1080p costs a fraction of a ms."""
    tw, th = THUMB_SIZE
    h, w = rgb.shape[:2]
    step = max(1, min(h // (4 * th), w // (4 * tw)))
    small = np.ascontiguousarray(rgb[::step, ::step, :3], dtype=np.float32)
    return cv2.resize(small, (tw, th), interpolation=cv2.INTER_AREA)


def frame_signature(rgb: np.ndarray) -> FrameSignature:
    """Reduce an (H, W, 3) uint8 RGB frame to its signature."""
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"expected an (H, W, 3) RGB frame, got shape {rgb.shape}")
    thumb = _thumbnail(rgb)
    grey = thumb.mean(axis=2)
    coarse = cv2.resize(grey, LAYOUT_SIZE, interpolation=cv2.INTER_AREA)
    layout = coarse - coarse.mean()
    q = np.clip(thumb, 0, 255).astype(np.int32) * HIST_LEVELS // 256
    index = (q[..., 0] * HIST_LEVELS + q[..., 1]) * HIST_LEVELS + q[..., 2]
    hist = np.bincount(index.ravel(), minlength=HIST_LEVELS**3).astype(np.float32)
    hist /= hist.sum()
    return FrameSignature(thumb, grey, layout, float(np.sqrt((layout * layout).sum())), hist)


def structure_distance(a: FrameSignature, b: FrameSignature) -> float:
    """(1 - normalised cross-correlation) / 2 of the grey layouts; 0.5 when one is flat."""
    den = a.layout_norm * b.layout_norm
    if den < 1e-6:
        return 0.5
    ncc = float((a.layout * b.layout).sum()) / den
    return (1.0 - ncc) / 2.0


def colour_distance(a: FrameSignature, b: FrameSignature) -> float:
    """Half the L1 distance of the colour histograms, in [0, 1]."""
    return 0.5 * float(np.abs(a.hist - b.hist).sum())


def change_score(a: FrameSignature, b: FrameSignature) -> float:
    """Geometric mean of the structure and colour distances, in [0, 1]."""
    return math.sqrt(structure_distance(a, b) * colour_distance(a, b))


def is_duplicate(a: FrameSignature, b: FrameSignature) -> bool:
    """True when the thumbnails differ only by coding noise."""
    if float(np.abs(a.grey - b.grey).max()) >= DUPLICATE_GREY_MAX_LEVELS:
        return False
    return float(np.abs(a.thumb - b.thumb).mean()) < DUPLICATE_MEAN_LEVELS


class SceneCutDetector:
    """Classifies consecutive frame pairs as NORMAL, CUT or DUPLICATE.

    ``threshold`` None turns cut detection off; duplicates are still found. The signature
    of the second frame of each pair is cached, so calling ``compare(prev, cur)`` along a
    clip computes each frame's signature once.
    """

    def __init__(self, threshold: float | None = DEFAULT_SCENE_CUT) -> None:
        self.threshold = threshold
        self.recent: deque[float] = deque(maxlen=MOTION_WINDOW)
        self.last_score = 0.0  # the motion-normalised score of the latest pair
        self._cached: tuple[np.ndarray, np.ndarray, FrameSignature] | None = None

    def reset(self) -> None:
        """Forget the recent motion level and the cached signature (a new clip starts)."""
        self.recent.clear()
        self.last_score = 0.0
        self._cached = None

    def _signature(self, rgb: np.ndarray) -> FrameSignature:
        cached = self._cached
        if cached is not None and cached[0] is rgb and np.array_equal(cached[1], _probe(rgb)):
            return cached[2]
        return frame_signature(rgb)

    def classify(self, rgb0: np.ndarray, rgb1: np.ndarray, missing_between: int = 0) -> PairKind:
        """Like :meth:`compare`, but a pair with frames lost between them is a HOLE, never blended."""
        if missing_between:
            self._cached = None
            return PairKind.HOLE
        return self.compare(rgb0, rgb1)

    def compare(self, rgb0: np.ndarray, rgb1: np.ndarray) -> PairKind:
        """Classify the pair (rgb0, rgb1) of (H, W, 3) uint8 RGB frames."""
        sig0 = self._signature(rgb0)
        sig1 = frame_signature(rgb1)
        self._cached = (rgb1, _probe(rgb1), sig1)
        if is_duplicate(sig0, sig1):
            self.last_score = 0.0
            return PairKind.DUPLICATE
        score = change_score(sig0, sig1)
        level = float(np.median(self.recent)) if self.recent else 0.0
        self.last_score = score - level
        if self.threshold is not None and self.last_score >= self.threshold:
            return PairKind.CUT
        self.recent.append(score)
        return PairKind.NORMAL


def _probe(rgb: np.ndarray) -> np.ndarray:
    """A few sparse pixels, to notice a frame buffer reused in place under the same object."""
    return rgb[::61, ::67].copy()
