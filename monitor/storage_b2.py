"""``b2://bucket/prefix`` through b2sdk, with an injectable B2Api factory.

The factory returns an unauthorised ``B2Api``; tests hand one built over b2sdk's
``RawSimulator`` so they run the real SDK code path. Files of at least the
planner's part size go up as large files, in parts; unfinished large files left
under the same name by an earlier attempt are cancelled first. The local SHA-1 is
passed to b2sdk, so small files carry it as ``content_sha1`` and large files as
``large_file_sha1``.
"""

from __future__ import annotations

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

    def cancel_unfinished(self, name: str) -> int:
        """Cancel unfinished large files left under ``name``; return how many."""
        cancelled = 0
        for unfinished in self.bucket.list_unfinished_large_files(prefix=name):
            if unfinished.file_name == name:
                self.bucket.cancel_large_file(unfinished.file_id)
                cancelled += 1
        return cancelled

    def upload(
        self, local: Path, name: str, progress: ProgressCallback, deadline: float | None
    ) -> RemoteFile:
        try:
            self.cancel_unfinished(name)
            _, sha1 = file_sha1(local)
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
        return _remote(version)

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
