"""GPU telemetry: NVML readings per GPU and torch's memory for this process.

NVML is reached through an injected module-like object (the real ``pynvml`` from
nvidia-ml-py by default, imported lazily), so tests drive it with a fake. Nothing here
raises to the caller: a machine without NVML reports ``available = False`` and a GPU whose
readings fail gives a sample with the readings that worked.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

NVML_UNAVAILABLE = "no NVIDIA GPU: NVML unavailable"
NVML_TEMPERATURE_GPU = 0  # the GPU die sensor, pynvml.NVML_TEMPERATURE_GPU


@dataclass(frozen=True)
class GpuSample:
    """One reading of one GPU; None where NVML could not say (unsupported or failing)."""

    index: int
    name: str
    memory_used: int | None  # bytes
    memory_total: int | None  # bytes
    utilization: float | None  # percent of the last sample period the GPU was busy
    temperature: float | None  # degrees Celsius
    power: float | None  # watts
    errors: tuple[str, ...] = ()  # the readings that failed, e.g. ("power",)


@dataclass(frozen=True)
class TorchMemory:
    """What torch's caching allocator holds on one CUDA device for this process."""

    allocated: int  # bytes in live tensors
    reserved: int  # bytes the allocator keeps from the driver


def torch_memory(device: int | None = None) -> TorchMemory | None:
    """Allocated and reserved bytes on ``device`` (default: current), or None without CUDA."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        return TorchMemory(
            int(torch.cuda.memory_allocated(device)), int(torch.cuda.memory_reserved(device))
        )
    except Exception:  # no torch, a broken driver: no reading, never a crash
        return None


def _load_pynvml() -> Any:
    import pynvml

    return pynvml


class GpuTelemetry:
    """Samples every NVIDIA GPU through NVML; use as a context manager or call ``close``."""

    def __init__(self, nvml: Any | None = None) -> None:
        self.available = False
        self.unavailable_reason = NVML_UNAVAILABLE
        self.detail = ""  # NVML's own words when it failed to start, for `framedeck doctor`
        self._nvml: Any | None = None
        try:
            module = _load_pynvml() if nvml is None else nvml
            module.nvmlInit()
        except Exception as exc:  # missing library, no driver, no GPU
            self.detail = str(exc) or type(exc).__name__
            return
        self._nvml = module
        self.available = True
        self.unavailable_reason = ""

    def device_count(self) -> int:
        """Number of GPUs NVML sees (0 when unavailable or when the query fails)."""
        if self._nvml is None:
            return 0
        try:
            return int(self._nvml.nvmlDeviceGetCount())
        except Exception:
            return 0

    def driver_version(self) -> str | None:
        """The NVIDIA driver version, when NVML knows it."""
        if self._nvml is None:
            return None
        try:
            return _text(self._nvml.nvmlSystemGetDriverVersion())
        except Exception:
            return None

    def sample(self) -> list[GpuSample]:
        """One sample per GPU; an empty list when NVML is unavailable."""
        return [self._sample_one(i) for i in range(self.device_count())]

    def _sample_one(self, index: int) -> GpuSample:
        nvml = self._nvml
        errors: list[str] = []

        def read(what: str, call: Any, *args: Any) -> Any:
            try:
                return call(*args)
            except Exception:
                errors.append(what)
                return None

        handle = read("handle", nvml.nvmlDeviceGetHandleByIndex, index)
        if handle is None:
            return GpuSample(index, f"GPU {index}", None, None, None, None, None, tuple(errors))
        name = read("name", nvml.nvmlDeviceGetName, handle)
        memory = read("memory", nvml.nvmlDeviceGetMemoryInfo, handle)
        rates = read("utilization", nvml.nvmlDeviceGetUtilizationRates, handle)
        temperature = read("temperature", nvml.nvmlDeviceGetTemperature, handle, NVML_TEMPERATURE_GPU)
        milliwatts = read("power", nvml.nvmlDeviceGetPowerUsage, handle)
        return GpuSample(
            index=index,
            name=_text(name) if name is not None else f"GPU {index}",
            memory_used=int(memory.used) if memory is not None else None,
            memory_total=int(memory.total) if memory is not None else None,
            utilization=float(rates.gpu) if rates is not None else None,
            temperature=float(temperature) if temperature is not None else None,
            power=milliwatts / 1000.0 if milliwatts is not None else None,
            errors=tuple(errors),
        )

    def close(self) -> None:
        """Shut NVML down once; later samples are empty."""
        nvml, self._nvml = self._nvml, None
        self.available = False
        if nvml is not None:
            self.unavailable_reason = "NVML closed"
            with contextlib.suppress(Exception):  # closing must not fail a finished job
                nvml.nvmlShutdown()

    def __enter__(self) -> GpuTelemetry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _text(value: Any) -> str:
    """NVML strings are bytes in older bindings and str in newer ones."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
