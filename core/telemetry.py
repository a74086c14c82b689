"""GPU telemetry: NVML readings per GPU and torch's memory for this process.

NVML is reached through an injected module-like object (the real ``pynvml`` from
nvidia-ml-py by default, imported lazily), so tests drive it with a fake. Nothing here
raises to the caller: a machine without NVML reports ``available = False`` and a GPU whose
readings fail gives a sample with the readings that worked.

NVML numbers every GPU of the machine in PCI bus order; CUDA numbers only those
``CUDA_VISIBLE_DEVICES`` lets this process see, in its order, and by default fastest first
(``CUDA_DEVICE_ORDER``). Samples are therefore matched to CUDA devices by UUID (CUDA's as
torch reports it, NVML's ``nvmlDeviceGetUUID``), so a sample's ``index`` is the N of
``--device cuda:N``. When the two cannot be matched (no CUDA in torch, an NVML without
UUIDs) every NVML GPU is sampled under its NVML index, as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

NVML_UNAVAILABLE = "no NVIDIA GPU: NVML unavailable"
NVML_TEMPERATURE_GPU = 0  # the GPU die sensor, pynvml.NVML_TEMPERATURE_GPU
NVML_CLOCK_SM = 1  # pynvml.NVML_CLOCK_SM
NVML_CLOCK_MEM = 2  # pynvml.NVML_CLOCK_MEM


@dataclass(frozen=True)
class GpuSample:
    """One reading of one GPU; None where NVML could not say (unsupported or failing).

    ``index`` is the GPU's CUDA index for this process when known, else NVML's own;
    ``nvml_index`` is NVML's where it differs from ``index``."""

    index: int
    name: str
    memory_used: int | None  # bytes
    memory_total: int | None  # bytes
    utilization: float | None  # percent of the last sample period the GPU was busy
    temperature: float | None  # degrees Celsius
    power: float | None  # watts
    errors: tuple[str, ...] = ()  # the readings that failed, e.g. ("power",)
    nvml_index: int | None = None  # None: the same as ``index``
    sm_clock: int | None = None  # MHz, the streaming multiprocessors' current clock
    memory_clock: int | None = None  # MHz


@dataclass(frozen=True)
class TorchMemory:
    """What torch's caching allocator holds on one CUDA device for this process."""

    allocated: int  # bytes in live tensors
    reserved: int  # bytes the allocator keeps from the driver


def torch_memory(device: int | str | None = None) -> TorchMemory | None:
    """Allocated and reserved bytes on ``device`` (default: the calling thread's current
    device, which in a sampler thread is always 0), or None without CUDA."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        return TorchMemory(
            int(torch.cuda.memory_allocated(device)), int(torch.cuda.memory_reserved(device))
        )
    except Exception:  # no torch, a broken driver: no reading, never a crash
        return None


def cuda_index(device: str | None) -> int | None:
    """The CUDA index a job given ``--device device`` runs on (as ``resolve_device`` picks
    it: ``auto`` and ``cuda`` are 0), or None for the CPU or a name that is not a device."""
    name = (device or "auto").strip().lower()
    if name in ("auto", "cuda"):
        return 0
    if name.startswith("cuda:"):
        try:
            return int(name.split(":", 1)[1])
        except ValueError:
            return None
    return None


def torch_memory_reader(device: str | None) -> Callable[[], TorchMemory | None]:
    """A reader of torch's memory on the job's device, for the console's sampler thread."""
    index = cuda_index(device)
    if index is None:
        return lambda: None
    return lambda: torch_memory(index)


