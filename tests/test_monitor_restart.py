"""Restarting the watchdog: the state file, dead file:// temporaries, unfinished B2 large files.

"kill -9" here is dropping a watchdog mid-run without any clean-up and building a new one
over the same folder, state file and target; a real kill -9 of ``framedeck watch`` is in
tests/test_monitor_watch_process.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from monitor.credentials import B2Credentials
from monitor.events import UploadFinished, VerificationCheck
from monitor.leftovers import pid_alive, remove_dead_uploads, temp_name
from monitor.state_store import STATE_NAME, StateStore
from monitor.states import WatchState
from monitor.storage_b2 import B2Storage
from monitor.storage_file import FileStorage
from monitor.tracked_files import FileState
from tests.monitor_helpers import (
    BUCKET,
    FakeClock,
    Recorder,
    RecordingRunner,
    folder_watchdog,
    sim_account,
    step_for,
    write_random,
)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("kind", ["file", "b2"])
def test_after_a_kill_verified_files_are_not_uploaded_again_and_count(tmp_path, kind):
    watch = tmp_path / "in"
    watch.mkdir()
    if kind == "file":
        (tmp_path / "out").mkdir()

        def storage(clock):
            return FileStorage(tmp_path / "out", clock)
    else:
        account = sim_account()

        def storage(clock):
            return B2Storage.connect(
                B2Credentials(account.key_id, account.key), BUCKET, "renders", api_factory=account.factory, clock=clock
            )

    store_path = watch / STATE_NAME
    write_random(watch / "a.mp4", 20_000)
    write_random(watch / "b.mp4", 30_000)
    clock, runner, first = FakeClock(), RecordingRunner(), Recorder()
    watchdog = folder_watchdog(watch, storage(clock), clock, runner, on_event=first, expect=3,
                               state_store=StateStore(store_path))
    step_for(watchdog, clock, 20.0)
    assert [f.state for f in watchdog.files] == [FileState.VERIFIED, FileState.VERIFIED]
    write_random(watch / "c.mp4", 10_000)
    step_for(watchdog, clock, 1.0)  # c.mp4 found, settling: then the process is killed
    del watchdog
    saved = json.loads(store_path.read_text())
    assert sorted(Path(r["path"]).name for r in saved["files"]) == ["a.mp4", "b.mp4"]
    assert all(len(r["sha1"]) == 40 and r["file_id"] for r in saved["files"])
    ids = {Path(r["path"]).name: r["file_id"] for r in saved["files"]}

    clock, runner, second = FakeClock(5000.0), RecordingRunner(), Recorder()
    restarted = folder_watchdog(watch, storage(clock), clock, runner, on_event=second, expect=3,
                                state_store=StateStore(store_path))
    step_for(restarted, clock, 30.0)
    assert restarted.state is WatchState.STOPPED and runner.calls == [["stop-the-box"]]
    assert [Path(e.path).name for e in second.of(UploadFinished)] == ["c.mp4"]  # a and b: no second upload
    checked = {f.name: f for f in restarted.files}
    assert checked["a.mp4"].restored and checked["a.mp4"].file_id == ids["a.mp4"] and checked["a.mp4"].uploads == 0
    assert len([c for c in second.of(VerificationCheck) if c.passed]) == 6  # K=2 for each of three
    logs = " ".join(e.message for e in second.events if hasattr(e, "message"))
    assert "without uploading it again" in logs and "3 of --expect 3 files verified" in restarted.stop_reason


def test_a_file_changed_while_the_watchdog_was_down_is_uploaded_again(tmp_path):
    watch, out = tmp_path / "in", tmp_path / "out"
    watch.mkdir()
    out.mkdir()
    store_path = tmp_path / "elsewhere" / "state.json"  # --state PATH
    local = write_random(watch / "a.mp4", 20_000)
    clock, runner = FakeClock(), RecordingRunner()
    watchdog = folder_watchdog(watch, FileStorage(out, clock), clock, runner, idle=1.0,
                               state_store=StateStore(store_path))
    step_for(watchdog, clock, 20.0)
    assert watchdog.state is WatchState.STOPPED and store_path.exists()
    write_random(local, 25_000)
    clock, runner, recorder = FakeClock(), RecordingRunner(), Recorder()
    again = folder_watchdog(watch, FileStorage(out, clock), clock, runner, idle=1.0, on_event=recorder,
                            state_store=StateStore(store_path))
    step_for(again, clock, 20.0)
    assert again.state is WatchState.STOPPED
    assert len(recorder.of(UploadFinished)) == 1 and (out / "a.mp4").read_bytes() == local.read_bytes()
    assert any("changed since the state file" in getattr(e, "message", "") for e in recorder.events)


def test_a_restored_file_whose_stored_copy_is_gone_is_uploaded_again(tmp_path):
    watch, out = tmp_path / "in", tmp_path / "out"
    watch.mkdir()
    out.mkdir()
    local = write_random(watch / "a.mp4", 20_000)
    clock, runner = FakeClock(), RecordingRunner()
    store = watch / STATE_NAME
    watchdog = folder_watchdog(watch, FileStorage(out, clock), clock, runner, idle=1.0, state_store=StateStore(store))
    step_for(watchdog, clock, 20.0)
    assert watchdog.state is WatchState.STOPPED
    (out / "a.mp4").unlink()  # someone emptied the target meanwhile
    clock, runner, recorder = FakeClock(), RecordingRunner(), Recorder()
    again = folder_watchdog(watch, FileStorage(out, clock), clock, runner, idle=1.0, on_event=recorder,
                            state_store=StateStore(store))
    step_for(again, clock, 30.0)
    assert again.state is WatchState.STOPPED and runner.calls == [["stop-the-box"]]
    assert len(recorder.of(UploadFinished)) == 1 and (out / "a.mp4").read_bytes() == local.read_bytes()
    assert any("does not check out" in getattr(e, "message", "") for e in recorder.events)


def test_an_unreadable_state_file_is_said_and_ignored(tmp_path):
    watch = tmp_path / "in"
    watch.mkdir()
    (tmp_path / "out").mkdir()
    (watch / STATE_NAME).write_text("{ not json")
    write_random(watch / "a.mp4", 2_000)
    clock, runner, recorder = FakeClock(), RecordingRunner(), Recorder()
    watchdog = folder_watchdog(watch, FileStorage(tmp_path / "out", clock), clock, runner, idle=1.0,
                               on_event=recorder, state_store=StateStore(watch / STATE_NAME))
    step_for(watchdog, clock, 20.0)
    assert watchdog.state is WatchState.STOPPED
    assert any("cannot be used" in getattr(e, "message", "") for e in recorder.events)
    assert json.loads((watch / STATE_NAME).read_text())["version"] == 1  # rewritten whole


def test_leftover_temp_files_of_dead_uploads_are_removed_at_start(tmp_path):
    watch, out = tmp_path / "in", tmp_path / "out"
    watch.mkdir()
    out.mkdir()
    gone = dead_pid()
    assert not pid_alive(gone)
    dead = out / temp_name("a.mp4", gone)
    dead.write_bytes(b"half an upload")
    live = out / temp_name("b.mp4", os.getpid())  # a live writer: left alone
    live.write_bytes(b"being written")
    other = out / ".notes.tmp"
    other.write_bytes(b"not ours")
    local = write_random(watch / "a.mp4", 5_000)
    clock, runner, recorder = FakeClock(), RecordingRunner(), Recorder()
    watchdog = folder_watchdog(watch, FileStorage(out, clock), clock, runner, idle=1.0, on_event=recorder)
    watchdog.step()
    assert not dead.exists() and live.exists() and other.exists()
    assert any(f"removed {dead.name}" in getattr(e, "message", "") for e in recorder.events)
    step_for(watchdog, clock, 20.0)
    assert watchdog.state is WatchState.STOPPED and (out / "a.mp4").read_bytes() == local.read_bytes()
    assert remove_dead_uploads(out) == []


def test_sigterm_during_a_file_upload_leaves_no_temporary_file(tmp_path):
    """A signal during an upload cancels it at its next progress report; the temp file goes."""
    watch, out = tmp_path / "in", tmp_path / "out"
    watch.mkdir()
    out.mkdir()
    write_random(watch / "big.mp4", 6 << 20)
    clock, runner = FakeClock(), RecordingRunner()
    watchdog = folder_watchdog(watch, FileStorage(out, clock), clock, runner, idle=1.0)

    def on_event(event):
        if type(event).__name__ == "UploadProgress":
            clock.sleep(1.0)  # let the progress throttle pass the next report
            if event.done >= 2 << 20:
                assert any(p.name.endswith(".uploading") for p in out.iterdir())
                watchdog.signal_received("SIGTERM")

    watchdog.on_event = on_event
    step_for(watchdog, clock, 20.0)
    assert watchdog.state is WatchState.CANCELLED and "SIGTERM received" in watchdog.message
    assert list(out.iterdir()) == [] and runner.calls == []


def b2_storage(account, clock=None) -> B2Storage:
    return B2Storage.connect(
        B2Credentials(account.key_id, account.key), BUCKET, "renders",
        api_factory=account.factory, clock=clock or FakeClock(), min_part_size=100_000,
    )


def test_an_unfinished_large_file_of_the_same_bytes_is_resumed(tmp_path):
    account = sim_account()
    storage = b2_storage(account)
    local = write_random(tmp_path / "long.mp4", 450_000)
    real_upload_part = account.simulator.upload_part
    lock, started, done = threading.Lock(), [0], threading.Semaphore(0)

    def killed_after_two_parts(*args, **kwargs):
        with lock:  # b2sdk sends parts from several threads
            if started[0] >= 2:
                raise KeyboardInterrupt  # the process dies mid-upload
            started[0] += 1
        try:
            return real_upload_part(*args, **kwargs)
        finally:
            done.release()

    account.simulator.upload_part = killed_after_two_parts
    with pytest.raises(KeyboardInterrupt):
        storage.upload(local, "renders/long.mp4", lambda d, t: None, None)
    assert done.acquire(timeout=10) and done.acquire(timeout=10)  # the two parts in flight have landed
    bucket = account.api.get_bucket_by_name(BUCKET)
    unfinished = list(bucket.list_unfinished_large_files())
    stored = len(list(bucket.list_parts(unfinished[0].file_id)))
    assert len(unfinished) == 1 and stored == 2
    parts: list[object] = []

    account.simulator.upload_part = lambda *a, **k: parts.append(a) or real_upload_part(*a, **k)
    parts.clear()
    notes: list[str] = []
    restarted = b2_storage(account)
    restarted.recover(notes.append)
    remote = restarted.upload(local, "renders/long.mp4", lambda d, t: None, None)
    assert remote.file_id == unfinished[0].file_id and remote.size == 450_000
    total = [p for p in account.simulator.bucket_name_to_bucket[BUCKET].file_id_to_file[remote.file_id].parts if p]
    # b2sdk reused stored parts (which ones depends on its threads); never uploaded everything again
    assert len(total) >= 4 and len(total) - stored <= len(parts) < len(total)
    assert list(bucket.list_unfinished_large_files()) == []
    assert any("resumed the unfinished upload" in n for n in notes)
    sink = __import__("io").BytesIO()
    bucket.download_file_by_id(remote.file_id).save(sink)
    assert sink.getvalue() == local.read_bytes()


def test_an_unfinished_large_file_of_other_bytes_is_cancelled(tmp_path):
    account = sim_account()
    storage = b2_storage(account)
    bucket = account.api.get_bucket_by_name(BUCKET)
    stale = account.api.session.start_large_file(
        bucket.id_, "renders/long.mp4", "b2/x-auto", {"large_file_sha1": "0" * 40}
    )
    notes: list[str] = []
    storage.recover(notes.append)
    local = write_random(tmp_path / "long.mp4", 250_000)
    remote = storage.upload(local, "renders/long.mp4", lambda d, t: None, None)
    assert remote.file_id != stale["fileId"]
    assert list(bucket.list_unfinished_large_files()) == []
    assert any("made for other bytes" in n for n in notes)


def test_read_back_of_a_b2_large_file_streams_its_sha1(tmp_path):
    account = sim_account()
    storage = b2_storage(account)
    local = write_random(tmp_path / "long.mp4", 330_000)
    remote = storage.upload(local, "renders/long.mp4", lambda d, t: None, None)
    assert remote.sha1_source == "large_file_sha1"
    import hashlib

    assert storage.read_back(remote.file_id) == (330_000, hashlib.sha1(local.read_bytes()).hexdigest())
