"""Parse ``b2://bucket/prefix`` and ``file:///path`` and open the storage they name."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from monitor.errors import TargetError

if TYPE_CHECKING:
    from monitor.credentials import B2Credentials

# B2 bucket names: 6-63 letters, digits and hyphens.
BUCKET_NAME = re.compile(r"^[A-Za-z0-9-]{6,63}$")


@dataclass(frozen=True)
class Target:
    scheme: str  # "b2" or "file"
    bucket: str = ""
    prefix: str = ""
    path: Path | None = None


def parse_target(url: str) -> Target:
    """A Target, or TargetError with one sentence saying what is wrong."""
    parsed = urlparse(url)
    if parsed.scheme == "b2":
        bucket = parsed.netloc
        if not bucket:
            raise TargetError(f"The target {url!r} names no bucket; write b2://BUCKET/PREFIX.")
        if not BUCKET_NAME.match(bucket):
            raise TargetError(
                f"The target {url!r} has an invalid bucket name {bucket!r} "
                "(6 to 63 letters, digits or hyphens)."
            )
        return Target("b2", bucket=bucket, prefix=unquote(parsed.path).strip("/"))
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise TargetError(f"The target {url!r} must be file:///ABSOLUTE/PATH (three slashes).")
        path = Path(unquote(parsed.path))
        if not path.is_absolute():
            raise TargetError(f"The target {url!r} must hold an absolute path.")
        return Target("file", path=path)
    raise TargetError(f"The target {url!r} is not a b2://BUCKET/PREFIX or file:///PATH URL.")


def open_storage(
    url: str,
    env: Mapping[str, str],
    *,
    key_file: str | None = None,
    credentials: B2Credentials | None = None,
    api_factory: Callable[[], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
    min_part_size: int | None = None,
) -> tuple[object, tuple[str, ...]]:
    """The storage for ``url`` and the secrets that must be kept out of every line.

    A b2:// target uses ``credentials``, or loads them from ``key_file`` or ``env``.
    """
    target = parse_target(url)
    if target.scheme == "file":
        from monitor.storage_file import FileStorage

        assert target.path is not None
        return FileStorage(target.path, clock), ()
    from monitor.credentials import load_credentials
    from monitor.storage_b2 import B2Storage, default_api_factory

    credentials = credentials or load_credentials(env, key_file)
    storage = B2Storage.connect(
        credentials,
        target.bucket,
        target.prefix,
        api_factory=api_factory or default_api_factory,
        clock=clock,
        min_part_size=min_part_size,
    )
    return storage, credentials.secrets
