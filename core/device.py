"""Choosing the torch device for a job, running CUDA calls on it, and recognising out-of-memory errors."""

from __future__ import annotations

import contextlib

import torch

from core.errors import OptionError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` takes the first CUDA device when there is one, else the CPU."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise OptionError(f"--device {name} was asked for, but torch sees no CUDA GPU here.")
        index = 0
        if ":" in name:
            try:
                index = int(name.split(":", 1)[1])
            except ValueError:
                raise OptionError(f"--device {name!r} is not cpu, cuda or cuda:N.") from None
        count = torch.cuda.device_count()
        if not 0 <= index < count:
            raise OptionError(f"--device {name} does not exist; this machine has {count} CUDA GPU(s).")
        return torch.device("cuda", index)
    raise OptionError(f"--device {name!r} is not auto, cpu, cuda or cuda:N.")


def cuda_context(device: torch.device | str) -> contextlib.AbstractContextManager[object]:
    """``torch.cuda.device(device)`` for a CUDA device, else a context that does nothing.

    torch's device-less calls (``synchronize()``, ``empty_cache()``, memory statistics,
    ``torch.cuda.graph``'s own synchronize and capture, a new ``Stream()``) act on the
    thread's *current* device, which nothing in framedeck changes, so it stays 0: with
    ``--device cuda:1`` they must run inside this context.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return contextlib.nullcontext()
    return torch.cuda.device(device)


# cudaErrorMemoryAllocation, what torch.AcceleratorError.error_code holds for "CUDA error: out of memory"
CUDA_ERROR_MEMORY_ALLOCATION = 2
_OOM_TEXTS = (
    "cuda out of memory",  # the caching allocator (torch.OutOfMemoryError)
    "cuda error: out of memory",  # a CUDA call outside the allocator (cudaErrorMemoryAllocation)
    "alloc_failed",  # cuDNN (CUDNN_STATUS_ALLOC_FAILED), cuBLAS, cuFFT, cuSPARSE, cuSOLVER
    "allocation_failed",  # cuDNN 9's CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED and kin
    "not enough memory",  # the CPU allocator ("DefaultCPUAllocator: not enough memory")
)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says memory ran out, in any of the ways torch reports it.

    ``torch.OutOfMemoryError`` comes from the caching allocator; a CUDA call that fails with
    cudaErrorMemoryAllocation raises ``torch.AcceleratorError`` ("CUDA error: out of memory",
    ``error_code`` 2); cuDNN and the CUDA libraries raise a plain RuntimeError naming their
    ``*_ALLOC_FAILED`` status; the CPU allocator raises ``MemoryError`` or a RuntimeError
    with "not enough memory". Only the first line is read, so a long message that merely
    mentions memory further down is not taken for one.
    """
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    if not isinstance(exc, RuntimeError):
        return False
    accelerator_error = getattr(torch, "AcceleratorError", ())  # torch 2.8+
    if isinstance(exc, accelerator_error) and getattr(exc, "error_code", None) == CUDA_ERROR_MEMORY_ALLOCATION:
        return True
    first = (str(exc).strip().splitlines() or [""])[0].lower()
    return any(text in first for text in _OOM_TEXTS)
