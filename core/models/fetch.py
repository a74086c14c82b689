"""``framedeck models fetch``: download an official release, verify it, cache it atomically.

The file is streamed to a temporary name beside its destination, its sha256 checked (of
the archive member when the release is a zip or wheel), and only then renamed into place.
Only HTTPS is used, except plain HTTP to this machine (test servers, local mirrors).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

from core.errors import ModelError, OptionError
from core.models.catalog import CATALOG, CatalogEntry, cached_file, find_entry, models_dir

CHUNK = 1 << 20
TIMEOUT = 60.0
Progress = Callable[[int, int | None], None]
Opener = Callable[..., BinaryIO]


def _is_loopback(host: str | None) -> bool:
    if host in ("localhost", None):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def source_url(entry: CatalogEntry, mirror: str | None = None) -> str:
    """The URL to download: the catalog's, or ``mirror`` + the file name when a mirror is set."""
    if not entry.url:
        raise ModelError(
            f"{entry.title} has no checksummed download in framedeck's catalog ({entry.note}); "
            "pass its flownet.pkl with --weights PATH."
        )
    if mirror:
        return mirror.rstrip("/") + "/" + entry.url.rsplit("/", 1)[-1]
    return entry.url


def _check_scheme(url: str) -> None:
    parts = urlparse(url)
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname)):
        return
    raise ModelError(f"Refusing to download over {parts.scheme or 'an unknown scheme'}: {url} is not HTTPS.")


def _download(url: str, dest: BinaryIO, opener: Opener, progress: Progress | None) -> None:
    host = urlparse(url).hostname or url
    try:
        with opener(url, timeout=TIMEOUT) as response:
            length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            total = int(length) if length and length.isdigit() else None
            done = 0
            while chunk := response.read(CHUNK):
                dest.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except urllib.error.HTTPError as exc:
        raise ModelError(f"Download from {host} failed: HTTP {exc.code} {exc.reason}.") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelError(f"Download from {host} failed: {reason}.") from None


def _sha256(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := fh.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _extract(archive: Path, member: str, dest: BinaryIO, name: str) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            if member not in zf.namelist():
                raise ModelError(f"The download for {name} does not contain {member}; nothing was saved.")
            with zf.open(member) as src:
                shutil.copyfileobj(src, dest, CHUNK)
    except (zipfile.BadZipFile, EOFError, OSError):
        raise ModelError(f"The download for {name} is not a valid archive; nothing was saved.") from None


def fetch_model(
    name: str,
    *,
    catalog: tuple[CatalogEntry, ...] = CATALOG,
    root: Path | None = None,
    mirror: str | None = None,
    opener: Opener = urllib.request.urlopen,
    progress: Progress | None = None,
) -> Path:
    """Download, verify and cache release ``name``; returns the cached flownet.pkl.

    ``mirror`` defaults to $FRAMEDECK_MODEL_MIRROR. On any failure nothing is left behind.
    """
    entry = find_entry(name, catalog)
    if entry is None:
        known = ", ".join(e.name for e in catalog)
        raise OptionError(f"Unknown model {name!r}; known models: {known}.")
    mirror = mirror if mirror is not None else os.environ.get("FRAMEDECK_MODEL_MIRROR") or None
    url = source_url(entry, mirror)
    _check_scheme(url)
    final = cached_file(entry, root or models_dir())
    created = not final.parent.exists()
    final.parent.mkdir(parents=True, exist_ok=True)
    temps: list[Path] = []

    def temp() -> Path:
        fd, name = tempfile.mkstemp(dir=final.parent, prefix=".flownet.", suffix=".framedeck-tmp")
        os.close(fd)
        temps.append(Path(name))
        return temps[-1]

    try:
        payload = temp()
        with payload.open("wb") as raw:
            _download(url, raw, opener, progress)
        if entry.member:
            archive, payload = payload, temp()
            with payload.open("wb") as out:
                _extract(archive, entry.member, out, entry.name)
        with payload.open("rb") as fh:
            got = _sha256(fh)
        if entry.sha256 and got != entry.sha256:
            raise ModelError(
                f"The download for {entry.name} failed its checksum (sha256 {got[:12]}..., "
                f"expected {entry.sha256[:12]}...); nothing was saved."
            )
        os.chmod(payload, 0o644)
        os.replace(payload, final)
        temps.remove(payload)
        return final
    finally:
        for path in temps:
            path.unlink(missing_ok=True)
        if created and not final.exists():
            shutil.rmtree(final.parent, ignore_errors=True)
