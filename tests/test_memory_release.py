"""After a failed or aborted job the host's resident memory returns near its baseline."""

from __future__ import annotations

import gc
import os
import threading

import pytest

from core.errors import DecodeError, JobAborted
from core.events import PairDone
from core.faults import FaultPlan
from core.job import run_job
from core.options import JobOptions
from tests.clips import moving_frames, write_frames

MIB = 2**20


def rss() -> int:
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_host_memory_returns_near_baseline_after_errors_and_aborts(tmp_path):
    src = write_frames(tmp_path / "in.mkv", moving_frames(16, width=640, height=360))
    # host memory of CPU jobs, one pair per batch (so the abort lands mid-job)
    options = JobOptions(model="blend", codec="ffv1", factor=2, device="cpu", batch=1)
    run_job(src, tmp_path / "warm.mkv", options)  # imports, allocator pools, codec tables

    def fail_and_abort(attempt: int) -> None:
        with pytest.raises(DecodeError):
            run_job(src, tmp_path / f"bad{attempt}.mkv", options,
                    faults=FaultPlan.parse("decode-error@frame=10"))
        cancel = threading.Event()

        def abort_at_5(event, cancel=cancel):
            if isinstance(event, PairDone) and event.index == 5:
                cancel.set()

        with pytest.raises(JobAborted):
            run_job(src, tmp_path / f"abort{attempt}.mkv", options, on_event=abort_at_5, cancel=cancel)

    # the allocator's thread arenas settle over the first runs (successful ones too)
    for attempt in range(3):
        fail_and_abort(attempt)
    baseline = rss()
    for attempt in range(3, 9):
        fail_and_abort(attempt)
    grown = rss() - baseline
    # a 640x360 job holds ~17 MiB of frames; twelve leaked jobs would add ~200 MiB, while the
    # C allocators (libav, torch) jitter by a few tens of MiB between runs
    assert grown < 64 * MIB, f"resident memory grew by {grown / MIB:.1f} MiB"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "warm.mkv"]


def test_cuda_clean_up_goes_on_after_a_raising_synchronize_on_the_jobs_device(monkeypatch):
    """After a sticky CUDA error every CUDA call raises: the cache is still emptied and the
    pinned blocks released, on the job's device, and the failure is reported, not raised."""
    import torch

    import core.memory
    from core.memory import release_cuda_memory

    calls: list[tuple[str, object]] = []
    current = [0]

    class Device:
        def __init__(self, device):
            self.index = torch.device(device).index

        def __enter__(self):
            self.previous, current[0] = current[0], self.index

        def __exit__(self, *exc):
            current[0] = self.previous

    def synchronize(device=None):
        calls.append(("synchronize", current[0]))
        raise RuntimeError("CUDA error: an illegal memory access was encountered\nmore text")

    monkeypatch.setattr(torch.cuda, "device", Device)
    monkeypatch.setattr(torch.cuda, "synchronize", synchronize)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append(("empty_cache", current[0])))
    monkeypatch.setattr(core.memory, "release_pinned_memory", lambda: calls.append(("pinned", current[0])))
    failures = release_cuda_memory(torch.device("cuda", 1))
    assert calls == [("synchronize", 1), ("empty_cache", 1), ("pinned", 1)]
    assert failures == ["waiting for the GPU failed: CUDA error: an illegal memory access was encountered"]
    assert current == [0]


def test_a_failing_unload_is_logged_and_the_jobs_own_error_is_raised(tmp_path):
    from core.events import LogRecord
    from core.interpolators.blend import BlendInterpolator

    class BadUnload(BlendInterpolator):
        def unload(self):
            raise RuntimeError("CUDA error: unspecified launch failure")

    src = write_frames(tmp_path / "in.mkv", moving_frames(12, width=64, height=48))
    events: list[object] = []
    with pytest.raises(DecodeError):
        run_job(src, tmp_path / "out.mkv", JobOptions(model="blend", codec="ffv1", device="cpu"),
                on_event=events.append, faults=FaultPlan.parse("decode-error@frame=5"),
                interpolator=BadUnload())
    warnings = [e.message for e in events if isinstance(e, LogRecord) and e.level == "warning"]
    assert "clean-up: unloading the model failed: CUDA error: unspecified launch failure" in warnings
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]
