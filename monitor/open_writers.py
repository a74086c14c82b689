"""Which files some process holds open for writing, from ``/proc/*/fd`` and ``fdinfo`` (Linux).

A writer that pauses longer than the settle time would make a half-written file look
finished; on Linux the open file table says otherwise. Each ``/proc/PID/fd/N`` link names
the open file and ``/proc/PID/fdinfo/N`` holds its open flags (octal): O_WRONLY or O_RDWR
means the file is open for writing. Processes of other users cannot be looked into without
privileges; :class:`WriterProbe` says how many it could not see, so the caller can say so
once and rely on the settle time for those.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_ACCESS_MODE = 0o3  # O_ACCMODE
_READ_ONLY = 0o0


@dataclass(frozen=True)
class ProbeResult:
    """``writers``: path -> pids holding it open for writing. ``blind``: processes whose
    open files could not be read. ``available``: False when there is no readable /proc."""

    writers: dict[Path, list[int]] = field(default_factory=dict)
    blind: int = 0
    available: bool = True


class WriterProbe:
    """Looks through ``proc`` (``/proc`` by default) for writers of given files."""

    def __init__(self, proc: Path = Path("/proc")) -> None:
        self.proc = Path(proc)

    def probe(self, paths: Iterable[Path]) -> ProbeResult:
        """One pass over every process's open files, for all of ``paths`` at once."""
        wanted = {os.path.realpath(p): Path(p) for p in paths}
        if not wanted:
            return ProbeResult()
        try:
            pids = [int(name) for name in os.listdir(self.proc) if name.isdigit()]
        except OSError:
            return ProbeResult(available=False)
        if not pids:
            return ProbeResult(available=False)
        writers: dict[Path, list[int]] = {}
        blind = 0
        for pid in pids:
            fd_dir = self.proc / str(pid) / "fd"
            try:
                fds = os.listdir(fd_dir)
            except FileNotFoundError:
                continue  # the process ended meanwhile
            except OSError:
                blind += 1
                continue
            for fd in fds:
                try:
                    target = os.readlink(fd_dir / fd)
                except OSError:
                    continue
                path = wanted.get(target)
                if path is not None and _opened_for_writing(self.proc / str(pid) / "fdinfo" / fd):
                    writers.setdefault(path, []).append(pid)
        return ProbeResult(writers, blind, True)


def _opened_for_writing(fdinfo: Path) -> bool:
    """True when the fdinfo file's ``flags:`` say write-only or read-write (unreadable: True)."""
    try:
        text = fdinfo.read_text()
    except FileNotFoundError:
        return False  # closed meanwhile
    except OSError:
        return True  # cannot tell: assume the worst
    for line in text.splitlines():
        if line.startswith("flags:"):
            return int(line.split()[1], 8) & _ACCESS_MODE != _READ_ONLY
    return True
