"""``b2://bucket/prefix`` through b2sdk, with an injectable B2Api factory.

The factory returns an unauthorised ``B2Api``; tests hand one built over b2sdk's
``RawSimulator`` so they run the real SDK code path. Files of at least the
planner's part size go up as large files, in parts. The local SHA-1 is passed to
b2sdk, so small files carry it as ``content_sha1`` and large files as ``large_file_sha1``.

An unfinished large file left under the same name by an earlier attempt is resumed when
it was started for the same bytes (its ``large_file_sha1`` equals the local SHA-1; b2sdk
then reuses the parts whose size and SHA-1 match); any other is cancelled, and whatever
is still unfinished under the name after a successful upload is cancelled too.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from b2sdk.v2 import AbstractProgressListener, B2Api, B2HttpApiConfig, InMemoryAccountInfo
from b2sdk.v2.exception import (
    B2Error,
    BucketIdNotFound,
    FileNotPresent,
    InvalidAuthToken,
    NonExistentBucket,
    Unauthorized,
)

from monitor.credentials import B2Credentials
from monitor.errors import CredentialsError, StorageError, TargetError
from monitor.hashing import file_sha1
from monitor.storage_base import ProgressCallback, RemoteFile

ApiFactory = Callable[[], B2Api]


def default_api_factory() -> B2Api:
    """A B2Api talking to the real service, keys kept in memory only."""
    return B2Api(InMemoryAccountInfo(), api_config=B2HttpApiConfig())


class DeadlineExceeded(Exception):
    """Raised from the progress listener; not a B2Error, so b2sdk does not retry it."""


class _Listener(AbstractProgressListener):
    """Forwards b2sdk's progress and enforces the overall upload deadline."""

    def __init__(
        self, progress: ProgressCallback, clock: Callable[[], float], deadline: float | None
    ) -> None:
        super().__init__()
        self.progress = progress
        self.clock = clock
        self.deadline = deadline
        self.total = 0

    def set_total_bytes(self, total_byte_count: int) -> None:
        self.total = total_byte_count

    def bytes_completed(self, byte_count: int) -> None:
        if self.deadline is not None and self.clock() > self.deadline:
            raise DeadlineExceeded()
        self.progress(byte_count, self.total)


