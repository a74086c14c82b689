"""``framedeck doctor``: what this machine offers a job, as (label, value, ok) rows.

Rows whose label is in :data:`REQUIRED` must be ok for framedeck to run at all; the
others (GPU, NVML, free disk, console) only say what is missing or slow.
"""

from __future__ import annotations

import importlib
import platform
import shutil
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from core.telemetry import GpuTelemetry

REQUIRED = frozenset({"python", "torch", "numpy", "PyAV", "OpenCV", "encoders"})
LOW_DISK_BYTES = 2 * 1024**3
GIB = 1024**3


class DoctorRow(NamedTuple):
    label: str
    value: str
    ok: bool


Importer = Callable[[str], ModuleType]


def _version(importer: Importer, name: str) -> tuple[ModuleType | None, str]:
    """The module and its version text, or None and one line on why it does not import."""
    try:
        module = importer(name)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"not importable: {first}"
    return module, str(getattr(module, "__version__", "unknown version"))


def _gib(n: float | None) -> str:
    return "?" if n is None else f"{n / GIB:.1f} GiB"


def _torch_rows(torch: Any) -> list[DoctorRow]:
    cuda_build = getattr(torch.version, "cuda", None)
    rows = [DoctorRow("torch CUDA build", cuda_build or "none (CPU-only build)", True)]
    try:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception as exc:  # a broken driver makes this raise
        return [*rows, DoctorRow("CUDA", f"unusable: {exc}", False)]
    if count == 0:
        return [*rows, DoctorRow("CUDA", "no CUDA GPU visible to torch; jobs run on the CPU", False)]
    rows.append(DoctorRow("CUDA", f"{count} GPU(s) visible to torch", True))
    for i in range(count):
        props = torch.cuda.get_device_properties(i)
        rows.append(DoctorRow(
            f"cuda:{i}",
            f"{props.name}, {_gib(props.total_memory)}, compute {props.major}.{props.minor}",
            True,
        ))
    return rows


def _nvml_rows(telemetry: GpuTelemetry) -> list[DoctorRow]:
    if not telemetry.available:
        detail = f" ({telemetry.detail})" if telemetry.detail else ""
        return [DoctorRow("NVML", telemetry.unavailable_reason + detail, False)]
    samples = telemetry.sample()
    driver = telemetry.driver_version() or "unknown"
    rows = [DoctorRow("NVML", f"driver {driver}, {len(samples)} GPU(s)", True)]
    for s in samples:
        parts = [s.name, f"{_gib(s.memory_used)} used of {_gib(s.memory_total)}"]
        if s.utilization is not None:
            parts.append(f"{s.utilization:.0f}% busy")
        if s.temperature is not None:
            parts.append(f"{s.temperature:.0f} C")
        if s.power is not None:
            parts.append(f"{s.power:.0f} W")
        rows.append(DoctorRow(f"GPU {s.index}", ", ".join(parts), set(s.errors) <= {"power", "clocks"}))
    return rows


def _encoder_row(encoders: Callable[[], dict[str, bool]] | None) -> DoctorRow:
    try:
        if encoders is None:
            from core.video.codecs import available_encoders

            encoders = available_encoders
        table = encoders()
    except Exception as exc:
        return DoctorRow("encoders", f"could not be checked ({type(exc).__name__})", False)
    opens = [name for name, ok in table.items() if ok]
    closed = [name for name, ok in table.items() if not ok]
    value = ", ".join(opens) + " open" if opens else "none opens"
    if closed:
        value += f"; {', '.join(closed)} do not"
    return DoctorRow("encoders", value, bool(opens))


def _disk_row(path: Path) -> DoctorRow:
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return DoctorRow("free disk", f"cannot read {path}: {exc.strerror}", False)
    return DoctorRow(
        "free disk",
        f"{_gib(usage.free)} free of {_gib(usage.total)} in {path}",
        usage.free >= LOW_DISK_BYTES,
    )


def _model_rows(cuda: bool) -> list[DoctorRow]:
    """The weights in the cache, and what ``--model auto`` would run here."""
    from core.models.auto import cached_weights, preview
    from core.models.catalog import models_dir

    root = models_dir()
    cached = cached_weights(root)
    names = ", ".join(entry.name for entry, _ in cached) or "no RIFE weights (framedeck models fetch 4.25)"
    return [
        DoctorRow("model cache", f"{names} in {root}", bool(cached)),
        DoctorRow("--model auto", preview(cuda, root), True),
    ]


def collect_report(
    *,
    path: str | Path = ".",
    nvml: Any | None = None,
    encoders: Callable[[], dict[str, bool]] | None = None,
    importer: Importer = importlib.import_module,
    cuda: bool | None = None,
) -> list[DoctorRow]:
    """Inspect this machine. ``nvml``, ``encoders``, ``importer`` and ``cuda`` (whether
    auto sees a GPU) are for tests."""
    py_ok = sys.version_info >= (3, 10)
    rows = [DoctorRow("python", f"{platform.python_version()} ({sys.executable})", py_ok)]
    torch, text = _version(importer, "torch")
    rows.append(DoctorRow("torch", text, torch is not None))
    if torch is not None:
        rows.extend(_torch_rows(torch))
    for label, module in (("numpy", "numpy"), ("PyAV", "av"), ("OpenCV", "cv2")):
        found, text = _version(importer, module)
        rows.append(DoctorRow(label, text, found is not None))
    telemetry = GpuTelemetry(nvml)
    try:
        rows.extend(_nvml_rows(telemetry))
    finally:
        telemetry.close()
    rows.append(_encoder_row(encoders))
    if cuda is None:
        cuda = torch is not None and any(r.label == "CUDA" and r.ok for r in rows)
    rows.extend(_model_rows(cuda))
    rows.append(_disk_row(Path(path).resolve()))
    for label, dist in (("textual (console)", "textual"), ("b2sdk (upload)", "b2sdk")):
        try:  # read from the package metadata: headless commands never import textual
            rows.append(DoctorRow(label, metadata.version(dist), True))
        except metadata.PackageNotFoundError:
            rows.append(DoctorRow(label, "not installed", False))
    return rows


def broken_required(rows: list[DoctorRow]) -> list[DoctorRow]:
    """The rows that stop framedeck from working at all."""
    return [row for row in rows if row.label in REQUIRED and not row.ok]


def format_report(rows: list[DoctorRow]) -> str:
    """Aligned plain text: label, ok / -- / FAIL, value."""
    width = max(len(row.label) for row in rows)
    lines = []
    for row in rows:
        mark = "ok" if row.ok else ("FAIL" if row.label in REQUIRED else "--")
        lines.append(f"{row.label:<{width}}  {mark:<4}  {row.value}")
    return "\n".join(lines)
