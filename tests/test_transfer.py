"""Host <-> device transfers: plain copies on the CPU; pinned memory, an upload and a download
stream on CUDA (the stream and event logic checked on the CPU with the CUDA calls faked)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from core.transfer import CudaCalls, Transfers

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def planes(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 256, (72, 128), dtype=np.uint8)
    padded = rng.integers(0, 256, (36, 80), dtype=np.uint8)
    return [y, padded[:, :64], padded[:, 8:72]]  # chroma planes with line padding, as PyAV's


def round_trip(device: str, seed: int) -> tuple[list[np.ndarray], list[np.ndarray], object]:
    transfers = Transfers(torch.device(device))
    sent = planes(seed)
    on_device = transfers.upload(sent)
    assert all(t.device.type == torch.device(device).type for t in on_device)
    began = transfers.mark()
    doubled = [t.mul(2) for t in on_device]  # some work on the compute stream
    ended = transfers.mark()
    pending = transfers.download(doubled, (began, ended))
    return sent, pending.wait(), pending


def test_cpu_round_trip_is_exact_and_ready_at_once():
    sent, back, pending = round_trip("cpu", 1)
    assert pending.ready() and pending.model_seconds() is None
    assert all(np.array_equal(b, (s * 2).astype(np.uint8)) for s, b in zip(sent, back, strict=True))


@needs_cuda
def test_cuda_round_trip_through_pinned_memory_and_the_copy_stream():
    results = [round_trip("cuda", seed) for seed in range(6)]  # blocks are recycled between them
    for sent, back, pending in results:
        assert all(np.array_equal(b, (s * 2).astype(np.uint8)) for s, b in zip(sent, back, strict=True))
        assert pending.ready() and pending.model_seconds() >= 0
        assert all(t.is_pinned() for t in pending.host)


def test_releasing_pinned_memory_is_safe_without_cuda():
    from core.memory import release_pinned_memory

    release_pinned_memory()  # clean-up code: must not raise on a machine without CUDA


def pinned_bytes() -> int:
    stats = torch.cuda.memory.host_memory_stats()
    for key in ("allocated_bytes.current", "reserved_bytes.current"):
        if key in stats:
            return int(stats[key])
    pytest.skip(f"this torch reports no pinned byte count ({sorted(stats)[:6]})")


@needs_cuda
def test_pinned_blocks_go_back_after_a_job_releases_them():
    from core.memory import release_pinned_memory

    round_trip("cuda", 9)
    torch.cuda.synchronize()
    assert pinned_bytes() > 0  # the staging blocks stay cached for the next batch...
    release_pinned_memory()
    assert pinned_bytes() == 0  # ...until the job's clean-up hands them back


# ------------------------------------------------------------ the CUDA logic, calls faked


class FakeEvent:
    count = 0

    def __init__(self, log: list[tuple], timing: bool) -> None:
        FakeEvent.count += 1
        self.name, self.log, self.timing = f"e{FakeEvent.count}", log, timing

    def record(self, stream: FakeStream) -> None:
        self.log.append(("record", self.name, stream.name))

    def query(self) -> bool:
        return True

    def synchronize(self) -> None:
        pass

    def elapsed_time(self, other: FakeEvent) -> float:
        return 5.0


class FakeStream:
    def __init__(self, name: str, log: list[tuple]) -> None:
        self.name, self.log = name, log

    def wait_event(self, event: FakeEvent) -> None:
        self.log.append(("wait", self.name, event.name))

    def wait_stream(self, other: FakeStream) -> None:
        self.log.append(("wait for stream", self.name, other.name))


class FakeCuda(CudaCalls):
    """Streams and events that log what is queued where; copies are real CPU copies, logged
    with the stream current when they were made and whether they were asynchronous."""

    def __init__(self) -> None:
        self.log: list[tuple] = []
        self.made = iter(("upload", "download"))
        self.compute = FakeStream("compute", self.log)
        self.current = self.compute

    def stream(self, device):
        return FakeStream(next(self.made), self.log)

    def current_stream(self, device):
        return self.current

    @contextlib.contextmanager
    def use(self, stream):
        previous, self.current = self.current, stream
        try:
            yield
        finally:
            self.current = previous

    def event(self, timing=False):
        return FakeEvent(self.log, timing)

    def pinned(self, shape, dtype):
        self.log.append(("pinned", tuple(shape)))
        return torch.empty(tuple(shape), dtype=dtype)

    def record_stream(self, tensor, stream):
        self.log.append(("record_stream", stream.name))


class LogCopies(TorchDispatchMode):
    """Logs each copy with the fake's current stream; flags anything that waits for the host."""

    def __init__(self, cuda: FakeCuda) -> None:
        super().__init__()
        self.cuda = cuda

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        name = func.__name__.split(".")[0]
        kwargs = kwargs or {}
        if name in ("copy_", "_to_copy"):
            blocking = not (kwargs.get("non_blocking") or (len(args) > 2 and args[2]))
            self.cuda.log.append(("copy", self.cuda.current.name, "blocking" if blocking else "async"))
        if name in ("_local_scalar_dense", "item", "lift_fresh", "lift_fresh_copy"):
            self.cuda.log.append(("host round trip", name))
        return func(*args, **kwargs)


