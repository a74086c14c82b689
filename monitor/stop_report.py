"""What the watchdog writes down about its files: sentinel records and per-file log lines."""

from __future__ import annotations

from monitor.tracked_files import TrackedFile


def file_record(tracked: TrackedFile, target: str, required: int) -> dict[str, object]:
    """One file's verification record, as the sentinel stores it."""
    return {
        "target": target,
        "local_path": str(tracked.path),
        "remote_name": tracked.remote_name,
        "file_id": tracked.file_id,
        "size": tracked.signature.size,
        "sha1": tracked.sha1,
        "state": tracked.state.value,
        "uploads": tracked.uploads,
        "restored": tracked.restored,
        "required": required,
        "passed": tracked.verified,
        "checks": [
            {
                "time": check.time,
                "passed": check.passed,
                "count": check.count,
                "reason": check.reason,
                "compared": [
                    {"what": c.what, "local": c.local, "remote": c.remote, "ok": c.ok} for c in check.comparisons
                ],
            }
            for check in tracked.checks[-required:]
        ],
    }


def file_line(tracked: TrackedFile, required: int) -> str:
    """``a.mp4 -> renders/a.mp4: 1234 bytes, SHA-1 ..., id ..., verified 3/3`` for the log."""
    how = " (restored from the state file)" if tracked.restored else ""
    return (
        f"{tracked.name} -> {tracked.remote_name or '?'}: {tracked.signature.size} bytes, "
        f"SHA-1 {tracked.sha1 or '?'}, id {tracked.file_id or '?'}, {tracked.state.value} "
        f"{tracked.verified}/{required}{how}"
    )
