"""Host <-> device transfers: plain copies on the CPU, pinned memory and a copy stream on CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.transfer import Transfers

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
