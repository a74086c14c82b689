"""The watchdog's file set through the real watchdog, over file:// and b2sdk's RawSimulator:
settle by time next to a busy folder, writers that pause or hold the file open, many files,
growth after upload, and the stop rule. The clock is injected; the files and storage are real."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.events import LogRecord
from monitor.credentials import B2Credentials
from monitor.events import StoppingInstance, UploadFinished, VerificationCheck, WatchStateChanged
from monitor.states import WatchState
from monitor.storage_b2 import B2Storage
from monitor.storage_file import FileStorage
from monitor.tracked_files import FileState
from tests.monitor_helpers import (
    BUCKET,
    FakeClock,
    RecordingRunner,
    folder_watchdog,
    sim_account,
    step_for,
    write_random,
)

CHUNK = 64 * 1024


class StampedRecorder:
    """Every event with the fake-clock time it was sent at."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.events: list[tuple[float, object]] = []

    def __call__(self, event: object) -> None:
        self.events.append((self.clock.now, event))

    def of(self, kind: type) -> list:
        return [e for _, e in self.events if isinstance(e, kind)]

    def times(self, kind: type) -> list[float]:
        return [t for t, e in self.events if isinstance(e, kind)]

    def log(self) -> str:
        return "\n".join(e.message for e in self.of(LogRecord))


@dataclass
class Target:
    storage: object
    kind: str

    def read(self, name: str) -> bytes | None:
        if self.kind == "file":
            path = self.storage.folder / name
            return path.read_bytes() if path.exists() else None
        sink = io.BytesIO()
        try:
            self.storage.bucket.download_file_by_name("renders/" + name).save(sink)
        except Exception:
            return None
        return sink.getvalue()

    def versions(self, name: str) -> int:
        if self.kind == "file":
            return 1 if (self.storage.folder / name).exists() else 0
        listed = self.storage.bucket.list_file_versions("renders/" + name)
        return len([v for v in listed if v.action == "upload"])


@pytest.fixture(params=["file", "b2"])
def world(request, tmp_path: Path):
    """(watch folder, Target, clock, runner) for file:// and for the RawSimulator."""
    clock = FakeClock()
    watch = tmp_path / "in"
    watch.mkdir()
    if request.param == "file":
        (tmp_path / "out").mkdir()
        storage = FileStorage(tmp_path / "out", clock)
    else:
        account = sim_account()
        storage = B2Storage.connect(
            B2Credentials(account.key_id, account.key), BUCKET, "renders",
            api_factory=account.factory, clock=clock, min_part_size=100_000,
        )
    return watch, Target(storage, request.param), clock, RecordingRunner()


def append(path: Path, size: int) -> None:
    """One chunk by a writer that opens, writes and closes (so only the settle time guards it)."""
    with open(path, "ab") as handle:
        handle.write(b"\x5a" * size)


def test_slow_writer_next_to_a_chatty_log_is_uploaded_only_whole(world):
    watch, target, clock, runner = world
    recorder = StampedRecorder(clock)
    watchdog = folder_watchdog(watch, target.storage, clock, runner, on_event=recorder, idle=3.0)
    result, log = watch / "result.mp4", watch / "render.log"
    writes: list[float] = []

    def busy(t: float) -> None:
        append(log, 80)  # the log grows every 0.1 s: the folder never rests
        if len(writes) < 6 and t >= 2.0 * len(writes) - 1e-9:
            append(result, CHUNK)
            writes.append(clock.now)

    step_for(watchdog, clock, 11.0, each=busy)
    assert len(writes) == 6 and recorder.of(UploadFinished) == [] and runner.calls == []
    step_for(watchdog, clock, 40.0, each=lambda t: append(log, 80))
    assert watchdog.state is WatchState.STOPPED and runner.calls == [["stop-the-box"]]
    assert target.read("result.mp4") == result.read_bytes() and len(result.read_bytes()) == 6 * CHUNK
    uploaded_at = recorder.times(UploadFinished)
    assert len(uploaded_at) == 1 and uploaded_at[0] >= writes[-1] + 4.0
    assert [f.name for f in watchdog.files] == ["result.mp4"]  # the log never matched *.mp4


def test_a_writer_pausing_less_than_the_settle_time_is_waited_for(world):
    watch, target, clock, runner = world
    recorder = StampedRecorder(clock)
    watchdog = folder_watchdog(watch, target.storage, clock, runner, on_event=recorder, settle=4.0, idle=2.0)
    result = watch / "result.mp4"
    plan = {0.0: CHUNK, 3.0: CHUNK, 6.5: CHUNK}  # pauses of 3 s and 3.5 s, both under 4 s

    def writer(t: float) -> None:
        for when in [w for w in plan if w <= t + 1e-9]:
            append(result, plan.pop(when))

    step_for(watchdog, clock, 10.4, each=writer)
    assert recorder.of(UploadFinished) == []
    step_for(watchdog, clock, 30.0)
    assert watchdog.state is WatchState.STOPPED
    assert recorder.times(UploadFinished)[0] >= 1000.0 + 6.5 + 4.0
    assert target.read("result.mp4") == b"\x5a" * (3 * CHUNK)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the open-file check reads /proc")
