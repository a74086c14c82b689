"""ffmpeg's minterpolate run in process through PyAV's filter graph (there is no ffmpeg binary).

Settings: mi_mode=mci, mc_mode=aobmc, me_mode=bidir, scd=none, doubling the frame rate.
The graph receives rgb24 and lets ffmpeg negotiate the pixel format, as the ffmpeg command
line does for PNG input (it picks yuv444p), and converts the result back to rgb24.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction

import av
import av.filter
import numpy as np
import torch

from bench.middlebury import to_uint8
from core.interpolators.base import Interpolator

OPTIONS = "mi_mode=mci:mc_mode=aobmc:me_mode=bidir:scd=none"


def doubled(frames: Iterable[np.ndarray], fps: int = 1) -> Iterator[np.ndarray]:
    """Streams (H, W, 3) uint8 RGB frames through minterpolate at 2*fps; yields every output frame.

    Output k (pts k in 1/(2*fps)) is input k/2 for even k and the frame between inputs
    (k-1)/2 and (k+1)/2 for odd k. minterpolate emits a frame only once the next input has
    arrived, so the last input is pushed twice and outputs past the last input are dropped.
    """
    graph: av.filter.Graph | None = None
    count = 0
    last: np.ndarray | None = None
    emitted = 0

    def drain() -> Iterator[np.ndarray]:
        nonlocal emitted
        while True:
            try:
                out = graph.pull()
            except (BlockingIOError, av.error.EOFError):
                return
            if emitted <= 2 * (count - 1):
                emitted += 1
                yield out.to_ndarray(format="rgb24")

    for rgb in frames:
        if graph is None:
            h, w = rgb.shape[:2]
            graph = av.filter.Graph()
            graph.link_nodes(
                graph.add_buffer(width=w, height=h, format="rgb24", time_base=Fraction(1, fps)),
                graph.add("minterpolate", f"fps={2 * fps}:{OPTIONS}"),
                graph.add("format", "rgb24"),
                graph.add("buffersink"),
            ).configure()
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = count, Fraction(1, fps)
        graph.push(frame)
        count += 1
        last = rgb
        yield from drain()
    if graph is None or last is None:
        return
    frame = av.VideoFrame.from_ndarray(last, format="rgb24")
    frame.pts, frame.time_base = count, Fraction(1, fps)
    graph.push(frame)
    yield from drain()


class MinterpolateInterpolator(Interpolator):
    """minterpolate behind the Interpolator protocol, for scoring; only t = 0.5 is supported."""

    name = "minterpolate"

    def load(self, device: torch.device) -> None:
        self.device = torch.device(device)

    def interpolate(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if not bool(torch.all(t == 0.5)):
            raise ValueError("minterpolate here only doubles the frame rate (t = 0.5)")
        rows = []
        for a, b in zip(img0, img1, strict=True):
            outputs = list(doubled([to_uint8(a), to_uint8(b)]))
            middle = torch.from_numpy(outputs[1]).permute(2, 0, 1).float().div(255.0)
            rows.append(middle.to(img0.device))
        return torch.stack(rows)

    def unload(self) -> None:
        pass
