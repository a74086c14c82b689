"""Frames between host and device: pinned staging and two copy streams on CUDA.

On CUDA, uploads are staged in page-locked host memory and copied on an upload stream; an
event recorded after the copies is what the compute stream waits for. Downloads are queued
on a download stream that waits for an event recorded on the compute stream after the
forward, and come back as :class:`PendingDownload`, so the host converts and encodes one
batch while the GPU runs the next. With one stream for both directions the next batch's
uploads would queue behind the last download, itself behind the forward; with two, the
upload of batch N+1 overlaps forward N and download N. Small values (the timesteps) go the
same pinned way: a pageable ``.to(device)`` waits for the stream to drain.

Page-locked blocks come from PyTorch's caching host allocator, which does not hand a block
out again before the copies recorded on it have finished. Device tensors made on a copy
stream are marked as used by the stream that reads them next (``record_stream``), so the
allocator does not reuse them under it. Elsewhere the same calls are plain synchronous copies.

The CUDA calls go through :class:`CudaCalls`, so tests replace them and check the order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


class CudaCalls:
    """The CUDA calls :class:`Transfers` makes (tests substitute fakes that log them)."""

    def stream(self, device: torch.device) -> Any:
        return torch.cuda.Stream(device)

    def current_stream(self, device: torch.device) -> Any:
        return torch.cuda.current_stream(device)

    def use(self, stream: Any) -> contextlib.AbstractContextManager[object]:
        return torch.cuda.stream(stream)

    def event(self, timing: bool = False) -> Any:
        return torch.cuda.Event(enable_timing=timing)

    def pinned(self, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        return torch.empty(tuple(shape), dtype=dtype, pin_memory=True)

    def record_stream(self, tensor: torch.Tensor, stream: Any) -> None:
        tensor.record_stream(stream)


class PendingDownload:
    """Host copies of device tensors, usable once :meth:`ready` or after :meth:`wait`."""

    def __init__(
        self,
        host: list[torch.Tensor],
        done: Any = None,
        model_span: tuple[Any, Any] | None = None,
    ) -> None:
        self.host = host
        self.done = done
        self.model_span = model_span

    def ready(self) -> bool:
        return self.done is None or self.done.query()

    def wait(self) -> list[np.ndarray]:
        """Block until the copies have landed; the arrays share the host tensors' memory."""
        if self.done is not None:
            self.done.synchronize()
        return [t.numpy() for t in self.host]

    def model_seconds(self) -> float | None:
        """The GPU's own time for the forward behind this download (CUDA only, after wait)."""
        if self.model_span is None:
            return None
        start, end = self.model_span
        return start.elapsed_time(end) / 1000.0


def _torch_dtype(array: np.ndarray) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype=array.dtype)).dtype


class Transfers:
    """Uploads and downloads for one device; ``cuda`` replaces the CUDA calls (tests)."""

    def __init__(self, device: torch.device, cuda: CudaCalls | None = None) -> None:
        self.device = torch.device(device)
        self.calls = cuda if cuda is not None else CudaCalls() if self.device.type == "cuda" else None
        self.cuda = self.calls is not None
        self.upload_stream = self.calls.stream(self.device) if self.calls else None
        self.download_stream = self.calls.stream(self.device) if self.calls else None

    def upload(self, arrays: list[np.ndarray]) -> list[torch.Tensor]:
        """Copies of host arrays on the device, ready for the current stream to use."""
        if self.calls is None:
            return [torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in arrays]
        staged = []
        for array in arrays:
            pinned = self.calls.pinned(array.shape, _torch_dtype(array))
            pinned.numpy()[...] = array
            staged.append(pinned)
        return self._send(staged)

    def timesteps(self, values: Sequence[float]) -> torch.Tensor:
        """The batch's timesteps, float32 on the device, without a synchronising copy."""
        if self.calls is None:
            return torch.tensor(list(values), dtype=torch.float32, device=self.device)
        pinned = self.calls.pinned((len(values),), torch.float32)
        pinned.numpy()[...] = values
        return self._send([pinned])[0]

    def _send(self, staged: list[torch.Tensor]) -> list[torch.Tensor]:
        """Pinned host tensors to the device on the upload stream; the compute stream waits
        for them through an event, and nothing waits for the compute stream."""
        assert self.calls is not None
        compute = self.calls.current_stream(self.device)
        with self.calls.use(self.upload_stream):
            on_device = []
            for pinned in staged:
                target = torch.empty(pinned.shape, dtype=pinned.dtype, device=self.device)
                target.copy_(pinned, non_blocking=True)
                on_device.append(target)
            uploaded = self.calls.event()
            uploaded.record(self.upload_stream)
        compute.wait_event(uploaded)
        for tensor in on_device:
            self.calls.record_stream(tensor, compute)  # made on the upload stream, read on compute
        return on_device

    def mark(self) -> Any:
        """A timing event on the compute stream (None off CUDA)."""
        if self.calls is None:
            return None
        event = self.calls.event(timing=True)
        event.record(self.calls.current_stream(self.device))
        return event

    def download(
        self,
        tensors: list[torch.Tensor],
        model_span: tuple[Any, Any] = (None, None),
    ) -> PendingDownload:
        """Host copies of ``tensors``, queued on the download stream behind the work that
        makes them (an event on the compute stream), not behind any upload."""
        if self.calls is None:
            return PendingDownload([t.cpu() for t in tensors])
        produced = self.calls.event()
        produced.record(self.calls.current_stream(self.device))
        self.download_stream.wait_event(produced)
        with self.calls.use(self.download_stream):
            host = [self.calls.pinned(t.shape, t.dtype) for t in tensors]
            for target, source in zip(host, tensors, strict=True):
                target.copy_(source, non_blocking=True)
                self.calls.record_stream(source, self.download_stream)  # not reused before read
            done = self.calls.event()
            done.record(self.download_stream)
        start, end = model_span
        return PendingDownload(host, done, (start, end) if start and end else None)