def test_a_file_still_open_for_writing_is_not_finished_even_after_a_long_pause(world):
    watch, target, clock, runner = world
    recorder = StampedRecorder(clock)
    watchdog = folder_watchdog(watch, target.storage, clock, runner, on_event=recorder, settle=2.0, idle=1.0)
    result = watch / "result.mp4"
    with open(result, "wb") as handle:
        handle.write(b"a" * CHUNK)
        handle.flush()
        step_for(watchdog, clock, 10.0)  # five times the settle time, but the writer holds it open
        assert watchdog.file_set.get(result).state is FileState.SETTLING
        assert recorder.of(UploadFinished) == []
        assert "still open for writing" in recorder.log()
        handle.write(b"b" * CHUNK)
    step_for(watchdog, clock, 20.0)
    assert watchdog.state is WatchState.STOPPED
    assert target.read("result.mp4") == b"a" * CHUNK + b"b" * CHUNK


@pytest.mark.parametrize("count", [2, 10])
def test_every_finished_file_is_uploaded_and_verified_before_the_stop(world, count):
    watch, target, clock, runner = world
    recorder = StampedRecorder(clock)
    sentinel = watch.parent / "sentinel.json"
    watchdog = folder_watchdog(
        watch, target.storage, clock, runner, on_event=recorder, idle=5.0, dry_run=True, sentinel_path=sentinel
    )
    names = [f"clip{i:02d}.mp4" for i in range(count)]
    for name in names:
        write_random(watch / name, 3_000 + len(name))
    step_for(watchdog, clock, 120.0)
    assert watchdog.state is WatchState.STOPPED and runner.calls == []
    for name in names:
        assert target.read(name) == (watch / name).read_bytes()
    assert len(recorder.of(UploadFinished)) == count
    stop_at = recorder.times(StoppingInstance)[0]
    assert max(recorder.times(VerificationCheck)) <= stop_at
    record = json.loads(sentinel.read_text())
    assert [Path(f["local_path"]).name for f in record["files"]] == names
    assert all(f["passed"] == 2 and f["state"] == "verified" and len(f["checks"]) == 2 for f in record["files"])
    assert f"{count} file(s) in" in record["reason"]
    listed = [m for m in recorder.log().splitlines() if m.startswith("  clip")]
    assert len(listed) == count and all("verified 2/2" in line for line in listed)


def test_a_file_that_grows_after_its_upload_goes_up_again_as_a_new_version(world):
    watch, target, clock, runner = world
    recorder = StampedRecorder(clock)
    watchdog = folder_watchdog(watch, target.storage, clock, runner, on_event=recorder, idle=30.0)
    result = write_random(watch / "result.mp4", 40_000)
    step_for(watchdog, clock, 8.0)
    assert watchdog.file_set.get(result).state is FileState.VERIFIED
    first = recorder.of(UploadFinished)[0]
    append(result, 5_000)  # the producer was not done after all
    grown_at = clock.now
    step_for(watchdog, clock, 80.0)
    assert watchdog.state is WatchState.STOPPED
    uploads = recorder.of(UploadFinished)
    assert len(uploads) == 2 and uploads[1].size == 45_000 and uploads[1].file_id != first.file_id
    assert recorder.times(UploadFinished)[1] >= grown_at + 4.0
    assert target.read("result.mp4") == result.read_bytes()
    assert target.versions("result.mp4") == (2 if target.kind == "b2" else 1)
    assert recorder.times(StoppingInstance)[0] > recorder.times(UploadFinished)[1]
    assert "changed after its upload" in recorder.log() and "uploaded again as a new version" in recorder.log()
    states = [e.new for e in recorder.of(WatchStateChanged)]
    assert states.count(WatchState.UPLOADING) == 2


def test_stop_rule_expect_waits_for_n_verified_files(world):
    watch, target, clock, runner = world
    watchdog = folder_watchdog(watch, target.storage, clock, runner, expect=3, idle=None)
    write_random(watch / "a.mp4", 2_000)
    write_random(watch / "b.mp4", 2_000)
    step_for(watchdog, clock, 300.0)
    assert watchdog.state is WatchState.VERIFIED and runner.calls == []
    assert "2 of 3 expected files verified" in watchdog.message
    write_random(watch / "c.mp4", 2_000)
    step_for(watchdog, clock, 30.0)
    assert watchdog.state is WatchState.STOPPED and runner.calls == [["stop-the-box"]]
    assert "3 of --expect 3 files verified" in watchdog.stop_reason


