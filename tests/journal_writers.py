"""A process that records segments into a shared journal (tests/test_devices.py spawns two)."""

from __future__ import annotations

from pathlib import Path


def record_segments(folder: str, numbers: list[int]) -> None:
    from core.journal import Journal, read_manifest

    journal = Journal.open(Path(folder), {}, read_manifest(Path(folder)), forget=False)
    for n in numbers:
        journal.record(n, {"file": f"segment-{n}", "frames": 1, "bytes": 1})
