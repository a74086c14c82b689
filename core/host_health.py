"""Host health for a long job: CPU and RAM use, free disk where the output and its journal
go (and whether the rest of the job fits), and the bytes the job has written so far.

Every reading comes through an injected function (``/proc/stat``, ``/proc/meminfo``,
``shutil.disk_usage``, ``os.stat``, a folder's size), so tests drive it with fakes. Nothing
here raises to the caller: a reading that fails is None. Used from the console's sampler
thread; :meth:`HostSampler.on_event` is fed the job's events (any thread).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from core.events import JobFinished, JobStarted


@dataclass(frozen=True)
class DiskReading:
    """Free space on the volume that holds ``path`` (output, or journal when apart)."""

    label: str  # "output" or "journal"
    path: Path  # the folder actually measured (the nearest one that exists)
    free: int
    total: int


@dataclass(frozen=True)
class HostSample:
    """One reading of the host; None where it could not be read."""

    cpu_percent: float | None  # all cores together, 0-100, since the previous sample
    cores: int
    ram_used: int | None  # bytes (total less what is available)
    ram_total: int | None
    disks: tuple[DiskReading, ...] = ()
    written_bytes: int | None = None  # the job's journal (or finished output) on disk
    needed_bytes: int | None = None  # about how much more the job will write
    output_estimate: int | None = None  # about the output's size (what its upload will send)
    disk_warning: str = ""  # one sentence when the rest of the job will not fit


def read_proc_stat() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat; None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already in user
    return total - idle, total


def read_meminfo() -> tuple[int, int] | None:
    """(used, total) bytes from /proc/meminfo (used = MemTotal - MemAvailable); None off Linux."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f if line.strip()}
    except (OSError, ValueError, IndexError):
        return None
    if "MemTotal" not in info or "MemAvailable" not in info:
        return None
    return info["MemTotal"] - info["MemAvailable"], info["MemTotal"]


def folder_bytes(folder: Path) -> int:
    """Bytes of the files directly in ``folder`` (0 when it does not exist)."""
    total = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
    except OSError:
        return 0
    return total


def existing_folder(path: Path) -> Path:
    """``path`` if it is a folder, else its nearest existing parent."""
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
    return Path("/")


def size_text(n: float) -> str:
    """GiB with one decimal above 1 GiB, else MiB."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


class HostSampler:
    """Takes :class:`HostSample` readings; knows the running job from its events."""

    def __init__(
        self,
        *,
        proc_stat: Callable[[], tuple[int, int] | None] = read_proc_stat,
        meminfo: Callable[[], tuple[int, int] | None] = read_meminfo,
        disk_usage: Callable[[Path], Any] = shutil.disk_usage,
        device_of: Callable[[Path], int] = lambda p: os.stat(p).st_dev,
        written: Callable[[Path], int] = folder_bytes,
        cores: int | None = None,
    ) -> None:
        self._proc_stat = proc_stat
        self._meminfo = meminfo
        self._disk_usage = disk_usage
        self._device_of = device_of
        self._written = written
        self.cores = cores or os.cpu_count() or 1
        self._last_cpu: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self.output: Path | None = None
        self.estimate: int | None = None  # about the output's size (core/job_journal.py)
        self.finished = False

    def watch(self, output: str | Path, estimate: int | None = None) -> None:
        """Measure the volume of ``output`` (and its journal) before any job has started."""
        with self._lock:
            self.output, self.estimate, self.finished = Path(output), estimate, False

    def on_event(self, event: object) -> None:
        """Follow the running clip: its output, its size estimate, its end."""
        if isinstance(event, JobStarted):
            self.watch(event.output, _estimate(event))
        elif isinstance(event, JobFinished):
            with self._lock:
                self.finished = True

    def sample(self) -> HostSample:
        cpu = self._cpu()
        memory = _safe(self._meminfo)
        with self._lock:
            output, estimate, finished = self.output, self.estimate, self.finished
        disks: list[DiskReading] = []
        written = needed = None
        warning = ""
        if output is not None:
            disks = self._disks(output)
            journal = _journal_folder(output)
            if finished:
                written = _safe(lambda: output.stat().st_size)
            else:
                written = _safe(lambda: self._written(journal))
            if estimate is not None and not finished:
                needed = max(0, 2 * estimate - (written or 0))  # the journal, then the joined output
                if disks and needed > disks[0].free:
                    warning = (f"the job needs about {size_text(needed)} more on {disks[0].path} "
                               f"but {size_text(disks[0].free)} is free")
        return HostSample(
            cpu_percent=cpu,
            cores=self.cores,
            ram_used=memory[0] if memory else None,
            ram_total=memory[1] if memory else None,
            disks=tuple(disks),
            written_bytes=written,
            needed_bytes=needed,
            disk_warning=warning,
            output_estimate=estimate,
        )

    def _cpu(self) -> float | None:
        now = _safe(self._proc_stat)
        last, self._last_cpu = self._last_cpu, now
        if now is None or last is None or now[1] <= last[1]:
            return None
        return max(0.0, min(100.0, 100.0 * (now[0] - last[0]) / (now[1] - last[1])))

    def _disks(self, output: Path) -> list[DiskReading]:
        readings = []
        seen: set[int] = set()
        for label, path in (("output", output.parent), ("journal", _journal_folder(output))):
            folder = existing_folder(path.absolute())
            device = _safe(lambda folder=folder: self._device_of(folder))
            if device is not None and device in seen:
                continue  # the journal sits beside the output: usually the same volume
            usage = _safe(lambda folder=folder: self._disk_usage(folder))
            if usage is None:
                continue
            if device is not None:
                seen.add(device)
            readings.append(DiskReading(label, folder, int(usage.free), int(usage.total)))
        return readings


def _journal_folder(output: Path) -> Path:
    from core.journal import journal_folder  # imported here: core.journal loads PyAV

    return journal_folder(output)


def _estimate(event: JobStarted) -> int | None:
    """The job's output size as the journal's free-disk check estimates it."""
    from core.job_journal import estimate_output_bytes  # PyAV: only once a job has started

    try:
        info = SimpleNamespace(path=event.input, width=event.width, height=event.height, is_rgb=False)
        return estimate_output_bytes(info, event.codec, event.total_output_frames, event.total_pairs + 1)  # type: ignore[arg-type]
    except OSError:
        return None


def _safe(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception:  # a reading that fails is unknown, never a crash
        return None
