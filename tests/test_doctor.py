"""``framedeck doctor`` end to end, and its report with injected parts."""

from __future__ import annotations

import functools
import importlib
import platform
import shutil
from types import ModuleType

import av
import pytest
import torch

import tui.commands.doctor as doctor_command
from core.doctor import REQUIRED, broken_required, collect_report, format_report
from tests.test_telemetry import FakeNvml, h100
from tui.cli import main


def rows_by_label(text: str) -> dict[str, tuple[str, str]]:
    """Parse the aligned output back into label -> (mark, value)."""
    lines = text.splitlines()
    column = lines[0].index("  ok  ")  # the python row is always ok here
    parsed = {}
    for line in lines:
        label, rest = line[:column].rstrip(), line[column + 2:]
        mark, value = rest[:4].rstrip(), rest[6:]
        parsed[label] = (mark, value)
    return parsed


def test_doctor_command_prints_the_machine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    rows = rows_by_label(out)
    assert rows["python"] == ("ok", rows["python"][1])
    assert rows["python"][1].startswith(platform.python_version())
    assert rows["torch"] == ("ok", torch.__version__)
    assert rows["PyAV"] == ("ok", av.__version__)
    mark, encoders = rows["encoders"]
    assert mark == "ok" and encoders.startswith("libx264")  # the software encoders open anywhere
    assert "ffv1" in encoders
    assert "GiB free of" in rows["free disk"][1]
    if torch.cuda.is_available():
        assert rows["CUDA"][0] == "ok" and rows["cuda:0"][1].startswith(torch.cuda.get_device_name(0))
    else:
        assert rows["CUDA"][0] == "--" and "CPU" in rows["CUDA"][1]
    if shutil.which("nvidia-smi") is None:
        assert rows["NVML"][0] == "--"
        assert rows["NVML"][1].startswith("no NVIDIA GPU: NVML unavailable")
        assert not any(label.startswith("GPU ") for label in rows)
    else:
        assert rows["NVML"][0] == "ok" and rows["GPU 0"][0] == "ok"


def test_report_lists_nvml_gpus_with_their_readings() -> None:
    nvml = FakeNvml([h100(), h100(milliwatts=FakeNvml.NVMLError("Not Supported"))])
    rows = {r.label: r for r in collect_report(nvml=nvml, encoders=lambda: {"libx264": True})}
    assert rows["NVML"].ok and rows["NVML"].value == "driver 550.54.15, 2 GPU(s)"
    assert rows["GPU 0"].value == "NVIDIA H100 80GB HBM3, 3.0 GiB used of 80.0 GiB, 87% busy, 64 C, 412 W"
    assert rows["GPU 1"].ok and rows["GPU 1"].value.endswith("64 C")  # no power reading: fine
    assert nvml.calls == ["init", "shutdown"]


def test_no_encoder_is_a_required_failure() -> None:
    rows = collect_report(nvml=FakeNvml([], init_error=True),
                          encoders=lambda: {"libx264": False, "ffv1": False})
    (broken,) = broken_required(rows)
    assert broken.label == "encoders" and broken.value == "none opens; libx264, ffv1 do not"
    assert rows_by_label(format_report(rows))["encoders"][0] == "FAIL"
    assert rows_by_label(format_report(rows))["NVML"][0] == "--"  # optional: not a failure


def _without_torch(name: str) -> ModuleType:
    if name == "torch":
        raise ImportError("No module named 'torch'")
    return importlib.import_module(name)


def test_missing_torch_fails_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken_report = functools.partial(collect_report, importer=_without_torch,
                                      encoders=lambda: {"libx264": True})
    monkeypatch.setattr(doctor_command, "collect_report", broken_report)
    assert main(["doctor"]) == 1
    out, err = capsys.readouterr()
    rows = rows_by_label(out)
    assert rows["torch"] == ("FAIL", "not importable: No module named 'torch'")
    assert "torch CUDA build" not in rows
    assert err == "framedeck: cannot run here: torch broken (see above).\n"


def test_required_rows_are_the_ones_a_job_cannot_do_without() -> None:
    assert {"python", "torch", "PyAV", "encoders"} <= REQUIRED
    assert not {"NVML", "CUDA", "free disk"} & REQUIRED
