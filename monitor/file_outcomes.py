"""What the result of one unit of work means for one file: an upload, a read-back, a check.

The watchdog does the work (outside its lock) and hands the result here (with its lock
held); these rules move the file on: verifying after an upload, settling again when the
local bytes changed, queued again when the stored bytes are wrong, verified after K
passing checks in a row (then remembered in the state file). Events and log lines go out
through the callbacks the watchdog gives.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.events import UploadFinished, VerificationCheck, WatchEvent
from monitor.file_tracker import FileTracker
from monitor.finished_file import Signature, signature_of
from monitor.storage_base import RemoteFile
from monitor.tracked_files import FileState, TrackedFile
from monitor.verify import CheckResult


class FileOutcomes:
    """The rules above, for K = ``required`` checks ``check_interval`` seconds apart."""

    def __init__(
        self,
        tracker: FileTracker,
        *,
        required: int,
        check_interval: float,
        verify_only: bool,
        verify_download: bool,
        log: Callable[[str, str], None],
        emit: Callable[[WatchEvent], None],
        redact: Callable[[str], str],
        wall: Callable[[], float],
    ) -> None:
        self.tracker = tracker
        self.required = required
        self.check_interval = check_interval
        self.verify_only = verify_only
        self.verify_download = verify_download
        self.log = log
        self.emit = emit
        self.redact = redact
        self.wall = wall

    def uploaded(self, tracked: TrackedFile, remote: RemoteFile, before: Signature, now: float) -> None:
        """The upload of the version with signature ``before`` finished as ``remote``."""
        tracked.uploads += 1
        tracked.file_id, tracked.sha1, tracked.uploaded_signature = remote.file_id, remote.sha1, before
        self.emit(UploadFinished(str(tracked.path), remote.name, remote.file_id, remote.size, remote.sha1 or ""))
        version = f", version {tracked.uploads}" if tracked.uploads > 1 else ""
        self.log("info", f"uploaded {tracked.path} as {remote.name} ({remote.size} bytes, id {remote.file_id}{version})")
        if signature_of(tracked.path) != before:
            self.log("warning", f"{tracked.name} changed during its upload; it will be uploaded again")
            tracked.settle(now)
        else:
            tracked.start_verifying(now, read_back=self.verify_download)

    def upload_failed(self, tracked: TrackedFile, before: Signature, error: Exception, now: float) -> bool:
        """True when the failure is explained by the file changing (it settles again);
        False when it is a real failure the watchdog must report."""
        if signature_of(tracked.path) == before:
            return False
        self.log("warning", f"the upload of {tracked.name} failed while the file changed: {error}")
        tracked.settle(now)
        return True

    def read_back(
        self,
        tracked: TrackedFile,
        remote: tuple[int, str] | None,
        local: tuple[int, str] | None,
        problem: str,
        now: float,
    ) -> None:
        """The stored bytes read back (``remote``: size, SHA-1; None when reading failed)."""
        if remote is None or local is None:
            self.log("warning", f"reading back {tracked.name} failed ({problem}); trying again")
            tracked.next_check = now + self.check_interval
            if self.verify_only:
                tracked.file_id = None
            return
        if remote == local and (tracked.sha1 is None or tracked.sha1 == remote[1]):
            tracked.read_back_pending = False
            tracked.sha1 = remote[1]
            tracked.next_check = now
            self.log("info", f"read back {tracked.name}: {remote[0]} bytes, SHA-1 {remote[1]} matches the local file")
            return
        self.log(
            "warning",
            f"read back {tracked.name}: {remote[0]} bytes, SHA-1 {remote[1]}, but the local file has "
            f"{local[0]} bytes, SHA-1 {local[1]}",
        )
        if tracked.sha1 is not None and local[1] != tracked.sha1:
            tracked.settle(now)  # the local file changed: settle, then upload again
        elif self.verify_only:
            tracked.file_id, tracked.next_check = None, now + self.check_interval
        else:
            tracked.state = FileState.QUEUED  # the stored bytes are wrong: upload again

    def checked(self, tracked: TrackedFile, result: CheckResult, now: float) -> VerificationCheck | None:
        """One verification check; returns the check event (None: it only found the file)."""
        if self.verify_only and tracked.file_id is None and result.passed:
            tracked.file_id, tracked.sha1 = result.file_id, result.local_sha1
            if tracked.read_back_pending:
                self.log("info", f"{tracked.remote_name} is stored (id {result.file_id}); reading it back first")
                return None
        changed = (
            not result.passed
            and not self.verify_only
            and result.local_sha1 is not None
            and tracked.sha1 is not None
            and result.local_sha1 != tracked.sha1.lower()
        )
        if result.passed:
            tracked.verified += 1
        else:
            tracked.verified = 0
            if self.verify_only:
                tracked.file_id = None
        check = VerificationCheck(
            passed=result.passed,
            count=tracked.verified,
            required=self.required,
            comparisons=result.comparisons,
            reason=self.redact(result.reason),
            time=self.wall(),
        )
        tracked.checks.append(check)
        del tracked.checks[:-100]
        self.emit(check)
        compared = "; ".join(f"{c.what} {c.local} vs {c.remote} {'ok' if c.ok else 'MISMATCH'}" for c in check.comparisons)
        verdict = "passed" if result.passed else "FAILED"
        self.log(
            "info" if result.passed else "warning",
            f"check {verdict} {tracked.verified}/{self.required} of {tracked.remote_name}: "
            f"{check.reason}{' [' + compared + ']' if compared else ''}",
        )
        if changed:
            self.log("warning", f"{tracked.name} no longer has the uploaded bytes; it will be uploaded again as a new version")
            tracked.signature = signature_of(tracked.path) or tracked.signature
            tracked.settle(now)
            self.tracker.forget(tracked.path)
        elif not result.passed and not result.raised and tracked.restored and not tracked.uploads and not self.verify_only:
            self.log("warning", f"the stored copy of {tracked.name} from before the restart does not check out; uploading it again")
            tracked.restored = False
            tracked.state = FileState.QUEUED
            self.tracker.forget(tracked.path)
        elif tracked.verified >= self.required:
            tracked.state = FileState.VERIFIED
            self.tracker.last_activity = now
            self.tracker.remember(tracked, self.wall())
            self.log("info", f"{tracked.name} verified {self.required}/{self.required} (id {tracked.file_id})")
        else:
            tracked.next_check = now + self.check_interval
        return check
