"""GPU memory: preflight batch choice, CUDA facts for the log, and the memory baseline.

Everything that reads the device goes through small functions taking the figures as
arguments, so the choices are tested on the CPU with fake numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.errors import ModelError
from core.interpolators.base import Interpolator
from core.interpolators.tiling import TiledInterpolator

SAFETY_MARGIN = 0.15  # keep this share of the free memory unused
MAX_BATCH = 8


@dataclass(frozen=True)
class BatchChoice:
    batch: int  # 0 when even one pair does not fit
    per_pair_bytes: int
    free_bytes: int
    reason: str


def choose_batch(
    per_pair_bytes: int, free_bytes: int, margin: float = SAFETY_MARGIN, max_batch: int = MAX_BATCH
) -> BatchChoice:
    """The largest batch whose working memory fits in ``free_bytes`` less the margin."""
    usable = int(free_bytes * (1.0 - margin))
    if per_pair_bytes <= 0:
        return BatchChoice(max_batch, per_pair_bytes, free_bytes, "the probe used no measurable memory")
    batch = min(max_batch, usable // per_pair_bytes)
    reason = (
        f"one pair needs {gib(per_pair_bytes)}, {gib(free_bytes)} free, "
        f"{int(margin * 100)}% kept as margin -> batch {batch}"
        + (f" (capped at {max_batch})" if batch == max_batch else "")
    )
    return BatchChoice(int(batch), per_pair_bytes, free_bytes, reason)


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def cuda_facts(device: torch.device) -> str:
    """One line for the log: device name, capability, memory, torch and CUDA versions."""
    props = torch.cuda.get_device_properties(device)
    free, total = torch.cuda.mem_get_info(device)
    return (
        f"{props.name} (compute {props.major}.{props.minor}), {gib(free)} free of {gib(total)}, "
        f"torch {torch.__version__}, CUDA {torch.version.cuda}"
    )


def probe_pair_memory(
    model: Interpolator, device: torch.device, height: int, width: int, batch: int = 1
) -> int:
    """Peak bytes one forward of ``batch`` pairs at this size allocates beyond what is held now."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    img = torch.zeros(batch, 3, height, width, device=device)
    t = torch.full((batch,), 0.5, device=device)
    with torch.inference_mode():
        model.interpolate(img, img.clone(), t)
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - before
    del img, t
    return max(0, peak) // batch


def preflight(
    model: Interpolator,
    device: torch.device,
    height: int,
    width: int,
    probe: Callable[[Interpolator, torch.device, int, int], int] = probe_pair_memory,
    free_memory: Callable[[torch.device], int] | None = None,
) -> BatchChoice:
    """Measure one pair at the job's size and choose the batch for the free memory."""
    per_pair = probe(model, device, height, width)
    free = (free_memory or (lambda d: torch.cuda.mem_get_info(d)[0]))(device)
    return choose_batch(per_pair, free)


def release_pinned_memory() -> None:
    """Give the page-locked host blocks PyTorch keeps for transfers back to the OS (the job's
    staging buffers, core/transfer.py); a no-op without CUDA. Never raises: it runs in clean-up."""
    if not torch.cuda.is_available():
        return
    memory = getattr(torch.accelerator, "memory", None)
    empty = getattr(memory, "empty_host_cache", None) or getattr(torch._C, "_host_emptyCache", None)
    try:
        if empty is not None:
            empty()
    except RuntimeError:
        pass  # an older torch without a host cache to empty


def trim_host_memory() -> None:
    """Give freed heap pages back to the OS (glibc keeps them in per-thread arenas otherwise)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to trim


def is_out_of_memory(exc: BaseException) -> bool:
    """A CUDA out-of-memory error, or its CPU twin, a MemoryError on allocation."""
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if isinstance(exc, MemoryError) or (oom_type is not None and isinstance(exc, oom_type)):
        return True
    # CPU allocators report failure as RuntimeError("... not enough memory ...")
    return isinstance(exc, RuntimeError) and "not enough memory" in str(exc).lower()


def degrade(model: Interpolator) -> Interpolator:
    """The next cheaper way to run ``model``: a lower scale where it has one, else finer tiles."""
    scale = getattr(model, "scale", None)
    if isinstance(scale, float) and scale > 0.25 and hasattr(model, "set_scale"):
        model.set_scale(scale / 2)
        return model
    if isinstance(model, TiledInterpolator):
        if model.grid >= 4:
            raise ModelError(
                "The model ran out of memory even in 4x4 tiles at batch 1; "
                "free GPU memory or use a smaller input."
            )
        model.grid *= 2
        model.name = f"{model.inner.name} (tiled {model.grid}x{model.grid})"
        return model
    return TiledInterpolator(model, grid=2)