def faked(cuda: FakeCuda) -> Transfers:
    return Transfers(torch.device("cpu"), cuda=cuda)


def test_timesteps_go_through_pinned_memory_without_a_synchronising_copy():
    cuda = FakeCuda()
    transfers = faked(cuda)
    with LogCopies(cuda):
        t = transfers.timesteps([0.25, 0.5, 0.75])
    assert t.dtype == torch.float32 and t.tolist() == [0.25, 0.5, 0.75]
    copies = [e for e in cuda.log if e[0] in ("copy", "host round trip")]
    assert copies == [("copy", "upload", "async")]
    assert ("pinned", (3,)) in cuda.log
    assert ("wait", "compute", cuda.log[cuda.log.index(("copy", "upload", "async")) + 1][1]) in cuda.log


def test_cpu_timesteps_are_float32_values():
    t = Transfers(torch.device("cpu")).timesteps([0.5, 0.125])
    assert t.dtype == torch.float32 and t.tolist() == [0.5, 0.125]


def test_uploads_and_downloads_use_their_own_streams_ordered_by_events():
    """Upload N+1 must not queue behind download N: they are on different streams; the
    compute stream waits for each upload's event, each download waits for an event recorded
    on the compute stream after the forward, and no upload waits for a download."""
    cuda = FakeCuda()
    transfers = faked(cuda)
    sent = planes(3)
    with LogCopies(cuda):
        first = transfers.upload(sent)
        began = transfers.mark()
        out = [t.mul(2) for t in first]  # the forward, on the compute stream
        ended = transfers.mark()
        pending = transfers.download(out, (began, ended))
        transfers.upload(planes(4))  # the next batch's frames, while download 1 is queued
    log = cuda.log
    copies = [e for e in log if e[0] == "copy"]
    assert copies == [("copy", "upload", "async")] * 3 + [("copy", "download", "async")] * 3 \
        + [("copy", "upload", "async")] * 3
    recorded = {e[1]: e[2] for e in log if e[0] == "record"}  # event -> stream
    waits = [(e[1], recorded[e[2]]) for e in log if e[0] == "wait"]
    assert waits == [("compute", "upload"), ("download", "compute"), ("compute", "upload")]
    assert not any(e[0] == "wait for stream" for e in log)  # no stream waits wholesale
    # the download's event is recorded on compute after the forward's end mark
    marks = [e for e in log if e[0] == "record" and e[2] == "compute"]
    assert len(marks) == 3  # began, ended, then the download's "produced"
    assert ("record_stream", "compute") in log and ("record_stream", "download") in log
    assert pending.ready() and pending.model_seconds() == 0.005
    back = pending.wait()
    assert all(np.array_equal(b, (s * 2).astype(np.uint8)) for s, b in zip(sent, back, strict=True))


def test_the_real_calls_are_torch_cuda_ones(monkeypatch):
    made = []
    monkeypatch.setattr(torch.cuda, "Stream", lambda device: made.append(device) or f"stream {device}")
    calls = CudaCalls()
    assert calls.stream(torch.device("cuda", 1)) == "stream cuda:1" and made == [torch.device("cuda", 1)]
