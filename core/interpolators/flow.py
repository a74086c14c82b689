"""``flow``: the weight-free default interpolator.

OpenCV DIS optical flow both ways on the CPU (concurrent calls in worker threads; OpenCV
releases the GIL), then on the frames' own device: flows reversed to time t by forward
splatting, both frames warped along them and blended by (1 - t) : t.

Flows are computed once per distinct pair; a repeated pair (several t for --factor 3/4, in one
batch or the next) reuses them. Frames up to ``full_res_pixels`` (640x480: all of Middlebury)
get full-resolution flow; larger frames are box-averaged by the smallest integer factor that
brings them to at most ``max_flow_pixels`` (720p -> 214x120, 1080p -> 240x135, 720x576 ->
180x144) for flow estimation and reversal, and only the warp runs at full size. The trade-off
is measured in BENCHMARKS.md (bench/flow_speed.py).
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
from core.interpolators.base import Interpolator
from core.interpolators.flow_ops import backward_warp, reverse_flow

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
MIN_FLOW_SIDE = 16  # DIS refuses frames smaller than its patches; smaller ones are edge-padded.
FULL_RES_PIXELS = 640 * 480
MAX_FLOW_PIXELS = 240 * 135
_LUMA = (0.299, 0.587, 0.114)


def flow_factor(h: int, w: int, full_res_pixels: int, max_flow_pixels: int) -> int:
    """Integer box-downscale factor for flow estimation: 1 up to full_res_pixels, else enough
    to bring the frame to at most max_flow_pixels."""
    if h * w <= full_res_pixels:
        return 1
    factor = max(1, math.ceil(math.sqrt(h * w / max(max_flow_pixels, 1))))
    while math.ceil(h / factor) * math.ceil(w / factor) > max_flow_pixels and factor < max(h, w):
        factor += 1
    return factor


def to_gray_u8(frame: torch.Tensor, factor: int = 1) -> np.ndarray:
    """(3, H, W) RGB in [0, 1] on any device -> (ceil(H/f), ceil(W/f)) uint8 luma on the CPU."""
    r, g, b = (255.0 * c for c in _LUMA)
    luma = (frame[0] * r).add_(frame[1], alpha=g).add_(frame[2], alpha=b)[None]
    if factor > 1:
        luma = F.avg_pool2d(luma, factor, ceil_mode=True)
    return np.ascontiguousarray(luma[0].round_().clamp_(0, 255).to(torch.uint8).cpu().numpy())


def same_content(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Exact equality of two frames; a strided sample rejects different frames cheaply first."""
    if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
        return False
    if not torch.equal(a[..., ::7, ::11], b[..., ::7, ::11]):
        return False
    return torch.equal(a, b)


