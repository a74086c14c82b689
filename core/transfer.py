"""Frames between host and device: pinned staging and a copy stream on CUDA.

On CUDA, uploads are staged in page-locked host memory and copied on a stream of their own,
and the model's stream waits for them; downloads are queued on that stream behind the
forward that made them and handed back as :class:`PendingDownload`, so the host converts
and encodes one batch while the GPU runs the next. Page-locked blocks come from PyTorch's
caching host allocator, which does not hand a block out again before the copies recorded
on it have finished. Elsewhere the same calls are plain synchronous copies.
"""

from __future__ import annotations

import numpy as np
import torch


class PendingDownload:
    """Host copies of device tensors, usable once :meth:`ready` or after :meth:`wait`."""

    def __init__(
        self,
        host: list[torch.Tensor],
        done: torch.cuda.Event | None = None,
        model_span: tuple[torch.cuda.Event, torch.cuda.Event] | None = None,
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


class Transfers:
    """Uploads and downloads for one device."""

    def __init__(self, device: torch.device) -> None:
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.stream = torch.cuda.Stream(self.device) if self.cuda else None

    def upload(self, arrays: list[np.ndarray]) -> list[torch.Tensor]:
        """Copies of host arrays on the device, ready for the current stream to use."""
        if self.stream is None:
            return [torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in arrays]
        staged = []
        for array in arrays:
            dtype = torch.from_numpy(np.empty(0, dtype=array.dtype)).dtype
            pinned = torch.empty(array.shape, dtype=dtype, pin_memory=True)
            pinned.numpy()[...] = array
            staged.append(pinned)
        compute = torch.cuda.current_stream(self.device)
        with torch.cuda.stream(self.stream):
            on_device = [p.to(self.device, non_blocking=True) for p in staged]
        compute.wait_stream(self.stream)
        for tensor in on_device:
            tensor.record_stream(compute)  # made on the copy stream, used on the compute one
        return on_device

    def mark(self) -> torch.cuda.Event | None:
        """A timing event on the compute stream (None off CUDA)."""
        if not self.cuda:
            return None
        event = torch.cuda.Event(enable_timing=True)
        event.record(torch.cuda.current_stream(self.device))
        return event

    def download(
        self,
        tensors: list[torch.Tensor],
        model_span: tuple[torch.cuda.Event | None, torch.cuda.Event | None] = (None, None),
    ) -> PendingDownload:
        """Host copies of ``tensors``, queued behind the work that makes them."""
        if self.stream is None:
            return PendingDownload([t.cpu() for t in tensors])
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.stream):
            host = [torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for t in tensors]
            for target, source in zip(host, tensors, strict=True):
                target.copy_(source, non_blocking=True)
                source.record_stream(self.stream)  # not reused before the copy has read it
            done = torch.cuda.Event()
            done.record(self.stream)
        start, end = model_span
        return PendingDownload(host, done, (start, end) if start and end else None)
