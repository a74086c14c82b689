"""What the watchdog writes down when it stops: the reason, the sentinel record, per-file lines."""

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


def stop_reason(verified: list[TrackedFile], target: str, required: int, rule: str, why: str) -> str:
    """``2 file(s) in TARGET verified 3/3: a (id ..), b (id ..); RULE; WHY`` (ten names at most)."""
    names = ", ".join(f"{f.remote_name} (id {f.file_id})" for f in verified[:10])
    more = f" and {len(verified) - 10} more" if len(verified) > 10 else ""
    return (
        f"{len(verified)} file(s) in {target} verified {required}/{required}: "
        f"{names}{more}; {rule + '; ' if rule else ''}{why}"
    )


def sentinel_record(
    *,
    stamp: str,
    when: float,
    reason: str,
    action: str,
    provider: str,
    files: list[TrackedFile],
    latest: TrackedFile | None,
    target: str,
    required: int,
) -> dict[str, object]:
    """The dry-run sentinel: when, why, the action that would run, and every file's record
    (``verification`` repeats the file verified last, as older readers expect one record)."""
    return {
        "time": stamp,
        "unix_time": when,
        "reason": reason,
        "dry_run": True,
        "action": action,
        "provider": provider,
        "files": [file_record(f, target, required) for f in files],
        "verification": file_record(latest, target, required) if latest else None,
    }
