"""The watchdog's restart memory: one JSON file listing every verified file.

Each record holds the local path, size, mtime, inode, SHA-1, the target URL, the stored
name and its id. After a crash or kill -9, a restarted watchdog that finds a file whose
signature and target match its record does not upload it again; it checks the stored copy
(K times, as always) and counts it. The file is rewritten through a temporary name and a
rename after each change, so a kill at any moment leaves the old or the new record.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_NAME = ".framedeck-watch-state.json"
VERSION = 1


@dataclass(frozen=True)
class VerifiedRecord:
    path: str
    size: int
    mtime_ns: int
    inode: int
    sha1: str
    target: str
    remote_name: str
    file_id: str
    verified_at: float  # wall time


class StateStore:
    """Verified records in ``path``; ``problem`` says why an existing file could not be used."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).absolute()
        self.records: dict[str, VerifiedRecord] = {}
        self.problem = ""

    def load(self) -> dict[str, VerifiedRecord]:
        """Read the file if there is one; an unreadable file is ignored (``problem`` says why)."""
        self.records = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") != VERSION:
                raise ValueError(f"unknown version {data.get('version')!r}")
            for item in data["files"]:
                record = VerifiedRecord(**item)
                self.records[record.path] = record
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            self.records = {}
            self.problem = f"the state file {self.path} cannot be used ({type(exc).__name__}); starting afresh"
        return dict(self.records)

    def get(self, path: Path) -> VerifiedRecord | None:
        return self.records.get(str(Path(path).absolute()))

    def put(self, record: VerifiedRecord) -> None:
        self.records[record.path] = record
        self._save()

    def drop(self, path: Path) -> None:
        if self.records.pop(str(Path(path).absolute()), None) is not None:
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        data = {"version": VERSION, "files": [asdict(r) for r in self.records.values()]}
        try:
            with open(temp, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        finally:
            if temp.exists():
                temp.unlink()
