"""Where a session stands, in one screen: what ``framedeck status`` shows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from session.clips import ClipState
from session.estimate import queue_eta, stop_eta


def session_status(s: Any, *, stage: str, job_name: str | None = None) -> dict[str, Any]:
    """The one-screen summary ``framedeck status`` prints (and ``--json`` gives) of the session
    ``s`` (a ConsoleSession); ``stage`` is the running job's latest stage."""
    clips = s.engine.snapshot()
    running = next((c for c in clips if c.state in (ClipState.RUNNING, ClipState.FINISHING)), None)
    shown = running or (clips[-1] if clips else None)
    eta = queue_eta(clips) if s.job_running else None
    view = s.link.view() if s.link is not None else None
    counts: dict[str, int] = {}
    for clip in clips:
        counts[clip.state.value] = counts.get(clip.state.value, 0) + 1
    return {
        "pid": os.getpid(),
        "job": job_name or f"{Path(s.input_path).name} -> {Path(s.output_path).name}",
        "clip": str(shown.input) if shown is not None else None,
        "output": str(shown.output) if shown is not None else str(s.output_path),
        "log": str(s.log_path),
        "stage": stage if s.job_running else ("done" if s.done.is_set() else "between clips"),
        "running": s.job_running,
        "paused": s.pause.is_set() and s.job_running,
        "done": s.done.is_set(),
        "pairs_done": shown.pairs_done if shown is not None else 0,
        "pairs_total": shown.total_pairs if shown is not None else 0,
        "percent": shown.percent if shown is not None else 0,
        "pairs_per_second": shown.rate if running is not None else None,
        "elapsed_seconds": shown.seconds if shown is not None else None,
        "eta_seconds": eta,
        "clips": counts,
        "watchdog": None if view is None else {
            "state": view.state, "dry_run": view.dry_run, "target": view.target,
            "verified": view.verified, "required": view.required, "message": view.message,
            "finished": view.finished,
        },
        "stop_in_seconds": stop_in(s, eta, view),
        "error": s.error,
    }

def stop_in(s: Any, eta: float | None, view: Any) -> float | None:
    """Seconds until the machine is expected to stop, or None (no stop, or not known yet)."""
    if view is None or view.finished or view.awaiting_confirm:
        return None
    if view.countdown is not None:
        return view.countdown
    w = s.link.watchdog
    if view.state == "verifying" and not s.job_running:
        return max(0, view.required - view.verified) * w.check_interval + w.countdown
    if view.state in ("stopping", "verified"):
        return 0.0 if view.state == "stopping" else w.countdown
    return stop_eta(eta, confirm=w.required, check_interval=w.check_interval, countdown=w.countdown)
