"""``file:///path``: a local folder that behaves like the bucket, for demos and dry runs.

A stored file's id is its identity on disk (device, inode, mtime), so a file that is
replaced under the same name gets a new id, as a new B2 version would. SHA-1 is
computed from the stored bytes at every lookup. :meth:`FileStorage.recover` removes the
temporary files of uploads whose process is gone (see :mod:`monitor.leftovers`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from monitor.errors import StorageError, TargetError
from monitor.hashing import BLOCK, file_sha1, read_sha1
from monitor.leftovers import remove_dead_uploads, temp_name
from monitor.storage_base import ProgressCallback, RemoteFile


class FileStorage:
    """A folder as a storage target; files are written under a temporary name, then renamed."""

    def __init__(self, folder: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.folder = Path(folder)
        self.clock = clock
        self.url = f"file://{self.folder}"
        if not self.folder.is_dir():
            raise TargetError(f"The target folder {self.folder} does not exist.")

    def remote_name(self, local: Path) -> str:
        return Path(local).name

    def upload(
        self, local: Path, name: str, progress: ProgressCallback, deadline: float | None
    ) -> RemoteFile:
        final = self.folder / name
        temp = self.folder / temp_name(name, os.getpid())
        total = os.path.getsize(local)
        done = 0
        try:
            with open(local, "rb") as source, open(temp, "wb") as sink:
                while block := source.read(BLOCK):
                    if deadline is not None and self.clock() > deadline:
                        raise StorageError(f"The upload of {name} did not finish before its deadline.")
                    sink.write(block)
                    done += len(block)
                    progress(done, total)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(temp, final)
        except OSError as exc:
            raise StorageError(f"Could not write {final}: {exc.strerror or exc}.") from exc
        finally:
            if temp.exists():
                temp.unlink()
        found = self.find_by_name(name)
        if found is None:
            raise StorageError(f"{final} vanished right after it was written.")
        return found

    def recover(self, note: Callable[[str], None]) -> None:
        """Remove temporary uploads left by processes that are gone, saying which."""
        for path in remove_dead_uploads(self.folder):
            note(f"removed {path.name}, left in {self.url} by an upload whose process is gone")

    def read_back(self, file_id: str) -> tuple[int, str]:
        """Size and SHA-1 of the stored version ``file_id``, read from its bytes now."""
        path = self._path_of(file_id)
        if path is None:
            raise StorageError(f"No stored file has the id {file_id}.")
        size, sha1 = read_sha1(path)
        if _identity(path.stat()) != file_id:
            raise StorageError(f"{path} changed while it was being read back.")
        return size, sha1

    def find_by_name(self, name: str) -> RemoteFile | None:
        path = self.folder / name
        if not path.is_file():
            return None
        return self._describe(path)

    def find_by_id(self, file_id: str) -> RemoteFile | None:
        path = self._path_of(file_id)
        return None if path is None else self._describe(path)

    def _path_of(self, file_id: str) -> Path | None:
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if entry.is_file() and _identity(entry.stat()) == file_id:
                    return Path(entry.path)
        return None

    def _describe(self, path: Path) -> RemoteFile:
        before = path.stat()
        size, sha1 = file_sha1(path)
        if _identity(path.stat()) != _identity(before):
            raise StorageError(f"{path} changed while it was being read.")
        return RemoteFile(_identity(before), path.name, size, sha1, "computed")


def _identity(stat: os.stat_result) -> str:
    return f"{stat.st_dev}:{stat.st_ino}:{stat.st_mtime_ns}"