class B2Storage:
    """One bucket and a name prefix in B2."""

    def __init__(
        self,
        api: B2Api,
        bucket_name: str,
        prefix: str = "",
        *,
        clock: Callable[[], float] = time.monotonic,
        min_part_size: int | None = None,
    ) -> None:
        self.api = api
        self.bucket_name = bucket_name
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.clock = clock
        self.min_part_size = min_part_size
        self.url = f"b2://{bucket_name}/{self.prefix}"
        try:
            self.bucket = api.get_bucket_by_name(bucket_name)
        except (NonExistentBucket, BucketIdNotFound):
            raise TargetError(f"The bucket {bucket_name!r} does not exist or this key cannot see it.") from None
        except B2Error as exc:
            raise StorageError(f"Could not open the bucket {bucket_name!r}: {type(exc).__name__}.") from None

    @classmethod
    def connect(
        cls,
        credentials: B2Credentials,
        bucket_name: str,
        prefix: str = "",
        *,
        api_factory: ApiFactory = default_api_factory,
        clock: Callable[[], float] = time.monotonic,
        min_part_size: int | None = None,
    ) -> B2Storage:
        """Authorise with ``credentials`` and open the bucket; one-sentence errors only."""
        api = api_factory()
        try:
            api.authorize_account("production", credentials.key_id, credentials.key)
        except (Unauthorized, InvalidAuthToken):
            raise CredentialsError("B2 rejected the application key (check the key id and key).") from None
        except B2Error as exc:
            raise CredentialsError(f"B2 authorisation failed: {type(exc).__name__}.") from None
        return cls(api, bucket_name, prefix, clock=clock, min_part_size=min_part_size)

    def remote_name(self, local: Path) -> str:
        return self.prefix + Path(local).name

    def note(self, message: str) -> None:
        """Where remarks about resumed or cancelled uploads go (the watchdog sets its log)."""

    def recover(self, note: Callable[[str], None]) -> None:
        """Nothing to do at start: unfinished large files are sorted out per upload."""
        self.note = note

    def cancel_unfinished(self, name: str, keep_sha1: str | None = None) -> tuple[int, str | None]:
        """Cancel unfinished large files left under ``name``, except one started for the
        bytes whose SHA-1 is ``keep_sha1``; return how many were cancelled and the kept id."""
        cancelled, kept = 0, None
        for unfinished in self.bucket.list_unfinished_large_files(prefix=name):
            if unfinished.file_name != name:
                continue
            same = keep_sha1 is not None and unfinished.file_info.get("large_file_sha1") == keep_sha1
            if same and kept is None:
                kept = unfinished.file_id
                continue
            self.bucket.cancel_large_file(unfinished.file_id)
            cancelled += 1
        return cancelled, kept

    def upload(
        self, local: Path, name: str, progress: ProgressCallback, deadline: float | None
    ) -> RemoteFile:
        try:
            _, sha1 = file_sha1(local)
            cancelled, kept = self.cancel_unfinished(name, keep_sha1=sha1)
            if cancelled:
                self.note(f"cancelled {cancelled} unfinished upload(s) of {name} made for other bytes")
            if kept is not None:
                self.note(f"an unfinished upload of {name} for the same bytes exists (id {kept}); resuming it")
            version = self.bucket.upload_local_file(
                str(local),
                name,
                sha1_sum=sha1,
                min_part_size=self.min_part_size,
                progress_listener=_Listener(progress, self.clock, deadline),
            )
        except DeadlineExceeded:
            raise StorageError(f"The upload of {name} did not finish before its deadline.") from None
        except B2Error as exc:
            raise StorageError(f"The upload of {name} failed: {_brief(exc)}.") from None
        if deadline is not None and self.clock() > deadline:
            raise StorageError(f"The upload of {name} did not finish before its deadline.")
        if kept is not None:
            resumed = version.id_ == kept
            self.note(f"{name}: {'resumed the unfinished upload' if resumed else 'uploaded afresh'}")
        with contextlib.suppress(B2Error):
            self.cancel_unfinished(name)  # anything b2sdk did not resume is garbage now
        return _remote(version)

    def read_back(self, file_id: str) -> tuple[int, str]:
        """Download version ``file_id`` and return its size and SHA-1 (streamed, not stored)."""
        sink = _Sha1Sink()
        try:
            self.bucket.download_file_by_id(file_id).save(sink, allow_seeking=False)
        except B2Error as exc:
            raise StorageError(f"Reading back {file_id} failed: {_brief(exc)}.") from None
        return sink.size, sink.digest.hexdigest()

    def find_by_name(self, name: str) -> RemoteFile | None:
        try:
            return _remote(self.bucket.get_file_info_by_name(name))
        except FileNotPresent:
            return None

    def find_by_id(self, file_id: str) -> RemoteFile | None:
        try:
            version = self.bucket.get_file_info_by_id(file_id)
        except FileNotPresent:
            return None
        if getattr(version, "action", "upload") != "upload":
            return None  # a hide marker or an unfinished large file is no stored file
        return _remote(version)


class _Sha1Sink:
    """A write-only file object that keeps only the size and SHA-1 of what it is given."""

    def __init__(self) -> None:
        self.digest = hashlib.sha1()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return len(data)

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        pass


def _remote(version) -> RemoteFile:
    """A RemoteFile from a b2sdk FileVersion or DownloadVersion."""
    content = version.content_sha1
    if content and content != "none":
        sha1, source = content, "content_sha1"
    elif version.file_info.get("large_file_sha1"):
        sha1, source = version.file_info["large_file_sha1"], "large_file_sha1"
    else:
        sha1, source = None, "none"
    return RemoteFile(version.id_, version.file_name, int(version.size), sha1, source)


def _brief(exc: B2Error) -> str:
    """The exception's class and status, never its full text (which may echo request data)."""
    status = getattr(exc, "status", None)
    return f"{type(exc).__name__}{f' (HTTP {status})' if status else ''}"
