"""B2 storage and the watchdog against b2sdk's in-process RawSimulator (the real SDK path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from b2sdk.v2.exception import B2ConnectionError, ServiceError

from monitor.actions import CommandAction
from monitor.credentials import B2Credentials
from monitor.errors import CredentialsError, StorageError, TargetError
from monitor.events import UploadProgress, VerificationCheck
from monitor.hashing import file_sha1
from monitor.states import WatchState
from monitor.storage_b2 import B2Storage
from monitor.upload import MonotoneProgress
from monitor.watchdog import Watchdog
from tests.monitor_helpers import (
    BUCKET,
    FakeClock,
    Recorder,
    RecordingRunner,
    drive,
    sim_account,
    write_random,
)

PART = 100_000  # files of at least this size go up as large files, in parts


@pytest.fixture
def account():
    return sim_account()


def connect(account, clock=None, prefix="renders") -> B2Storage:
    return B2Storage.connect(
        B2Credentials(account.key_id, account.key),
        BUCKET,
        prefix,
        api_factory=account.factory,
        clock=clock or FakeClock(),
        min_part_size=PART,
    )


def test_small_file_carries_content_sha1(account, tmp_path):
    storage = connect(account)
    local = write_random(tmp_path / "clip.mp4", 40_000)
    seen: list[tuple[int, int]] = []
    remote = storage.upload(local, storage.remote_name(local), lambda d, t: seen.append((d, t)), None)
    assert remote.name == "renders/clip.mp4" and remote.size == 40_000
    assert remote.sha1_source == "content_sha1" and remote.sha1 == file_sha1(local)[1]
    assert seen[-1] == (40_000, 40_000)
    assert storage.find_by_name("renders/clip.mp4") == remote
    assert storage.find_by_id(remote.file_id) == remote
    assert storage.find_by_name("renders/other.mp4") is None


def test_large_file_goes_in_parts_with_large_file_sha1(account, tmp_path):
    storage = connect(account)
    local = write_random(tmp_path / "long.mp4", 350_000)
    remote = storage.upload(local, storage.remote_name(local), lambda d, t: None, None)
    assert remote.sha1_source == "large_file_sha1" and remote.sha1 == file_sha1(local)[1]
    stored = account.simulator.bucket_name_to_bucket[BUCKET].file_id_to_file[remote.file_id]
    assert stored.content_sha1 == "none"  # a large file: whole-file hash only in file info
    assert len([part for part in stored.parts if part is not None]) == 3


def test_unfinished_large_file_of_an_earlier_attempt_is_cancelled(account, tmp_path):
    storage = connect(account)
    bucket = account.api.get_bucket_by_name(BUCKET)
    account.api.session.start_large_file(bucket.id_, "renders/long.mp4", "b2/x-auto", {})
    account.api.session.start_large_file(bucket.id_, "renders/long.mp4.bak", "b2/x-auto", {})
    local = write_random(tmp_path / "long.mp4", 250_000)
    storage.upload(local, "renders/long.mp4", lambda d, t: None, None)
    left = [f.file_name for f in bucket.list_unfinished_large_files()]
    assert left == ["renders/long.mp4.bak"]  # only the same name is cancelled


def test_transient_upload_errors_are_retried_and_progress_stays_monotone(account, tmp_path):
    clock = FakeClock()
    storage = connect(account, clock)
    account.simulator.set_upload_errors(
        [B2ConnectionError("connection reset"), ServiceError("503 service unavailable")]
    )
    local = write_random(tmp_path / "clip.mp4", 60_000)
    recorder = Recorder()
    watchdog = Watchdog(
        storage,
        CommandAction("true", RecordingRunner()),
        sentinel_path=tmp_path / "s.json",
        confirm=2,
        check_interval=1,
        countdown=0,
        on_event=recorder,
        clock=clock,
        expect=1,
    )
    watchdog.file_ready(local)
    drive(watchdog, clock)
    assert watchdog.state is WatchState.STOPPED
    assert account.simulator.upload_errors == []  # both errors were raised and retried
    done = [e.done for e in recorder.of(UploadProgress)]
    assert done == sorted(done) and done[-1] == 60_000


def test_progress_display_never_goes_backwards():
    shown: list[int] = []
    clock = FakeClock()
    progress = MonotoneProgress(lambda d, t, r, e: shown.append(d), clock, interval=0.0)
    for raw in (10, 60, 30, 45, 80, 100):  # b2sdk restarted a part at 30
        clock.sleep(1)
        progress(raw, 100)
    assert shown == [10, 60, 60, 60, 80, 100]


def test_expired_auth_token_is_renewed(account, tmp_path):
    storage = connect(account)
    token = account.api.account_info.get_account_auth_token()
    account.simulator.expire_auth_token(token)
    local = write_random(tmp_path / "clip.mp4", 20_000)
    remote = storage.upload(local, "renders/clip.mp4", lambda d, t: None, None)
    assert account.api.account_info.get_account_auth_token() != token
    account.simulator.expire_auth_token(account.api.account_info.get_account_auth_token())
    assert storage.find_by_id(remote.file_id) == remote


def test_deadline_above_retries_fails_the_upload(account, tmp_path):
    clock = FakeClock()
    storage = connect(account, clock)
    local = write_random(tmp_path / "long.mp4", 300_000)

    def slow(done: int, total: int) -> None:
        clock.sleep(10)

    with pytest.raises(StorageError, match="did not finish before its deadline"):
        storage.upload(local, "renders/long.mp4", slow, clock() + 15)


def test_bad_key_and_bad_bucket_are_one_sentence_without_the_key(account):
    wrong = B2Credentials(account.key_id, "K000-wrong-secret-value")
    with pytest.raises(CredentialsError) as caught:
        B2Storage.connect(wrong, BUCKET, api_factory=account.factory)
    assert "wrong-secret" not in str(caught.value) and str(caught.value).endswith(".")
    with pytest.raises(TargetError, match="does not exist"):
        connect_to = B2Credentials(account.key_id, account.key)
        B2Storage.connect(connect_to, "no-such-bucket", api_factory=account.factory)


def test_newer_version_or_hidden_file_means_no_stop(account, tmp_path):
    clock = FakeClock()
    storage = connect(account, clock)
    runner = RecordingRunner()
    recorder = Recorder()
    watchdog = Watchdog(
        storage,
        CommandAction("poweroff-now", runner),
        sentinel_path=tmp_path / "s.json",
        confirm=3,
        check_interval=5,
        countdown=0,
        dry_run=False,
        on_event=recorder,
        clock=clock,
        expect=1,
    )
    local = write_random(tmp_path / "clip.mp4", 30_000)
    watchdog.file_ready(local)
    watchdog.step()  # upload
    watchdog.step()  # check 1 passes
    assert watchdog.verified == 1
    bucket = account.api.get_bucket_by_name(BUCKET)
    bucket.upload_bytes(local.read_bytes(), "renders/clip.mp4")  # same bytes, newer version
    drive(watchdog, clock, steps=40)
    assert watchdog.state is WatchState.VERIFYING and watchdog.verified == 0
    assert "name -> id" in watchdog.last_check.reason
    bucket.hide_file("renders/clip.mp4")
    drive(watchdog, clock, steps=40)
    assert watchdog.state is WatchState.VERIFYING and watchdog.verified == 0
    assert "lookup by id" in watchdog.last_check.reason or "is not in" in watchdog.last_check.reason
    assert runner.calls == [] and not (tmp_path / "s.json").exists()


def test_large_file_verified_and_sentinel_records_it(account, tmp_path):
    clock = FakeClock()
    storage = connect(account, clock)
    recorder = Recorder()
    watchdog = Watchdog(
        storage,
        CommandAction("true", RecordingRunner()),
        sentinel_path=tmp_path / "s.json",
        confirm=2,
        check_interval=3,
        countdown=5,
        on_event=recorder,
        clock=clock,
        expect=1,
    )
    local = write_random(tmp_path / "long.mp4", 320_000)
    watchdog.file_ready(local)
    drive(watchdog, clock)
    assert watchdog.state is WatchState.STOPPED
    checks = recorder.of(VerificationCheck)
    assert any(c.what == "sha1 (large_file_sha1)" for c in checks[0].comparisons)
    record = json.loads(Path(tmp_path / "s.json").read_text())
    assert record["verification"]["target"] == f"b2://{BUCKET}/renders/"
    assert record["verification"]["sha1"] == file_sha1(local)[1]
