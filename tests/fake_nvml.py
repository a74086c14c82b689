"""A fake NVML module for :class:`core.telemetry.GpuTelemetry`: fixed GPUs, scripted memory."""

from __future__ import annotations

from dataclasses import dataclass

GIB = 2**30


@dataclass
class _Memory:
    used: int
    total: int


@dataclass
class _Rates:
    gpu: int


class FakeNvml:
    """Answers the NVML calls GpuTelemetry makes; ``memory_used[i]`` is GPU i's next reading."""

    def __init__(self, names: list[str], total_gib: float = 80.0, uuids: list[str] | None = None) -> None:
        self.names = names
        self.uuids = uuids  # None: an NVML that cannot tell UUIDs
        self.total = int(total_gib * GIB)
        self.memory_used = [int(0.1 * self.total)] * len(names)
        self.utilization = [0] * len(names)
        self.temperature = [40] * len(names)
        self.power_mw = [60_000] * len(names)
        self.clocks = [(1980, 2619)] * len(names)  # (SM, memory) MHz

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return len(self.names)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        if self.uuids is None:
            raise RuntimeError("Not Supported")
        return self.uuids[handle]

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return self.names[handle].encode()

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> _Memory:
        return _Memory(self.memory_used[handle], self.total)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> _Rates:
        return _Rates(self.utilization[handle])

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return self.temperature[handle]

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return self.power_mw[handle]

    def nvmlDeviceGetClockInfo(self, handle: int, clock: int) -> int:
        return self.clocks[handle][0 if clock == 1 else 1]


class MissingNvml:
    """NVML that fails to start, as on a machine without the NVIDIA driver."""

    def nvmlInit(self) -> None:
        raise OSError("NVML Shared Library Not Found")
