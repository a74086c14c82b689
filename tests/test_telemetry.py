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

    def nvmlDeviceGetClockInfo(self, handle: int, clock: int) -> int:
        return self._read(handle, {1: "sm_clock", 2: "memory_clock"}[clock])


def h100(**changes: Any) -> dict[str, Any]:
    device = {"name": "NVIDIA H100 80GB HBM3", "memory": (3 * GIB, 80 * GIB), "util": 87,
              "temp": 64, "milliwatts": 412_345, "sm_clock": 1980, "memory_clock": 2619}
    device.update(changes)
    return device


def test_samples_every_gpu_in_units() -> None:
    nvml = FakeNvml([h100(), h100(name=b"NVIDIA A10G", memory=(0, 24 * GIB), util=0, temp=31,
                                  milliwatts=18_000, sm_clock=1710, memory_clock=6251)])
    with GpuTelemetry(nvml) as telemetry:
        assert telemetry.available and telemetry.unavailable_reason == ""
        assert telemetry.driver_version() == "550.54.15"
        samples = telemetry.sample()
    assert samples == [
        GpuSample(0, "NVIDIA H100 80GB HBM3", 3 * GIB, 80 * GIB, 87.0, 64.0, pytest.approx(412.345),
                  sm_clock=1980, memory_clock=2619),
        GpuSample(1, "NVIDIA A10G", 0, 24 * GIB, 0.0, 31.0, 18.0, sm_clock=1710, memory_clock=6251),
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


def test_clocks_unsupported_leave_the_rest() -> None:
    (sample,) = GpuTelemetry(FakeNvml([h100(sm_clock=FakeNvml.NVMLError("Not Supported"))])).sample()
    assert sample.sm_clock is None and sample.memory_clock is None
    assert sample.errors == ("clocks",) and sample.power == pytest.approx(412.345)


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


# ---------------------------------------------------------------- which GPU is which


def test_cuda_index_follows_the_device_option() -> None:
    from core.telemetry import cuda_index

    assert [cuda_index(d) for d in ("auto", "cuda", "cuda:2", "CUDA:1", "cpu", "cuda:x", None)] == \
        [0, 0, 2, 1, None, None, 0]


def test_torch_memory_is_read_for_the_jobs_device_from_any_thread(monkeypatch) -> None:
    """The console samples on a worker thread, whose current device is always 0: the reader
    must name the job's device."""
    import threading

    from core.telemetry import torch_memory_reader

    asked: list[object] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d=None: asked.append(d) or 5)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda d=None: asked.append(d) or 7)
    reader = torch_memory_reader("cuda:1")
    got: list[object] = []
    worker = threading.Thread(target=lambda: got.append(reader()))
    worker.start()
    worker.join()
    assert got[0].allocated == 5 and got[0].reserved == 7 and asked == [1, 1]
    assert torch_memory_reader("cpu")() is None


def test_samples_follow_cuda_numbering_under_cuda_visible_devices() -> None:
    """NVML sees four GPUs in PCI order; CUDA_VISIBLE_DEVICES=3,1 lets this process see two,
    numbered 0 and 1 in that order. Matched by UUID, the samples are those two, labelled as
    --device cuda:N names them (torch's UUIDs lack NVML's "GPU-" prefix)."""
    from tests.fake_nvml import FakeNvml as PanelNvml

    uuids = [f"GPU-0000000{i}-aaaa-bbbb-cccc-dddddddddddd" for i in range(4)]
    nvml = PanelNvml(["A", "B", "C", "D"], uuids=uuids)
    nvml.memory_used = [1 * GIB, 2 * GIB, 3 * GIB, 4 * GIB]
    cuda = [uuids[3][4:], uuids[1][4:].upper()]
    telemetry = GpuTelemetry(nvml, cuda_uuids=lambda: cuda)
    samples = telemetry.sample()
    assert [(s.index, s.name, s.memory_used, s.nvml_index) for s in samples] == \
        [(0, "D", 4 * GIB, 3), (1, "B", 2 * GIB, None)]  # NVML 1 is CUDA 1 too


def test_without_a_uuid_match_every_nvml_gpu_is_sampled_under_its_nvml_index() -> None:
    from tests.fake_nvml import FakeNvml as PanelNvml

    for nvml, cuda in ((PanelNvml(["A", "B"]), ["x"]),  # NVML cannot tell UUIDs
                       (PanelNvml(["A", "B"], uuids=["GPU-1", "GPU-2"]), ["GPU-3"]),  # no match
                       (PanelNvml(["A", "B"], uuids=["GPU-1", "GPU-2"]), [])):  # torch has no CUDA
        samples = GpuTelemetry(nvml, cuda_uuids=lambda cuda=cuda: cuda).sample()
        assert [(s.index, s.name, s.nvml_index) for s in samples] == [(0, "A", None), (1, "B", None)]
