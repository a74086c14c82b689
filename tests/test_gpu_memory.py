"""On a CUDA device: a real out-of-memory error is recovered without losing a frame, and the
memory this process holds on the GPU returns to its pre-job baseline (skipped without CUDA)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from core.events import OomBackoff
from core.interpolators.rife import RifeInterpolator
from core.job import run_job
from core.memory import probe_pair_memory
from core.options import JobOptions
from tests.clips import moving_frames, psnr, read_frames, write_frames
from tests.conftest import shared_path

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
WIDTH, HEIGHT = 1280, 704


def held(device: torch.device) -> tuple[int, int]:
    """(allocated, reserved) after emptying the cache: the cache a test before this one left,
    or a job's own clean-up, must not count; allocated is what tensors still hold."""
    torch.cuda.synchronize(device)
    with torch.cuda.device(device):
        torch.cuda.empty_cache()
    return torch.cuda.memory_allocated(device), torch.cuda.memory_reserved(device)


def options(**kw) -> JobOptions:
    base = dict(factor=2, model="rife", weights=str(shared_path("models/rife-4.25")),
                codec="ffv1", scene_cut=None, precision="fp16")
    return JobOptions(**{**base, **kw})


def test_real_oom_is_recovered_and_memory_returns_to_baseline(tmp_path):
    device = torch.device("cuda", 0)
    src = write_frames(tmp_path / "in.mkv", moving_frames(18, WIDTH, HEIGHT), fps=Fraction(24))
    baseline = held(device)

    clean = tmp_path / "clean.mkv"
    run_job(src, clean, options(batch=1))
    assert torch.cuda.memory_reserved(device) == baseline[1]  # the job emptied its own cache
    assert held(device) == baseline  # after a clean job

    probe = RifeInterpolator(shared_path("models/rife-4.25"), precision="fp16")
    probe.load(device)
    per_pair = probe_pair_memory(probe, device, HEIGHT, WIDTH)
    probe.unload()
    held(device)

    # leave room for about two pairs, then ask for eight at once
    free, _ = torch.cuda.mem_get_info(device)
    blocker = torch.empty(free - int(2.5 * per_pair) - 300 * 2**20, dtype=torch.uint8, device=device)
    events: list[object] = []
    squeezed = tmp_path / "squeezed.mkv"
    try:
        run_job(src, squeezed, options(batch=8), on_event=events.append)
    finally:
        del blocker
        held(device)
    backoffs = [e for e in events if isinstance(e, OomBackoff)]
    assert backoffs and backoffs[0].old_batch == 8
    got, want = read_frames(squeezed), read_frames(clean)
    assert len(got[0]) == len(want[0]) == 36 and got[1] == want[1]
    assert min(psnr(np.asarray(a), np.asarray(b)) for a, b in zip(got[0], want[0], strict=True)) > 45
    after = held(device)
    assert after == baseline  # after a job that hit OOM
    print(f"\nper pair {per_pair / 2**20:.0f} MiB at {WIDTH}x{HEIGHT} fp16; back-offs: "
          + "; ".join(f"{e.old_batch}->{e.new_batch}" for e in backoffs)
          + f"; allocated, reserved {baseline} -> {after} bytes")
