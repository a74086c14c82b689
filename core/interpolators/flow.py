"""``flow``: the weight-free default interpolator.

OpenCV DIS optical flow both ways on the CPU (two threads; OpenCV releases the GIL), then on
the frames' own device: flows reversed to time t by forward splatting, both frames warped
along them and blended by (1 - t) : t. Flows are computed once per distinct pair; a repeated
pair (several t for --factor 3/4, in one batch or the next) reuses them.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.errors import ModelError
from core.interpolators.flow_ops import backward_warp, reverse_flow

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
MIN_FLOW_SIDE = 16  # DIS refuses frames smaller than its patches; smaller ones are edge-padded.
DEFAULT_MAX_FLOW_PIXELS = 640 * 480  # Middlebury keeps full resolution; 720p is estimated smaller.


def to_gray_u8(frames: torch.Tensor) -> list[np.ndarray]:
    """(B, 3, H, W) RGB in [0, 1] on any device -> B contiguous (H, W) uint8 luma arrays on the CPU."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=frames.device, dtype=frames.dtype)
    luma = (frames * weights.view(1, 3, 1, 1)).sum(1).mul(255.0).round().clamp(0, 255)
    host = luma.to(torch.uint8).cpu().numpy()
    return [np.ascontiguousarray(g) for g in host]


def flow_size(h: int, w: int, max_pixels: int) -> tuple[int, int]:
    """(height, width) at which flow is estimated: the frame's own, or scaled to max_pixels."""
    if h * w <= max_pixels:
        return h, w
    scale = math.sqrt(max_pixels / float(h * w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def upscale_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (B, 2, h, w) flow to ``size`` with its vectors rescaled to match."""
    h, w = flow.shape[-2:]
    if (h, w) == tuple(size):
        return flow
    out = F.interpolate(flow, size=tuple(size), mode="bilinear", align_corners=False)
    gain = torch.tensor([size[1] / w, size[0] / h], device=flow.device, dtype=flow.dtype)
    return out * gain.view(1, 2, 1, 1)


class FlowInterpolator:
    """DIS flow + flow reversal + bidirectional warp and blend; no weights."""

    name = "flow"

    def __init__(
        self,
        preset: str = "medium",
        finest_scale: int = 0,
        max_flow_pixels: int = DEFAULT_MAX_FLOW_PIXELS,
        threads: int = 2,
    ) -> None:
        if preset not in PRESETS:
            raise ModelError(f"Unknown DIS preset {preset!r}; choose one of: {', '.join(PRESETS)}.")
        self.preset = preset
        self.finest_scale = finest_scale
        self.max_flow_pixels = max_flow_pixels
        self.threads = max(1, threads)
        self.device: torch.device | None = None
        self.flow_calls = 0  # DIS runs so far (two per distinct pair); tests and benches read it
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()  # one DIS instance per worker thread
        self._cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    # -- protocol -------------------------------------------------------------------------

    def load(self, device: torch.device) -> None:
        self.device = torch.device(device)
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="dis")
        self._local = threading.local()
        self._cache = None

    def unload(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._pool = None
        self._local = threading.local()
        self._cache = None

    def interpolate(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self._pool is None:
            self.load(img0.device)
        flow01, flow10 = self._flows(img0, img1)
        t = t.to(device=img0.device, dtype=torch.float32).view(-1)
        # Reversal runs at flow resolution; only the reversed flows are brought up to frame size.
        flow_t0, _ = reverse_flow(flow01, t)
        flow_t1, _ = reverse_flow(flow10, 1.0 - t)
        flow_t = upscale_flow(torch.cat([flow_t0, flow_t1]), img0.shape[-2:]).to(img0.dtype)
        b = img0.shape[0]
        warped0 = backward_warp(img0, flow_t[:b])
        warped1 = backward_warp(img1, flow_t[b:])
        w1 = t.to(img0.dtype).view(-1, 1, 1, 1)
        return (warped0 + (warped1 - warped0) * w1).clamp_(0.0, 1.0)

    # -- flows ----------------------------------------------------------------------------

    def _make_dis(self) -> cv2.DISOpticalFlow:
        dis = cv2.DISOpticalFlow_create(PRESETS[self.preset])
        dis.setFinestScale(self.finest_scale)
        return dis

    def _flows(self, img0: torch.Tensor, img1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flows 0->1 and 1->0 (B, 2, h, w) at flow resolution on the frames' device, once per distinct pair."""
        b = img0.shape[0]
        source: list[int] = []  # row -> index into `distinct`
        distinct: list[int] = []  # rows whose flows must be computed (or come from the cache)
        for i in range(b):
            for k, j in enumerate(distinct):
                if torch.equal(img0[i], img0[j]) and torch.equal(img1[i], img1[j]):
                    source.append(k)
                    break
            else:
                source.append(len(distinct))
                distinct.append(i)
        flows: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(distinct)
        todo: list[int] = []
        for k, i in enumerate(distinct):
            if self._cache is not None and self._matches_cache(img0[i], img1[i]):
                flows[k] = (self._cache[2], self._cache[3])
            else:
                todo.append(k)
        if todo:
            rows = [distinct[k] for k in todo]
            computed = self._estimate(img0[rows], img1[rows])
            for n, k in enumerate(todo):
                flows[k] = (computed[0][n], computed[1][n])
            last = rows[-1]
            self._cache = (img0[last].clone(), img1[last].clone(), *flows[todo[-1]])
        flow01 = torch.stack([flows[k][0] for k in source])
        flow10 = torch.stack([flows[k][1] for k in source])
        return flow01, flow10

    def _matches_cache(self, row0: torch.Tensor, row1: torch.Tensor) -> bool:
        c0, c1 = self._cache[0], self._cache[1]
        return (
            c0.shape == row0.shape
            and c0.device == row0.device
            and c0.dtype == row0.dtype
            and torch.equal(c0, row0)
            and torch.equal(c1, row1)
        )

    def _estimate(self, img0: torch.Tensor, img1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """DIS both ways for every row, two calls at a time, at flow resolution (see flow_size)."""
        h, w = img0.shape[-2:]
        fh, fw = flow_size(h, w, self.max_flow_pixels)
        gray = to_gray_u8(torch.cat([img0, img1]))
        if (fh, fw) != (h, w):
            gray = [cv2.resize(g, (fw, fh), interpolation=cv2.INTER_AREA) for g in gray]
        b = img0.shape[0]
        jobs = [(gray[i], gray[b + i]) for i in range(b)] + [(gray[b + i], gray[i]) for i in range(b)]
        futures = [self._pool.submit(self._dis_flow, a, c) for a, c in jobs]
        results = [f.result() for f in futures]
        self.flow_calls += len(jobs)
        flow = torch.from_numpy(np.stack(results)).permute(0, 3, 1, 2).to(img0.device)
        return flow[:b].contiguous(), flow[b:].contiguous()

    def _dis_flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """One DIS call on a (H, W, 2) float32 result; small frames are edge-padded for DIS."""
        h, w = a.shape
        ph, pw = max(0, MIN_FLOW_SIDE - h), max(0, MIN_FLOW_SIDE - w)
        if ph or pw:
            a = cv2.copyMakeBorder(a, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
            b = cv2.copyMakeBorder(b, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
        try:
            dis = getattr(self._local, "dis", None)
            if dis is None:
                dis = self._local.dis = self._make_dis()
            flow = dis.calc(a, b, None)
        except cv2.error as exc:
            raise ModelError(f"Optical flow failed on a {w}x{h} frame: {exc.err}.") from None
        return flow[:h, :w]