def _normal_uuid(uuid: object) -> str:
    """The UUID's hex digits only: NVML writes "GPU-xxxxxxxx-xxxx-...", torch without the
    prefix (and its exact spelling is not promised)."""
    text = str(uuid).strip().lower()
    for prefix in ("gpu-", "mig-"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return "".join(c for c in text if c in "0123456789abcdef")


def cuda_to_nvml(cuda_uuids: Sequence[str], nvml_uuids: Sequence[str | None]) -> list[int] | None:
    """The NVML index of each CUDA device, in CUDA order, matched by UUID; None when any
    CUDA device has no single NVML match (then nothing is mapped)."""
    nvml = [_normal_uuid(u) if u else None for u in nvml_uuids]
    mapping = []
    for uuid in cuda_uuids:
        key = _normal_uuid(uuid)
        matches = [i for i, known in enumerate(nvml) if key and known == key]
        if len(matches) != 1:
            return None
        mapping.append(matches[0])
    return mapping or None


def torch_cuda_uuids() -> list[str]:
    """The UUID of each CUDA device this process sees, in CUDA order ([] without CUDA)."""
    try:
        import torch

        if not torch.cuda.is_available():
            return []
        return [str(torch.cuda.get_device_properties(i).uuid) for i in range(torch.cuda.device_count())]
    except Exception:
        return []


def _load_pynvml() -> Any:
    import pynvml

    return pynvml


class GpuTelemetry:
    """Samples every NVIDIA GPU through NVML; use as a context manager or call ``close``."""

    def __init__(
        self, nvml: Any | None = None, cuda_uuids: Callable[[], Sequence[str]] | None = None
    ) -> None:
        """``cuda_uuids`` lists the CUDA devices' UUIDs in CUDA order (default: torch's)."""
        self._cuda_uuids = cuda_uuids or torch_cuda_uuids
        self._order: list[tuple[int, int]] | None = None  # (CUDA or NVML index, NVML index)
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
        """One sample per GPU this process can use, in CUDA order (every GPU NVML sees when
        the two cannot be matched); an empty list when NVML is unavailable."""
        if self._nvml is None:
            return []
        if self._order is None:
            self._order = self._gpu_order()
        return [self._sample_one(nvml_index, index) for index, nvml_index in self._order]

    def _gpu_order(self) -> list[tuple[int, int]]:
        count = self.device_count()
        try:
            cuda = list(self._cuda_uuids())
        except Exception:
            cuda = []
        mapping = cuda_to_nvml(cuda, [self._uuid(i) for i in range(count)]) if cuda else None
        if mapping is None:
            return [(i, i) for i in range(count)]
        return list(enumerate(mapping))

    def _uuid(self, index: int) -> str | None:
        try:
            nvml = self._nvml
            return _text(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(index)))
        except Exception:
            return None

    def _sample_one(self, nvml_index: int, index: int) -> GpuSample:
        nvml = self._nvml
        errors: list[str] = []

        def read(what: str, call: Any, *args: Any) -> Any:
            try:
                return call(*args)
            except Exception:
                errors.append(what)
                return None

        other = None if nvml_index == index else nvml_index
        handle = read("handle", nvml.nvmlDeviceGetHandleByIndex, nvml_index)
        if handle is None:
            return GpuSample(index, f"GPU {index}", None, None, None, None, None, tuple(errors), other)
        name = read("name", nvml.nvmlDeviceGetName, handle)
        memory = read("memory", nvml.nvmlDeviceGetMemoryInfo, handle)
        rates = read("utilization", nvml.nvmlDeviceGetUtilizationRates, handle)
        temperature = read("temperature", nvml.nvmlDeviceGetTemperature, handle, NVML_TEMPERATURE_GPU)
        milliwatts = read("power", nvml.nvmlDeviceGetPowerUsage, handle)
        sm_clock = read("clocks", nvml.nvmlDeviceGetClockInfo, handle, NVML_CLOCK_SM)
        memory_clock = read("clocks", nvml.nvmlDeviceGetClockInfo, handle, NVML_CLOCK_MEM) if sm_clock is not None else None
        return GpuSample(
            index=index,
            name=_text(name) if name is not None else f"GPU {index}",
            memory_used=int(memory.used) if memory is not None else None,
            memory_total=int(memory.total) if memory is not None else None,
            utilization=float(rates.gpu) if rates is not None else None,
            temperature=float(temperature) if temperature is not None else None,
            power=milliwatts / 1000.0 if milliwatts is not None else None,
            errors=tuple(errors),
            nvml_index=other,
            sm_clock=int(sm_clock) if sm_clock is not None else None,
            memory_clock=int(memory_clock) if memory_clock is not None else None,
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
