"""Host health (core/host_health.py) with fake /proc readings and disks, and on this machine."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from core.events import JobFinished, JobStarted
from core.host_health import HostSampler, folder_bytes, read_meminfo, read_proc_stat
from core.journal import journal_folder

MIB = 2**20


def started(input_path: Path, output: Path, frames: int = 20, pairs: int = 9) -> JobStarted:
    return JobStarted(str(input_path), str(output), 64, 48, 25.0, 50.0, pairs, frames, "flow", "cpu",
                      "fp32", 1, "libx264")


def test_cpu_share_between_samples_and_ram() -> None:
    readings = iter([(100, 1000), (600, 2000), (600, 2000)])
    host = HostSampler(proc_stat=lambda: next(readings), meminfo=lambda: (3 * MIB, 8 * MIB), cores=4)
    assert host.sample().cpu_percent is None  # no interval yet
    second = host.sample()
    assert second.cpu_percent == 50.0 and (second.ram_used, second.ram_total) == (3 * MIB, 8 * MIB)
    assert host.sample().cpu_percent is None  # no time passed: unknown, not a division by zero


def test_a_job_that_will_not_fit_warns_and_one_that_fits_does_not(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    source.write_bytes(b"x" * (10 * MIB))  # 10 input frames -> 1 MiB a frame; 20 output frames
    output = tmp_path / "out.mp4"
    free = {"bytes": 30 * MIB}
    host = HostSampler(proc_stat=lambda: None, meminfo=lambda: None,
                       disk_usage=lambda p: SimpleNamespace(free=free["bytes"], total=100 * MIB),
                       device_of=lambda p: 1)
    host.on_event(started(source, output))
    journal = journal_folder(output)
    journal.mkdir()
    (journal / "segment-0.mp4").write_bytes(b"y" * (3 * MIB))
    sample = host.sample()
    assert sample.output_estimate == 20 * MIB and sample.written_bytes == 3 * MIB
    assert sample.needed_bytes == 37 * MIB  # the journal then the joined output, less what is written
    assert "needs about 37 MiB more" in sample.disk_warning and "30 MiB is free" in sample.disk_warning
    assert [d.label for d in sample.disks] == ["output"]  # the journal is on the same volume
    free["bytes"] = 40 * MIB
    assert host.sample().disk_warning == ""
    output.write_bytes(b"z" * (20 * MIB))
    host.on_event(JobFinished(str(output), 10, 20, 9, 9, 1.0, 0.4))
    done = host.sample()
    assert done.written_bytes == 20 * MIB and done.needed_bytes is None and done.disk_warning == ""


def test_a_journal_on_another_volume_gets_its_own_line(tmp_path: Path) -> None:
    output = tmp_path / "out" / "clip.mp4"
    output.parent.mkdir()
    journal_folder(output).mkdir()
    devices = {output.parent: 1, journal_folder(output): 2}
    host = HostSampler(proc_stat=lambda: None, meminfo=lambda: None,
                       disk_usage=lambda p: SimpleNamespace(free=5, total=10),
                       device_of=lambda p: devices[p])
    host.watch(output)
    assert [d.label for d in host.sample().disks] == ["output", "journal"]


def test_the_real_readers_on_this_machine(tmp_path: Path) -> None:
    stat, memory = read_proc_stat(), read_meminfo()
    if Path("/proc/stat").exists():
        assert stat is not None and 0 <= stat[0] <= stat[1]
        assert memory is not None and 0 < memory[0] < memory[1]
    (tmp_path / "a").write_bytes(b"12345")
    assert folder_bytes(tmp_path) == 5 and folder_bytes(tmp_path / "missing") == 0
    host = HostSampler()
    host.watch(tmp_path / "out.mp4")
    sample = host.sample()
    assert sample.disks and sample.disks[0].free > 0 and sample.disks[0].path == tmp_path
