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
