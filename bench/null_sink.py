"""A null sink in place of the job's encoder, to separate the encoder's limit from the rest.

``run_job(..., writer_factory=NullSinkWriter)`` puts it in place of the encoder. The sink
takes each frame as ``VideoWriter.write`` would and drops it: no colour conversion, no encoder, no file. Everything before it (decode thread,
upload, model, download, scene-cut check, output ordering) runs unchanged.
"""

from __future__ import annotations

import av
import numpy as np


class NullSinkWriter:
    """Accepts the frames ``run_job`` writes and counts them; writes nothing anywhere."""

    codec_name = "null sink"

    def __init__(self, output: object, *, width: int, height: int, **_: object) -> None:
        self.output = output
        self.width, self.height = width, height
        self.notes: list[str] = []
        self.frames_written = 0
        self.encode_seconds = 0.0
        self._last_pts: int | None = None

    def __enter__(self) -> NullSinkWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, frame: np.ndarray | av.VideoFrame, pts: int) -> None:
        """Check what VideoWriter checks (size, increasing pts), then drop the frame."""
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(f"pts must increase: {pts} after {self._last_pts}")
        height, width = (frame.shape[0], frame.shape[1]) if isinstance(frame, np.ndarray) else (frame.height, frame.width)
        if (width, height) != (self.width, self.height):
            raise ValueError(f"frame is {width}x{height}, sink is {self.width}x{self.height}")
        self._last_pts = pts
        self.frames_written += 1

    def finish(self, end_pts: int | None = None) -> None:
        return None

    def abort(self) -> None:
        return None
