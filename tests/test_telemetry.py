"""GPU telemetry through a fake NVML, and through the real pynvml of this machine."""

from __future__ import annotations

import shutil
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from core.telemetry import NVML_UNAVAILABLE, GpuSample, GpuTelemetry, torch_memory

GIB = 1024**3


class FakeNvml:
    """The few pynvml functions GpuTelemetry uses, over a list of device dictionaries."""

    class NVMLError(Exception):
        pass

    def __init__(self, devices: list[dict[str, Any]], init_error: bool = False) -> None:
        self.devices = devices
        self.init_error = init_error
        self.calls: list[str] = []

    def _read(self, handle: int, key: str) -> Any:
        value = self.devices[handle][key]
        if isinstance(value, Exception):
            raise value
        return value

    def nvmlInit(self) -> None:
        self.calls.append("init")
        if self.init_error:
            raise self.NVMLError("Driver Not Loaded")

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if self.devices[index].get("lost"):
            raise self.NVMLError("GPU is lost")
        return index

    def nvmlDeviceGetName(self, handle: int) -> Any:
        return self._read(handle, "name")

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        used, total = self._read(handle, "memory")
        return SimpleNamespace(used=used, total=total, free=total - used)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(gpu=self._read(handle, "util"), memory=0)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        assert sensor == 0  # NVML_TEMPERATURE_GPU
        return self._read(handle, "temp")

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return self._read(handle, "milliwatts")


def h100(**changes: Any) -> dict[str, Any]:
    device = {"name": "NVIDIA H100 80GB HBM3", "memory": (3 * GIB, 80 * GIB), "util": 87,
              "temp": 64, "milliwatts": 412_345}
    device.update(changes)
    return device


def test_samples_every_gpu_in_units() -> None:
    nvml = FakeNvml([h100(), h100(name=b"NVIDIA A10G", memory=(0, 24 * GIB), util=0, temp=31,
                                  milliwatts=18_000)])
    with GpuTelemetry(nvml) as telemetry:
        assert telemetry.available and telemetry.unavailable_reason == ""
        assert telemetry.driver_version() == "550.54.15"
        samples = telemetry.sample()
    assert samples == [
        GpuSample(0, "NVIDIA H100 80GB HBM3", 3 * GIB, 80 * GIB, 87.0, 64.0, pytest.approx(412.345)),
        GpuSample(1, "NVIDIA A10G", 0, 24 * GIB, 0.0, 31.0, 18.0),
    ]
    assert nvml.calls == ["init", "shutdown"]


def test_unsupported_power_and_failing_readings_leave_the_rest() -> None:
    nvml = FakeNvml([h100(milliwatts=FakeNvml.NVMLError("Not Supported"),
                          temp=RuntimeError("driver hiccup"))])
    telemetry = GpuTelemetry(nvml)
    (sample,) = telemetry.sample()
    assert sample.power is None and sample.temperature is None
    assert sample.memory_total == 80 * GIB and sample.utilization == 87.0
    assert sample.errors == ("temperature", "power")


def test_a_lost_gpu_still_yields_a_sample() -> None:
    telemetry = GpuTelemetry(FakeNvml([h100(), h100(lost=True)]))
    first, lost = telemetry.sample()
    assert first.memory_total == 80 * GIB
    assert lost == GpuSample(1, "GPU 1", None, None, None, None, None, ("handle",))


def test_init_failure_reports_unavailable_and_never_raises() -> None:
    nvml = FakeNvml([h100()], init_error=True)
    telemetry = GpuTelemetry(nvml)
    assert not telemetry.available
    assert telemetry.unavailable_reason == NVML_UNAVAILABLE
    assert telemetry.detail == "Driver Not Loaded"
    assert telemetry.sample() == [] and telemetry.driver_version() is None
    telemetry.close()
    assert nvml.calls == ["init"]  # nothing to shut down


def test_close_shuts_nvml_down_once() -> None:
    nvml = FakeNvml([h100()])
    telemetry = GpuTelemetry(nvml)
    telemetry.close()
    telemetry.close()
    assert nvml.calls == ["init", "shutdown"]
    assert telemetry.sample() == [] and not telemetry.available


def test_real_nvml_on_this_machine() -> None:
    with GpuTelemetry() as telemetry:
        if shutil.which("nvidia-smi") is None:  # no NVIDIA driver here: clean refusal
            assert not telemetry.available
            assert telemetry.unavailable_reason == "no NVIDIA GPU: NVML unavailable"
            assert telemetry.sample() == []
        else:
            assert telemetry.available, telemetry.detail
            samples = telemetry.sample()
            assert samples and all(s.memory_total and s.memory_total > GIB for s in samples)
            assert all(s.name and 0 <= (s.utilization or 0) <= 100 for s in samples)


def test_torch_memory_matches_cuda_availability() -> None:
    memory = torch_memory()
    if not torch.cuda.is_available():
        assert memory is None
        return
    block = torch.empty(64 * 1024**2, dtype=torch.uint8, device="cuda")
    memory = torch_memory()
    assert memory is not None and memory.allocated >= block.numel()
    assert memory.reserved >= memory.allocated