def _warped_side(img: torch.Tensor, flow: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``img`` moved to time ``t`` along its own flow: the flow is reversed at flow resolution
    and the warp brings it up to frame size."""
    with torch.no_grad():
        flow_t, _ = reverse_flow(flow, t)
        return backward_warp(img, flow_t)


class FlowInterpolator(Interpolator):
    """DIS flow + flow reversal + bidirectional warp and blend; no weights."""

    name = "flow"
    # flow runs its own threads (DIS and the two warps); torch's intra-op threads on top of
    # them oversubscribe the CPU (measured 2.4x slower end to end on 2 cores), so the job
    # runs torch single-threaded while this model is on the CPU
    cpu_torch_threads = 1

    def __init__(
        self,
        preset: str = "medium",
        large_preset: str | None = None,
        finest_scale: int = 0,
        full_res_pixels: int = FULL_RES_PIXELS,
        max_flow_pixels: int = MAX_FLOW_PIXELS,
        threads: int = 2,
    ) -> None:
        large_preset = large_preset or preset
        for name in (preset, large_preset):
            if name not in PRESETS:
                raise ModelError(f"Unknown DIS preset {name!r}; choose one of: {', '.join(PRESETS)}.")
        self.preset = preset
        self.large_preset = large_preset  # for frames whose flow is estimated downscaled
        self.finest_scale = finest_scale
        self.full_res_pixels = full_res_pixels
        self.max_flow_pixels = max_flow_pixels
        self.threads = max(1, threads)
        self.device: torch.device | None = None
        self.flow_calls = 0  # DIS runs so far (two per distinct pair); tests and benches read it
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()  # one DIS instance per worker thread
        self._cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    # -- protocol -------------------------------------------------------------------------

    def load(self, device: torch.device) -> None:
        self.unload()
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
        # The two sides are independent: on the CPU they run on two worker threads (torch
        # releases the GIL), on CUDA the kernels are queued asynchronously anyway.
        if img0.device.type == "cpu" and self.threads > 1:
            side1 = self._pool.submit(_warped_side, img1, flow10, 1.0 - t)
            warped0 = _warped_side(img0, flow01, t)
            warped1 = side1.result()
        else:
            warped0 = _warped_side(img0, flow01, t)
            warped1 = _warped_side(img1, flow10, 1.0 - t)
        # a convex mix of bilinear samples of [0, 1] frames stays in [0, 1]
        return torch.lerp(warped0, warped1, t.to(img0.dtype).view(-1, 1, 1, 1))

    # -- flows ----------------------------------------------------------------------------

    def _make_dis(self, preset: str) -> cv2.DISOpticalFlow:
        dis = cv2.DISOpticalFlow_create(PRESETS[preset])
        dis.setFinestScale(self.finest_scale)
        return dis

    def _flows(self, img0: torch.Tensor, img1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flows 0->1 and 1->0 (B, 2, h, w) at flow resolution on the frames' device.

        Rows that repeat an earlier row of the batch, or the most recent pair of the previous
        call, reuse its flows; DIS runs once per remaining distinct pair.
        """
        source: list[int] = []  # row -> index into `distinct`
        distinct: list[int] = []
        for i in range(img0.shape[0]):
            for k, j in enumerate(distinct):
                if same_content(img0[i], img0[j]) and same_content(img1[i], img1[j]):
                    source.append(k)
                    break
            else:
                source.append(len(distinct))
                distinct.append(i)
        flows: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        todo: list[int] = []
        for k, i in enumerate(distinct):
            cache = self._cache
            if cache is not None and same_content(cache[0], img0[i]) and same_content(cache[1], img1[i]):
                flows[k] = (cache[2], cache[3])
            else:
                todo.append(k)
        if todo:
            computed = self._estimate(img0, img1, [distinct[k] for k in todo])
            flows.update(zip(todo, computed, strict=True))
            last = distinct[todo[-1]]
            self._cache = (img0[last].clone(), img1[last].clone(), *flows[todo[-1]])
        flow01 = torch.stack([flows[k][0] for k in source])
        flow10 = torch.stack([flows[k][1] for k in source])
        return flow01, flow10

    def _estimate(
        self, img0: torch.Tensor, img1: torch.Tensor, rows: list[int]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """DIS both ways for the given rows, all calls queued on the worker threads at once."""
        h, w = img0.shape[-2:]
        factor = flow_factor(h, w, self.full_res_pixels, self.max_flow_pixels)
        preset = self.preset if factor == 1 else self.large_preset
        grays = [
            (self._pool.submit(to_gray_u8, img0[i], factor), self._pool.submit(to_gray_u8, img1[i], factor))
            for i in rows
        ]
        jobs = []
        for g0, g1 in grays:
            a, b = g0.result(), g1.result()
            jobs.append(self._pool.submit(self._dis_flow, a, b, preset))
            jobs.append(self._pool.submit(self._dis_flow, b, a, preset))
        results = [job.result() for job in jobs]
        self.flow_calls += len(results)
        out = []
        for n in range(len(rows)):
            pair = np.stack(results[2 * n : 2 * n + 2])  # (2, h, w, 2): 0->1, 1->0
            flow = torch.from_numpy(pair).permute(0, 3, 1, 2).to(img0.device)
            out.append((flow[0], flow[1]))
        return out

    def _dis_flow(self, a: np.ndarray, b: np.ndarray, preset: str) -> np.ndarray:
        """One DIS call, (h, w, 2) float32; frames too small for DIS are edge-padded first."""
        h, w = a.shape
        ph, pw = max(0, MIN_FLOW_SIDE - h), max(0, MIN_FLOW_SIDE - w)
        if ph or pw:
            a = cv2.copyMakeBorder(a, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
            b = cv2.copyMakeBorder(b, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
        try:
            instances = self._local.__dict__.setdefault("dis", {})
            dis = instances.get(preset)
            if dis is None:
                dis = instances[preset] = self._make_dis(preset)
            flow = dis.calc(a, b, None)
        except cv2.error as exc:
            raise ModelError(f"Optical flow failed on a {w}x{h} frame: {exc.err}.") from None
        return flow[:h, :w]