def test_stop_rule_done_file_and_idle(world, tmp_path):
    watch, target, clock, runner = world
    done = tmp_path / "render.done"
    watchdog = folder_watchdog(watch, target.storage, clock, runner, done_file=done, idle=None)
    write_random(watch / "a.mp4", 2_000)
    step_for(watchdog, clock, 200.0)
    assert watchdog.state is WatchState.VERIFIED and runner.calls == []
    done.touch()
    step_for(watchdog, clock, 2.0)
    assert watchdog.state is WatchState.STOPPED and "the done file" in watchdog.stop_reason

    runner2, clock2 = RecordingRunner(), FakeClock()
    recorder = StampedRecorder(clock2)
    idle = folder_watchdog(
        watch, target.storage, clock2, runner2, idle=20.0, sentinel_path=tmp_path / "s2.json", on_event=recorder
    )
    step_for(idle, clock2, 20.0)  # a.mp4 is found, settles (4 s), goes up again, 2 checks
    verified_at = recorder.times(VerificationCheck)[-1]
    assert idle.state is WatchState.VERIFIED and runner2.calls == []  # quiet for less than 20 s
    step_for(idle, clock2, 30.0)
    assert idle.state is WatchState.STOPPED
    assert 20.0 <= recorder.times(StoppingInstance)[0] - verified_at < 20.5
    assert "nothing new or changed for 20 s" in idle.stop_reason


def test_no_file_never_stops_and_a_new_file_calls_the_countdown_off(world):
    watch, target, clock, runner = world
    recorder = StampedRecorder(clock)
    watchdog = folder_watchdog(watch, target.storage, clock, runner, on_event=recorder, idle=1.0, countdown=10.0)
    step_for(watchdog, clock, 300.0)
    assert watchdog.state is WatchState.WAITING and runner.calls == []
    write_random(watch / "a.mp4", 2_000)
    step_for(watchdog, clock, 12.0)
    assert watchdog.state is WatchState.COUNTDOWN
    write_random(watch / "b.mp4", 2_000)
    step_for(watchdog, clock, 0.2)
    assert watchdog.state is WatchState.WAITING and watchdog.stop_now() is False
    assert "countdown called off" in recorder.log()
    step_for(watchdog, clock, 40.0)
    assert watchdog.state is WatchState.STOPPED and runner.calls == [["stop-the-box"]]
    assert target.read("b.mp4") == (watch / "b.mp4").read_bytes()


def test_verify_download_reads_the_stored_bytes_back_before_checks_count(world):
    watch, target, clock, runner = world
    recorder = StampedRecorder(clock)
    watchdog = folder_watchdog(watch, target.storage, clock, runner, on_event=recorder, idle=1.0, verify_download=True)
    result = write_random(watch / "a.mp4", 150_000)
    step_for(watchdog, clock, 30.0)
    assert watchdog.state is WatchState.STOPPED
    log = recorder.log()
    assert "read back a.mp4: 150000 bytes" in log and "matches the local file" in log
    assert log.index("read back a.mp4") < log.index("check passed 1/2")
    assert target.read("a.mp4") == result.read_bytes()


def test_a_read_back_that_differs_makes_the_file_go_up_again(tmp_path):
    """file://: the stored bytes are damaged in place (same id) between the upload and the read-back."""
    import os

    clock, runner = FakeClock(), RecordingRunner()
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    recorder = StampedRecorder(clock)
    watchdog = folder_watchdog(
        tmp_path / "in", FileStorage(tmp_path / "out", clock), clock, runner,
        on_event=recorder, idle=1.0, verify_download=True,
    )
    result = write_random(tmp_path / "in" / "a.mp4", 50_000)
    while not recorder.of(UploadFinished):
        watchdog.step()
        clock.sleep(0.1)
    stored = tmp_path / "out" / "a.mp4"
    before = stored.stat()
    with open(stored, "r+b") as handle:
        handle.write(b"\0" * 100)
    os.utime(stored, ns=(before.st_atime_ns, before.st_mtime_ns))  # same id, other bytes
    step_for(watchdog, clock, 30.0)
    assert watchdog.state is WatchState.STOPPED
    assert len(recorder.of(UploadFinished)) == 2
    assert "but the local file has" in recorder.log()
    assert stored.read_bytes() == result.read_bytes()


def test_verify_only_with_read_back_waits_for_the_other_tools_upload(tmp_path):
    account = sim_account()
    clock, runner = FakeClock(), RecordingRunner()
    storage = B2Storage.connect(
        B2Credentials(account.key_id, account.key), BUCKET, "renders", api_factory=account.factory, clock=clock
    )
    (tmp_path / "in").mkdir()
    recorder = StampedRecorder(clock)
    watchdog = folder_watchdog(tmp_path / "in", storage, clock, runner, on_event=recorder, idle=1.0,
                               verify_only=True, verify_download=True)
    local = write_random(tmp_path / "in" / "a.mp4", 20_000)
    step_for(watchdog, clock, 20.0)
    assert watchdog.state is WatchState.VERIFYING and runner.calls == []
    storage.bucket.upload_bytes(local.read_bytes(), "renders/a.mp4")  # the other tool
    step_for(watchdog, clock, 20.0)
    assert watchdog.state is WatchState.STOPPED and recorder.of(UploadFinished) == []
    log = recorder.log()
    assert "reading it back first" in log and log.index("read back a.mp4: 20000 bytes") < log.index("check passed 1/2")
