"""Temporary upload files a killed watchdog left in a file:// target, and which may go.

A file:// upload writes ``.NAME.PID.uploading`` and renames it at the end. kill -9 (or a
power cut) leaves the temporary file behind; a restart removes those whose writer PID no
longer runs, and leaves alone any a live process may still be writing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.uploading$")


def temp_name(name: str, pid: int) -> str:
    """The temporary name an upload of ``name`` by process ``pid`` writes to."""
    return f".{name}.{pid}.uploading"


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists (it may belong to another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_uploads(folder: Path, alive: Callable[[int], bool] = pid_alive) -> list[Path]:
    """Delete the temporary uploads in ``folder`` whose writer is gone; return them."""
    removed: list[Path] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            match = TEMP_NAME.match(entry.name)
            if match is None or not entry.is_file(follow_symlinks=False):
                continue
            if alive(int(match["pid"])):
                continue
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            removed.append(Path(entry.path))
    return sorted(removed)
