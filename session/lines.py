"""The one place where events become text: log lines and the session's summary table.

:func:`describe` turns a core, watchdog or session event into the (level, line) that goes
into the log file, the console's log panel and the headless output; progress events give
None (front ends draw those as bars or throttled progress lines).
"""

from __future__ import annotations

from collections.abc import Iterable

from core.events import (
    JobFailed,
    JobFinished,
    JobStarted,
    LogRecord,
    ModelChosen,
    ModelFetch,
    OomBackoff,
    Stage,
    StageChanged,
    Stalled,
)
from monitor.events import StopOutcome, WatchStateChanged
from session.clips import Clip, ClipChanged, ClipState, QueueClosed


def describe(event: object) -> tuple[str, str] | None:
    """The (level, line) an event leaves in the log, or None for progress noise."""
    if isinstance(event, LogRecord):
        return event.level, event.message
    if isinstance(event, StageChanged):
        level = "error" if event.stage is Stage.FAILED else "info"
        detail = f": {event.detail}" if event.detail else ""
        return level, f"stage {event.stage.value}{detail}"
    if isinstance(event, (ModelChosen, ModelFetch)):
        return "info", event.line
    if isinstance(event, JobStarted):
        return "info", (
            f"job {event.input} -> {event.output}: {event.width}x{event.height}, "
            f"{event.input_fps:.3f} -> {event.output_fps:.3f} fps, {event.total_pairs} pairs, "
            f"model {event.model} on {event.device} ({event.precision}), batch {event.batch}, "
            f"codec {event.codec}"
        )
    if isinstance(event, OomBackoff):
        return "warning", f"out of memory: batch {event.old_batch} -> {event.new_batch}"
    if isinstance(event, Stalled):
        return "warning", f"{event.stage} stalled for {event.seconds:.0f} s"
    if isinstance(event, JobFinished):
        return "info", (
            f"wrote {event.output}: {event.output_frames} frames from {event.input_frames} "
            f"in {event.seconds:.1f} s"
        )
    if isinstance(event, JobFailed):
        return ("warning" if event.aborted else "error"), event.message
    if isinstance(event, WatchStateChanged):
        detail = f": {event.detail}" if event.detail else ""
        return ("error" if event.new.value == "failed" else "info"), f"watchdog {event.new.value}{detail}"
    if isinstance(event, StopOutcome):
        return ("info" if event.ok else "error"), f"stop outcome: {event.message}"
    if isinstance(event, ClipChanged) and event.clip.state in (ClipState.WAITING, ClipState.RUNNING, ClipState.FINISHING):
        return None  # queued, moved and progress: shown in the queue, not logged
    if isinstance(event, ClipChanged):
        clip = event.clip
        level = "error" if clip.state is ClipState.FAILED else "info"
        why = f": {clip.message}" if clip.message else ""
        return level, f"clip {clip.input.name} {clip.state.value}{why}"
    if isinstance(event, QueueClosed):
        return "info", (
            f"queue closed: {event.done} written, {event.failed} failed, {event.skipped} skipped"
        )
    return None


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def summary_table(clips: Iterable[Clip]) -> str:
    """Clip, frames, seconds, output size, state: one row per clip, failures with their sentence."""
    rows = [("clip", "frames", "seconds", "size", "state")]
    notes: list[str] = []
    for clip in clips:
        rows.append((
            clip.input.name,
            str(clip.frames) if clip.frames else "-",
            f"{clip.seconds:.1f}" if clip.seconds else "-",
            human_size(clip.size),
            clip.state.value,
        ))
        if clip.state is ClipState.FAILED and clip.message:
            notes.append(f"{clip.input}: {clip.message}")
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(w) if i in (0, 4) else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
        .rstrip()
        for row in rows
    ]
    return "\n".join([*lines, *notes])
