"""The model side of a job: tensors in, forwards with out-of-memory back-off, results out.

:class:`ModelRunner` converts each input frame to a tensor once, runs requests through the
interpolator in batches (halving the batch, retrying, then degrading the model when memory
runs out), and hands back where each result will come from; on CUDA the copies to the host
are still under way then, and :meth:`ModelRunner.fetch` waits for one only when asked to.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass

import av
import numpy as np
import torch

from core import cpu_threads
from core.errors import FramedeckError, ModelError
from core.events import BatchChanged, EventCallback, OomBackoff
from core.faults import FaultPlan
from core.frame_path import FramePath
from core.interpolators.base import Interpolator
from core.job_control import JobControl
from core.job_slots import Picture, Request
from core.memory import (
    clean_up,
    cuda_facts,
    degrade,
    empty_device_cache,
    gib,
    is_out_of_memory,
    preflight,
)
from core.transfer import PendingDownload, Transfers
from core.video.reader import DecodedFrame

MAX_IN_FLIGHT = 2  # batches whose results may still be on their way from the GPU
RESULT_POLL = 0.0005  # seconds between looks at a GPU result being waited for


@dataclass
class Batch:
    """One forward's results on their way to the host (see core/transfer.py)."""

    pending: PendingDownload
    pictures: list[np.ndarray | av.VideoFrame] | None = None


