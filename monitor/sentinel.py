"""The dry-run sentinel: a JSON record of the stop that would have happened."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_sentinel(path: Path, record: dict[str, object]) -> None:
    """Write ``record`` to ``path`` through a temporary name and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()

