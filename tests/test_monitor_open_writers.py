"""Who holds a file open for writing: the real /proc of this process, a made-up /proc tree,
and the watchdog saying once that it cannot look and relying on the settle time."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from core.events import LogRecord
from monitor.open_writers import WriterProbe
from monitor.states import WatchState
from monitor.storage_file import FileStorage
from tests.monitor_helpers import FakeClock, Recorder, RecordingRunner, folder_watchdog, step_for

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@linux_only
def test_this_process_writing_a_file_is_seen_and_reading_it_is_not(tmp_path):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"x")
    probe = WriterProbe()
    with open(path, "rb"):
        assert path not in probe.probe([path]).writers
    with open(path, "ab"):
        result = probe.probe([path])
        assert result.available and os.getpid() in result.writers[path]
    with open(path, "r+b"):
        assert os.getpid() in probe.probe([path]).writers[path]
    assert path not in probe.probe([path]).writers


def fake_proc(root: Path, pid: int, target: Path, flags: str) -> None:
    (root / str(pid) / "fd").mkdir(parents=True)
    (root / str(pid) / "fdinfo").mkdir()
    os.symlink(target, root / str(pid) / "fd" / "3")
    (root / str(pid) / "fdinfo" / "3").write_text(f"pos:\t0\nflags:\t{flags}\nmnt_id:\t1\n")


def test_fdinfo_flags_decide_and_unreadable_processes_are_counted(tmp_path):
    target = tmp_path / "result.mp4"
    target.write_bytes(b"x")
    proc = tmp_path / "proc"
    fake_proc(proc, 10, target, "0100000")  # O_RDONLY | O_LARGEFILE
    fake_proc(proc, 11, target, "0100001")  # O_WRONLY
    fake_proc(proc, 12, target, "02")  # O_RDWR
    fake_proc(proc, 13, tmp_path / "other", "01")  # another file
    (proc / "14").mkdir()  # its fd folder cannot be listed (another user's process)
    (proc / "14" / "fd").write_text("not a folder")
    (proc / "self").mkdir()
    result = WriterProbe(proc).probe([target])
    assert result.available and sorted(result.writers[target]) == [11, 12] and result.blind == 1
    assert WriterProbe(tmp_path / "no-proc").probe([target]).available is False


def test_without_proc_the_watchdog_says_so_once_and_relies_on_the_settle_time(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    clock, runner, recorder = FakeClock(), RecordingRunner(), Recorder()
    watchdog = folder_watchdog(
        tmp_path / "in", FileStorage(tmp_path / "out", clock), clock, runner, idle=1.0, on_event=recorder,
        writer_probe=WriterProbe(tmp_path / "no-proc"), expect=2,
    )
    (tmp_path / "in" / "a.mp4").write_bytes(b"a" * 1000)
    step_for(watchdog, clock, 6.0)
    (tmp_path / "in" / "b.mp4").write_bytes(b"b" * 1000)
    step_for(watchdog, clock, 30.0)
    assert watchdog.state is WatchState.STOPPED
    said = [e.message for e in recorder.of(LogRecord) if "cannot read /proc" in e.message]
    assert said == ["cannot read /proc to see who writes a file; relying on the settle time alone"]