class ModelRunner:
    """Runs one loaded interpolator for a job; ``batch`` is the pairs per forward now."""

    def __init__(
        self,
        model: Interpolator,
        device: torch.device,
        control: JobControl,
        faults: FaultPlan,
        emit: EventCallback,
        model_name: str,
    ) -> None:
        self.model = model
        self.device = device
        self.control = control
        self.faults = faults
        self.emit = emit
        self.model_name = model_name  # the user's name for it, in error messages
        self.batch = 1
        self.forwards = 0
        self.interpolated = 0
        self.tensors: dict[int, torch.Tensor] = {}
        self.in_flight: list[Batch] = []
        self.holds_threads = False
        self.frame_path: FramePath | None = None
        self.transfers = Transfers(torch.device("cpu"))

    # -- setup and release ------------------------------------------------------------------

    def load(self) -> None:
        """Load the model onto the device, with notes logged and CPU threads as it asks."""
        self.model.on_note = lambda message: self.control.log("warning", message)
        self.model.load(self.device)
        if self.model.graphed is not None:
            self.control.log("info", "CUDA graphs on: each batch shape is captured on its second use")
        threads = self.model.cpu_torch_threads
        if self.device.type == "cpu" and threads:
            cpu_threads.hold(threads)  # process-wide: counted, so other workers' runs keep it
            self.holds_threads = True

    def use(self, frame_path: FramePath, transfers: Transfers) -> None:
        """The frame path that converts pictures to and from tensors, and its transfers."""
        self.frame_path = frame_path
        self.transfers = frame_path.transfers = transfers

    def choose_batch(self, height: int, width: int, requested: int | None) -> int:
        """The user's --batch, else 1 on the CPU, else the preflight's choice on CUDA."""
        self.batch = self._choose_batch(height, width, requested)
        return self.batch

    def _choose_batch(self, height: int, width: int, requested: int | None) -> int:
        if self.device.type != "cuda":
            return requested or 1
        self.control.log("info", cuda_facts(self.device))
        if requested:
            return requested
        remembered = getattr(self.model, "batches", None)  # a held replica: the same clip's earlier range
        if isinstance(remembered, dict) and (height, width) in remembered:
            batch = remembered[(height, width)]
            self.control.log("info", f"batch {batch}: as this device's earlier ranges of the clip")
            return batch
        for _ in range(4):
            choice = preflight(self.model, self.device, height, width)
            if choice.batch >= 1:
                self.control.log("info", f"batch {choice.batch}: {choice.reason}")
                if isinstance(remembered, dict) and getattr(self.model, "held", None) is not None:
                    remembered[(height, width)] = choice.batch
                return choice.batch
            self.free_cached_memory()
            try:
                self.model = degrade(self.model)
            except ModelError:
                break
            self.control.log("warning", f"one pair does not fit ({choice.reason}); trying {self.model.name}")
        raise ModelError(
            f"One pair at {width}x{height} needs {gib(choice.per_pair_bytes)} of GPU memory "
            f"but only {gib(choice.free_bytes)} is free."
        )

    def release(self) -> list[str]:
        """Unload the model, restore torch's threads and drop every tensor held; an unload that
        raises (after a CUDA error) does not stop the rest. Returns the failures, one line each."""
        failures = clean_up([("unloading the model", self.model.unload)])
        if self.holds_threads:
            cpu_threads.release()
            self.holds_threads = False
        self.tensors.clear()
        self.in_flight.clear()
        return failures

    # -- requests in, results out -----------------------------------------------------------

    def run(self, requests: Sequence[Request]) -> None:
        """Interpolate ``requests`` and point each one's slot at where its picture will come from."""
        if not requests:
            return
        for request, source in zip(requests, self.forward(requests), strict=True):
            request.slot.source = source
        self.interpolated += len(requests)
        keep = requests[-1].frame1.index  # frame 0 of the next pair: convert it only once
        for key in [k for k in self.tensors if k != keep]:
            del self.tensors[key]

    def fetch(self, source: tuple[Batch, int], final: bool) -> Picture | None:
        """The picture at ``source``, or None while its batch is still on its way.

        A batch still on its way is waited for only when ``final``, or when more than
        :data:`MAX_IN_FLIGHT` batches are; otherwise the next look takes it.
        """
        batch, row = source
        if batch.pictures is None:
            waiting = final or len(self.in_flight) > MAX_IN_FLIGHT
            if not waiting and not batch.pending.ready():
                return None
            self.resolve(batch)
        assert batch.pictures is not None
        return batch.pictures[row]

    def tensor(self, frame: DecodedFrame) -> torch.Tensor:
        """(3, H, W) float in [0, 1] on the job's device, converted once per frame."""
        cached = self.tensors.get(frame.index)
        if cached is None:
            assert self.frame_path is not None
            start = self.control.clock()
            cached = self.frame_path.to_tensor(frame, self.device)
            self.control.add_time("upload", self.control.clock() - start)
            self.tensors[frame.index] = cached
        return cached

    # -- model calls with out-of-memory back-off ----------------------------------------------

    def forward(self, requests: Sequence[Request]) -> list[tuple[Batch, int]]:
        """Interpolate ``requests``; on out-of-memory, free, back off and redo the same pairs.

        Returns where each request's picture will come from: on CUDA the results are still
        being copied to the host when this returns (see :meth:`resolve`).
        """
        assert self.frame_path is not None
        control = self.control
        results: list[tuple[Batch, int]] = []
        i = 0
        retried_at_one = False
        while i < len(requests):
            chunk = requests[i : i + self.batch]
            self.forwards += 1
            control.stage = "model"
            start = control.clock()
            try:
                self.faults.before_forward(self.forwards, control.abort)
                control.raise_if_stalled()
                img0 = torch.stack([self.tensor(r.frame0) for r in chunk])
                img1 = torch.stack([self.tensor(r.frame1) for r in chunk])
                t = self.transfers.timesteps([r.t for r in chunk])  # pinned: no host stall
                began = self.transfers.mark()
                with torch.inference_mode():
                    if self.model.takes_frame_keys:  # frames known by index
                        keys = ([r.frame0.index for r in chunk], [r.frame1.index for r in chunk])
                        out = self.model.interpolate(img0, img1, t, keys=keys)  # type: ignore[call-arg]
                    else:
                        out = self.model.interpolate(img0, img1, t)
                    ended = self.transfers.mark()
                    modelled = control.clock()
                    on_device = self.frame_path.device_output(out)
            except FramedeckError:
                raise
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise ModelError(f"The model {self.model_name!r} failed: {exc}") from exc
                detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                del exc
                img0 = img1 = t = out = on_device = None  # let the failed batch go
                self.free_cached_memory()
                retried_at_one = self.back_off(detail, retried_at_one)
                continue
            if began is None:  # off CUDA the forward has finished here; on CUDA see resolve()
                control.add_time("model", modelled - start)
            control.add_time("download", control.clock() - modelled)
            batch = Batch(self.transfers.download(on_device, (began, ended)))
            self.in_flight.append(batch)
            results.extend((batch, row) for row in range(len(chunk)))
            i += len(chunk)
            retried_at_one = False
        return results

    def resolve(self, batch: Batch) -> None:
        """Wait for a batch's copy to the host and turn it into pictures for the writer.

        The wait polls, so a GPU that never finishes is a stall the monitor can report and
        ``--stall-timeout`` can end, not a thread blocked for good.
        """
        assert self.frame_path is not None
        control = self.control
        stage, control.stage = control.stage, "model"
        while not batch.pending.ready():  # the GPU is still on it: that time is the model's,
            control.raise_if_stalled()  # which its CUDA events measure, so no timer counts it here
            control.sleep(RESULT_POLL)
        control.stage = stage
        start = control.clock()
        arrays = batch.pending.wait()
        batch.pictures = self.frame_path.from_host(arrays)
        control.add_time("download", control.clock() - start)
        gpu_seconds = batch.pending.model_seconds()
        if gpu_seconds is not None:
            control.add_time("model", gpu_seconds)
        self.in_flight.remove(batch)

    def free_cached_memory(self) -> None:
        self.model.drop_graphs()
        gc.collect()
        empty_device_cache(self.device)

    def back_off(self, detail: str, retried_at_one: bool) -> bool:
        """Halve the batch; at batch 1 retry once, then lower the scale or tile.

        Returns whether the next try is a retry at batch 1.
        """
        old = self.batch
        if self.batch > 1:
            self.batch = max(1, self.batch // 2)
            action = f"batch {old} -> {self.batch}"
            self.emit(BatchChanged(self.batch, "out-of-memory back-off"))
            retry = False
        elif not retried_at_one:
            action = "retrying the same pair once after freeing memory"
            retry = True
        else:
            self.model = degrade(self.model)
            action = f"now running {self.model.name}"
            retry = False
        scale = float(self.model.scale or 1.0)
        self.emit(OomBackoff(old, self.batch, scale, f"{detail}; {action}"))
        self.control.log("warning", f"out of memory ({detail}): {action}; the same pairs are redone")
        return retry
