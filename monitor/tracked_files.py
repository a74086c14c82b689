"""The watchdog's set of files, each with its own state (settling -> ... -> verified).

Per file::

    settling -> queued -> uploading -> verifying k/K -> verified
        ^  (size, mtime or inode changed, or the bytes differ from the upload) |
        +----------------------------------------------------------------------+

A file seen by a folder scan starts *settling*: it becomes *queued* once its signature
(size, mtime, inode) has not changed for the settle time of wall clock, however often it
was looked at, and no process holds it open for writing. A file handed over directly
(framedeck's own job, after its rename) starts *queued*. An empty file that settles is
*empty*: never uploaded, never waited for, until it grows.

The set only holds states and answers questions; the watchdog does the work and moves
files between states through the methods below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from monitor.events import VerificationCheck
from monitor.finished_file import Signature


class FileState(str, Enum):
    SETTLING = "settling"
    QUEUED = "queued"
    UPLOADING = "uploading"
    VERIFYING = "verifying"
    VERIFIED = "verified"
    EMPTY = "empty"


# States in which a file still needs work before the machine may stop.
UNFINISHED = frozenset({FileState.SETTLING, FileState.QUEUED, FileState.UPLOADING, FileState.VERIFYING})


@dataclass
class TrackedFile:
    """One file and where it stands. Times are on the watchdog's (monotonic) clock."""

    path: Path
    signature: Signature
    state: FileState
    changed_at: float  # when the signature was last seen to change (or first seen)
    remote_name: str = ""
    file_id: str | None = None
    sha1: str | None = None  # SHA-1 of the uploaded (or restored) version
    uploaded_signature: Signature | None = None  # the local signature that version came from
    verified: int = 0
    next_check: float = 0.0
    verify_started: float | None = None
    read_back_pending: bool = False
    uploads: int = 0
    restored: bool = False
    checks: list[VerificationCheck] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    def settle(self, now: float) -> None:
        """Back to settling from now on (new bytes seen); forgets the verification."""
        self.state = FileState.SETTLING
        self.changed_at = now
        self.verified = 0
        self.read_back_pending = False

    def start_verifying(self, now: float, read_back: bool) -> None:
        self.state = FileState.VERIFYING
        self.verified = 0
        self.next_check = now
        self.verify_started = now
        self.read_back_pending = read_back


class FileSet:
    """Every file the watchdog has seen, by absolute path, in the order first seen."""

    def __init__(self) -> None:
        self._files: dict[Path, TrackedFile] = {}

    def __len__(self) -> int:
        return len(self._files)

    def __iter__(self):
        return iter(list(self._files.values()))

    def get(self, path: Path) -> TrackedFile | None:
        return self._files.get(Path(path).absolute())

    def add(self, path: Path, signature: Signature, state: FileState, now: float) -> TrackedFile:
        tracked = TrackedFile(Path(path).absolute(), signature, state, now)
        self._files[tracked.path] = tracked
        return tracked

    def drop(self, tracked: TrackedFile) -> None:
        self._files.pop(tracked.path, None)

    def in_state(self, *states: FileState) -> list[TrackedFile]:
        return [f for f in self._files.values() if f.state in states]

    def settled(self, now: float, settle: float) -> list[TrackedFile]:
        """Settling files whose signature has stood still for ``settle`` seconds."""
        return [f for f in self.in_state(FileState.SETTLING) if now - f.changed_at >= settle]

    @property
    def unfinished(self) -> list[TrackedFile]:
        return [f for f in self._files.values() if f.state in UNFINISHED]

    @property
    def verified(self) -> list[TrackedFile]:
        return self.in_state(FileState.VERIFIED)

    def summary(self) -> str:
        """``2 verified, 1 settling`` in state order, or ``no files``."""
        counts = [(s.value, len(self.in_state(s))) for s in FileState]
        parts = [f"{n} {name}" for name, n in counts if n]
        return ", ".join(parts) or "no files"
