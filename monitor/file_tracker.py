"""Keeps the watchdog's file set in step with the disk (see :mod:`monitor.tracked_files`).

Each look (:meth:`FileTracker.observe`) lists the folder (when there is a scanner) and
stats every known file: a new file starts settling (or, when the state file says it was
verified before and it is unchanged, goes straight to verifying, without an upload); a file
whose size, mtime or inode changed settles again from now, whatever state it was in; a
file that settled for ``settle`` seconds is queued, unless it is empty or, on Linux, a
process still holds it open for writing. ``last_activity`` is when anything new or changed
was last seen (the watchdog also moves it at each verification), for the idle rule.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from monitor.finished_file import FolderScanner, Signature, signature_of
from monitor.open_writers import WriterProbe
from monitor.state_store import StateStore, VerifiedRecord
from monitor.tracked_files import FileSet, FileState, TrackedFile

Log = Callable[[str, str], None]  # (level, message)
SayOnce = Callable[[str, str, str], None]  # (key, level, message)


class FileTracker:
    """Discovers, settles, restores and notices changes; the watchdog does the uploads and checks."""

    def __init__(
        self,
        files: FileSet,
        *,
        remote_name: Callable[[Path], str],
        target: str,
        required: int,
        settle: float,
        verify_only: bool,
        verify_download: bool,
        scanner: FolderScanner | None,
        writer_probe: WriterProbe | None,
        state_store: StateStore | None,
        log: Log,
        say_once: SayOnce,
    ) -> None:
        self.files = files
        self.remote_name = remote_name
        self.target = target
        self.required = required
        self.settle = settle
        self.verify_only = verify_only
        self.verify_download = verify_download
        self.scanner = scanner
        self.writer_probe = writer_probe
        self.state_store = state_store
        self.log = log
        self.say_once = say_once
        self.last_activity = 0.0

    def start(self, now: float) -> None:
        """Read the state file, if any, and say what it holds."""
        self.last_activity = now
        if self.state_store is None:
            return
        records = self.state_store.load()
        if self.state_store.problem:
            self.log("warning", self.state_store.problem)
        elif records:
            self.log("info", f"state file {self.state_store.path}: {len(records)} verified file(s) from before")

    def hand(self, path: Path, now: float) -> TrackedFile | None:
        """A finished file handed over directly: queued at once (no settling); None when
        there is nothing to do (not a file, or already handled with these bytes)."""
        signature = signature_of(path)
        if signature is None:
            self.log("warning", f"ignoring {path}: it is not a file")
            return None
        tracked = self.files.get(path)
        if tracked is None:
            tracked = self.restored(path, signature, now)
            if tracked is None:
                tracked = self.files.add(path, signature, FileState.QUEUED, now)
                self.queue(tracked, now)
        elif tracked.state is FileState.UPLOADING or (
            tracked.state is not FileState.SETTLING and tracked.signature == signature
        ):
            self.log("info", f"{path.name} is already {tracked.state.value}")
            return None
        else:  # handed over again with new bytes: upload it again
            tracked.signature = signature
            self.queue(tracked, now)
        self.last_activity = now
        return tracked

    def forget(self, path: Path) -> None:
        """Drop a file's record from the state file (its bytes changed, or its copy is gone)."""
        if self.state_store is None:
            return
        try:
            self.state_store.drop(path)
        except OSError as exc:
            self.say_once("store", "warning", f"cannot write the state file {self.state_store.path}: {exc.strerror or exc}")

    def observe(self, now: float) -> None:
        """One look: new files, changed or vanished ones, and those that have now settled."""
        seen: dict[Path, Signature] = {}
        if self.scanner is not None:
            try:
                seen = self.scanner.scan()
            except OSError as exc:
                self.say_once("scan", "warning", f"cannot list {self.scanner.folder}: {exc.strerror or exc}")
        for path, signature in sorted(seen.items()):
            if self.files.get(path) is None:
                self._discover(path, signature, now)
        for tracked in self.files:
            signature = seen.get(tracked.path) or signature_of(tracked.path)
            if signature is None:
                self._vanished(tracked)
            elif signature != tracked.signature:
                self._changed(tracked, signature, now)
        settled = self.files.settled(now, self.settle)
        if settled:
            self._promote(settled, now)

    def _discover(self, path: Path, signature: Signature, now: float) -> None:
        self.last_activity = now
        if self.restored(path, signature, now) is not None:
            return
        self.files.add(path, signature, FileState.SETTLING, now)
        self.log("info", f"found {path.name} ({signature.size} bytes); waiting until it is unchanged for {self.settle:g} s")

    def restored(self, path: Path, signature: Signature, now: float) -> TrackedFile | None:
        """A file the state file says was verified, unchanged since: check it, no upload."""
        record = self.state_store.get(path) if self.state_store is not None else None
        if record is None:
            return None
        same = (record.size, record.mtime_ns, record.inode) == (signature.size, signature.mtime_ns, signature.inode)
        remote_name = self.remote_name(path)
        if not same or record.target != self.target or record.remote_name != remote_name:
            self.log("info", f"{path.name} changed since the state file recorded it; it will be uploaded again")
            self.forget(path)
            return None
        tracked = self.files.add(path, signature, FileState.VERIFYING, now)
        tracked.remote_name, tracked.file_id, tracked.sha1 = remote_name, record.file_id, record.sha1
        tracked.uploaded_signature, tracked.restored = signature, True
        tracked.start_verifying(now, read_back=False)
        self.log(
            "info",
            f"{path.name} was verified before a restart (id {record.file_id}); checking the stored copy "
            f"{self.required} times, without uploading it again",
        )
        return tracked

    def _changed(self, tracked: TrackedFile, signature: Signature, now: float) -> None:
        old, tracked.signature = tracked.signature, signature
        self.last_activity = now
        if tracked.state in (FileState.SETTLING, FileState.EMPTY):
            tracked.settle(now)
            return
        if tracked.state in (FileState.VERIFYING, FileState.VERIFIED):
            again = "waiting for it to be uploaded again" if self.verify_only else "it will be uploaded again as a new version"
            self.log(
                "warning",
                f"{tracked.name} changed after its upload (size {old.size} -> {signature.size}, "
                f"mtime or inode too); {again}",
            )
            self.forget(tracked.path)
        else:
            self.log("info", f"{tracked.name} changed again; waiting until it is unchanged for {self.settle:g} s")
        tracked.settle(now)

    def _vanished(self, tracked: TrackedFile) -> None:
        if tracked.state in (FileState.SETTLING, FileState.QUEUED, FileState.EMPTY):
            self.files.drop(tracked)
            self.log("info", f"{tracked.name} is gone before it was uploaded; no longer waiting for it")
        elif tracked.state is FileState.VERIFIED:
            self.say_once(f"gone:{tracked.path}", "info", f"{tracked.name} was removed locally; its verified copy counts")
        else:
            self.say_once(
                f"gone:{tracked.path}", "warning",
                f"{tracked.name} vanished while it was {tracked.state.value}; the machine will not stop until it is back",
            )

    def _promote(self, settled: list[TrackedFile], now: float) -> None:
        """Settled files: empty ones are set aside, the others queued unless still open for writing."""
        writers: dict[Path, list[int]] = {}
        nonempty = [f for f in settled if f.signature.size > 0]
        if nonempty and self.writer_probe is not None:
            result = self.writer_probe.probe(f.path for f in nonempty)
            writers = result.writers
            if not result.available:
                self.say_once("proc", "warning", "cannot read /proc to see who writes a file; relying on the settle time alone")
            elif result.blind:
                self.say_once(
                    "blind", "info",
                    f"cannot see the open files of {result.blind} processes of other users; "
                    "relying on the settle time for those",
                )
        for tracked in settled:
            if tracked.signature.size == 0:
                tracked.state = FileState.EMPTY
                self.log("info", f"{tracked.name} is empty; it is not uploaded unless it grows")
            elif tracked.path in writers:
                pids = ", ".join(str(p) for p in writers[tracked.path])
                self.say_once(
                    f"open:{tracked.path}:{tracked.signature}", "info",
                    f"{tracked.name} is unchanged for {self.settle:g} s but still open for writing (pid {pids}); waiting",
                )
            else:
                self.log("info", f"{tracked.name} is finished: unchanged for {self.settle:g} s")
                self.queue(tracked, now)

    def queue(self, tracked: TrackedFile, now: float) -> None:
        """Ready for upload (or, verifying only, for the checks)."""
        tracked.remote_name = self.remote_name(tracked.path)
        tracked.verified = 0
        if self.verify_only:
            tracked.file_id = None
            tracked.start_verifying(now, read_back=self.verify_download)
        else:
            tracked.state = FileState.QUEUED

    def remember(self, tracked: TrackedFile, when: float) -> None:
        """Record a verified file in the state file (if there is one)."""
        if self.state_store is None or tracked.sha1 is None or tracked.file_id is None:
            return
        s = tracked.signature
        record = VerifiedRecord(
            str(tracked.path), s.size, s.mtime_ns, s.inode, tracked.sha1, self.target,
            tracked.remote_name, tracked.file_id, when,
        )
        try:
            self.state_store.put(record)
        except OSError as exc:
            self.say_once("store", "warning", f"cannot write the state file {self.state_store.path}: {exc.strerror or exc}")
