"""One fail-safe verification check of a stored file against the local one.

A check passes only when all of these hold: the name resolves to a file version,
that version is the expected one (the uploaded id, or in verify-only mode the id
the previous passing check saw), the lookup by id agrees on name, size and SHA-1,
the remote size equals the local size and the remote SHA-1 equals the local
file's SHA-1 as read now. Any exception, a check slower than ``timeout`` or any
mismatch makes the check fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.events import Comparison
from monitor.hashing import file_sha1
from monitor.storage_base import RemoteFile, Storage


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    comparisons: tuple[Comparison, ...]
    reason: str
    file_id: str | None  # the id the name resolved to, when it resolved
    local_sha1: str | None = None  # the local file's SHA-1 as read for this check
    raised: bool = False  # the check could not answer (an error or its time limit), not a mismatch


class Verifier:
    """Runs checks of ``local`` against ``name`` in ``storage``."""

    def __init__(
        self,
        storage: Storage,
        *,
        clock: Callable[[], float] = time.monotonic,
        timeout: float | None = 300.0,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.timeout = timeout
        self.redact = redact

    def check(self, local: Path, name: str, expected_id: str | None) -> CheckResult:
        started = self.clock()
        try:
            result = self._compare(local, name, expected_id)
        except Exception as exc:  # fail-safe: any error means "not verified"
            reason = self.redact(f"the check raised {type(exc).__name__}: {exc}".strip())
            return CheckResult(False, (), reason, None, raised=True)
        elapsed = self.clock() - started
        if self.timeout is not None and elapsed > self.timeout:
            reason = f"the check took {elapsed:.1f} s, over the {self.timeout:g} s limit"
            return CheckResult(False, result.comparisons, reason, result.file_id, result.local_sha1, raised=True)
        return result

    def _compare(self, local: Path, name: str, expected_id: str | None) -> CheckResult:
        local_size, local_sha1 = file_sha1(local)
        by_name = self.storage.find_by_name(name)
        if by_name is None:
            return CheckResult(False, (), f"{name} is not in {self.storage.url}", None, local_sha1)
        by_id = self.storage.find_by_id(by_name.file_id)
        items = [
            Comparison("size", str(local_size), str(by_name.size), local_size == by_name.size),
            _sha1_comparison(local_sha1, by_name),
        ]
        if expected_id is not None:
            items.append(Comparison("name -> id", expected_id, by_name.file_id, expected_id == by_name.file_id))
        if by_id is None:
            items.append(Comparison("lookup by id", by_name.file_id, "not found", False))
        else:
            agrees = (by_id.file_id, by_id.name, by_id.size, by_id.sha1) == (
                by_name.file_id,
                by_name.name,
                by_name.size,
                by_name.sha1,
            )
            items.append(
                Comparison(
                    "lookup by id",
                    f"{by_name.name} {by_name.size} {by_name.sha1}",
                    f"{by_id.name} {by_id.size} {by_id.sha1}",
                    agrees,
                )
            )
        failed = [item.what for item in items if not item.ok]
        reason = "all match" if not failed else "mismatch: " + ", ".join(failed)
        return CheckResult(not failed, tuple(items), reason, by_name.file_id, local_sha1)


def _sha1_comparison(local_sha1: str, remote: RemoteFile) -> Comparison:
    what = f"sha1 ({remote.sha1_source})"
    if remote.sha1 is None:
        return Comparison(what, local_sha1, "none stored", False)
    return Comparison(what, local_sha1, remote.sha1, local_sha1 == remote.sha1.lower())
