"""GPU memory: preflight batch choice, CUDA facts for the log, and the memory baseline.

Everything that reads the device goes through small functions taking the figures as
arguments, so the choices are tested on the CPU with fake numbers. Every device-less CUDA
call runs under :func:`core.device.cuda_context` of the job's device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from core.device import cuda_context
from core.device import is_out_of_memory as is_out_of_memory  # the shared check, re-exported
from core.errors import ModelError
from core.interpolators.base import Interpolator
from core.interpolators.tiling import TiledInterpolator

SAFETY_MARGIN = 0.15  # keep this share of the free memory unused
MAX_BATCH = 8
# A captured CUDA graph keeps about one batch forward's working memory in its own pool for
# as long as it lives, where eager work beside it cannot use it: budget one more forward.
GRAPH_POOL_SHARE = 1.0


@dataclass(frozen=True)
class BatchChoice:
    batch: int  # 0 when even one pair does not fit
    per_pair_bytes: int
    free_bytes: int
    reason: str


def choose_batch(
    per_pair_bytes: int,
    free_bytes: int,
    margin: float = SAFETY_MARGIN,
    max_batch: int = MAX_BATCH,
    graph_share: float = 0.0,
) -> BatchChoice:
    """The largest batch whose working memory fits in ``free_bytes`` less the margin;
    ``graph_share`` adds that share of each pair's memory for a captured graph's pool."""
    usable = int(free_bytes * (1.0 - margin))
    if per_pair_bytes <= 0:
        return BatchChoice(max_batch, per_pair_bytes, free_bytes, "the probe used no measurable memory")
    budget = int(per_pair_bytes * (1.0 + graph_share))
    batch = min(max_batch, usable // budget)
    graph = f" ({gib(budget)} with its CUDA graph's pool)" if graph_share else ""
    reason = (
        f"one pair needs {gib(per_pair_bytes)}{graph}, {gib(free_bytes)} free, "
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


def probe_forward(model: Interpolator, device: torch.device, height: int, width: int, batch: int = 1) -> None:
    """One forward of ``batch`` black pairs at this size, leaving nothing behind: the input
    buffer a graph-capable model keeps per batch shape is dropped with its graphs."""
    img = torch.zeros(batch, 3, height, width, device=device)
    t = torch.full((batch,), 0.5, device=device)
    with torch.inference_mode():
        model.interpolate(img, img.clone(), t)
    del img, t
    drop_graphs = getattr(model, "drop_graphs", None)
    if drop_graphs is not None:
        drop_graphs()


def probe_pair_memory(
    model: Interpolator, device: torch.device, height: int, width: int, batch: int = 1
) -> int:
    """Peak bytes one forward of ``batch`` pairs at this size allocates beyond what is held now."""
    with cuda_context(device):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        probe_forward(model, device, height, width, batch)
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
        torch.cuda.empty_cache()  # else the driver's free figure misses what the probe cached
    return max(0, peak) // batch


def preflight(
    model: Interpolator,
    device: torch.device,
    height: int,
    width: int,
    probe: Callable[[Interpolator, torch.device, int, int], int] = probe_pair_memory,
    free_memory: Callable[[torch.device], int] | None = None,
) -> BatchChoice:
    """Measure one pair at the job's size and choose the batch for the free memory.

    When the model replays CUDA graphs (its ``graphed`` runner is on), each pair is budgeted
    with its graph's pool too; if even one pair and its graph do not fit but the pair alone
    does, graphs are turned off rather than the model degraded.
    """
    per_pair = probe(model, device, height, width)
    free = (free_memory or (lambda d: torch.cuda.mem_get_info(d)[0]))(device)
    graphed = getattr(model, "graphed", None)
    if graphed is None or getattr(graphed, "disabled_reason", None) is not None:
        return choose_batch(per_pair, free)
    choice = choose_batch(per_pair, free, graph_share=GRAPH_POOL_SHARE)
    if choice.batch == 0:
        eager = choose_batch(per_pair, free)
        if eager.batch >= 1:
            graphed.turn_off(f"one pair and its graph do not fit ({choice.reason})")
            return eager
    return choice


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


def empty_device_cache(device: torch.device) -> None:
    """Hand the caching allocator's unused blocks back to the driver (CUDA only)."""
    if device.type == "cuda":
        with cuda_context(device):
            torch.cuda.empty_cache()


def clean_up(steps: Iterable[tuple[str, Callable[[], object] | None]]) -> list[str]:
    """Run every clean-up step even when one raises (after a sticky CUDA error each CUDA
    call does); one line per failure, for the log. Never raises."""
    failures = []
    for what, step in steps:
        if step is None:
            continue
        try:
            step()
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            failures.append(f"{what} failed: {first}")
    return failures


def release_cuda_memory(device: torch.device) -> list[str]:
    """After a job on ``device``: wait for its work, empty the allocator's cache and give the
    pinned host blocks back, each step attempted whatever the one before did (a failed
    synchronize must not keep the memory). Returns the failures, one line each."""
    failures: list[str] = []
    try:
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(cuda_context(device))
            except Exception as exc:
                failures.append(f"selecting {device} failed: {str(exc).strip()[:200]}")
            failures += clean_up([
                ("waiting for the GPU", lambda: torch.cuda.synchronize(device)),
                ("emptying the CUDA cache", torch.cuda.empty_cache),
                ("releasing pinned memory", release_pinned_memory),
            ])
    except Exception as exc:  # leaving the device context failed
        failures.append(f"leaving the context of {device} failed: {str(exc).strip()[:200]}")
    return failures


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
