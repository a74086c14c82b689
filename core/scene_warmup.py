"""Rebuilding the scene-cut detector's state where a run starts without a record of it.

A run that starts at pair ``s > 0`` (a resume, or one range of a job shared out over several
devices) needs the detector's recent motion level as a whole run would have it at ``s``.
The journal records it at the end of each segment; when the segment before ``s`` is not
stored yet (another worker is still making it), the job classifies the ``LOOKBACK`` pairs
before ``s`` with the model idle, starting from an empty state.

That is exact once it has synced: a pair whose change score is below the threshold is
ordinary whatever the recent level (the level is never negative), and duplicates and holes
do not depend on the state at all, so after ``MOTION_WINDOW`` ordinary pairs that are
below the threshold (with none above it after them) the recent scores are the whole run's.
:meth:`SceneWarmup.report` says whether that happened before ``s``; with cut detection off
(``--scene-cut off``) the state never matters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.scenecut import MOTION_WINDOW, PairKind, SceneCutDetector

LOOKBACK = 64  # pairs classified before a run's first pair when its state is not recorded


@dataclass
class SceneWarmup:
    """The pairs before a run's first one, fed through the detector only."""

    detector: SceneCutDetector
    start_pair: int
    first_frame: int  # the first frame the reader hands over
    synced_after: int = 0  # ordinary pairs below the threshold since the last ambiguous one
    pairs: int = 0

    @classmethod
    def for_start(cls, detector: SceneCutDetector, start_pair: int, scene: list[float] | None,
                  lookback: int = LOOKBACK) -> SceneWarmup:
        """Nothing to rebuild at pair 0, with the recorded ``scene`` state, or with cut detection
        off (the state never matters then); else a lookback."""
        if start_pair == 0 or scene is not None or detector.threshold is None:
            if scene is not None:
                detector.recent.extend(scene)
            return cls(detector, start_pair, start_pair, MOTION_WINDOW)
        return cls(detector, start_pair, max(0, start_pair - lookback))

    @property
    def exact(self) -> bool:
        """Whether the detector now holds the state a whole run has at ``start_pair``."""
        return self.first_frame == 0 or self.detector.threshold is None or self.synced_after >= MOTION_WINDOW

    def feed(self, frame0, frame1) -> None:
        """Classify one pair before the run's first (``DecodedFrame`` s, consecutive)."""
        detector = self.detector
        level = float(np.median(detector.recent)) if detector.recent else 0.0
        kind = detector.classify(frame0.rgb, frame1.rgb, frame1.missing_before)
        self.pairs += 1
        if kind not in (PairKind.NORMAL, PairKind.CUT) or self.exact:
            return
        ambiguous = detector.threshold is not None and detector.last_score + level >= detector.threshold
        if ambiguous:
            self.synced_after = 0
        elif kind is PairKind.NORMAL:
            self.synced_after += 1

    def report(self, log: Callable[[str, str], None]) -> None:
        if self.first_frame == self.start_pair:
            return
        if self.exact:
            log("info", f"scene-cut state rebuilt from the {self.pairs} pairs before pair {self.start_pair + 1}")
        else:
            log("warning", f"scene-cut state rebuilt from only {self.pairs} pairs before pair {self.start_pair + 1}: "
                           "scene-cut decisions near it may differ from a whole run's")
