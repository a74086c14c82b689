"""Errors of the watchdog a user can cause, each one sentence (see core.errors)."""

from __future__ import annotations

from core.errors import FramedeckError


class TargetError(FramedeckError):
    """The storage target URL is malformed or names something that does not exist."""

    exit_code = 2


class CredentialsError(FramedeckError):
    """Storage credentials are missing, unsafe or rejected (the message never holds the key)."""

    exit_code = 8


class StorageError(FramedeckError):
    """A storage call failed (upload, lookup)."""

    exit_code = 9


class StopActionError(FramedeckError):
    """The stop action cannot be built or failed to run."""

    exit_code = 10


class WatchError(FramedeckError):
    """The watch directory or the watch options are unusable."""

    exit_code = 2
