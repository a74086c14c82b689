"""A cheap look at the job's work: the latest interpolated frame and its two neighbours,
as small RGB copies taken at most every ``every`` seconds.

The job calls :meth:`FrameTap.offer_pair` when it schedules a pair and
:meth:`FrameTap.offer_slot` after writing each output frame; both return at once unless a
copy is due, and a copy is three small resizes (swscale for PyAV frames, strided numpy for
arrays), so the pipeline never waits on the screen. The console reads :meth:`latest` from
its own thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

PREVIEW_WIDTH = 192  # pixels kept per frame: enough for a terminal, a few tens of KiB


@dataclass(frozen=True)
class PreviewFrames:
    """Three (h, w, 3) uint8 RGB copies: the pair's first frame, the made one, the second."""

    before: np.ndarray
    made: np.ndarray
    after: np.ndarray
    pair: int  # the input pair (its first frame's index)
    taken: float  # the tap's clock when taken


def small_rgb(picture: Any, width: int = PREVIEW_WIDTH) -> np.ndarray:
    """A copy of ``picture`` (a PyAV frame, or an (H, W, 3) uint8/uint16 RGB array) at most
    ``width`` pixels wide, aspect kept, as uint8 RGB."""
    if isinstance(picture, av.VideoFrame):
        w = min(width, picture.width)
        h = max(1, round(picture.height * w / picture.width))
        # a reformatter of our own: the frame's cached one may be in use by the encoder thread
        return VideoReformatter().reformat(picture, width=w, height=h, format="rgb24").to_ndarray()
    array = np.asarray(picture)
    step = max(1, -(-array.shape[1] // width))  # ceil: never wider than ``width``
    small = array[::step, ::step, :3]
    if small.dtype == np.uint16:
        small = small >> 8
    return np.ascontiguousarray(small, dtype=np.uint8)


class FrameTap:
    """Takes a :class:`PreviewFrames` at most every ``every`` seconds (``clock`` injected)."""

    def __init__(self, every: float = 2.0, width: int = PREVIEW_WIDTH,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.width = width
        self.clock = clock
        self._last = -float("inf")
        self._pending: tuple[int, Any, Any, Any] | None = None  # pair, its frames' RGB, frame 0's source
        self._latest: PreviewFrames | None = None
        self._lock = threading.Lock()
        self.taken = 0

    def offer_pair(self, index: int, frame0: Any, frame1: Any) -> None:
        """A pair the model will interpolate (its DecodedFrames); remembered when a copy is due."""
        if self._pending is not None and index <= self._pending[0]:  # a new clip (or a retry)
            self._pending = None  # began: the remembered pair was never written
        if self._pending is None and self.clock() - self._last >= self.every:
            # the pipeline's own RGB copies (decoded frames are shared with the encoder thread)
            self._pending = (index, frame0.rgb, frame1.rgb, frame0.source)

    def offer_slot(self, pair: int, picture: Any) -> None:
        """An output frame was written: take the copy if it is the remembered pair's made frame
        (not its first frame, which slots at t = 0 and across cuts hold)."""
        pending = self._pending
        if pending is None or pair != pending[0] or picture is None or picture is pending[3]:
            return
        self._pending = None
        now = self.clock()
        self._last = now
        try:
            frames = PreviewFrames(small_rgb(pending[1], self.width), small_rgb(picture, self.width),
                                   small_rgb(pending[2], self.width), pair, now)
        except Exception:  # a picture that cannot be shown is no reason to stop a job
            return
        with self._lock:
            self._latest = frames
            self.taken += 1

    def latest(self) -> PreviewFrames | None:
        with self._lock:
            return self._latest
