"""The job panel's time-and-money and output rows, and the outlook the app computes for them
(session/outlook.py) from the queue, the watchdog and the price per hour."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text

from core.rate import format_eta
from session.estimate import queue_eta
from session.outlook import Outlook, StopPlan, outlook
from tui.widgets.bars import human_bytes


def outlook_for(session: Any, job_eta: float | None, estimate: int | None = None) -> Outlook:
    """The outlook now: the queue's work left (else the job's ETA), the watchdog's checks and
    countdown (and the upload once its rate is known), the price per hour."""
    clips = session.engine.snapshot()
    work_left = queue_eta(clips)
    if work_left is None:
        work_left = job_eta
    if session.done.is_set():
        work_left = 0.0
    stop = None
    link = session.link
    if link is not None:
        w = link.watchdog
        view = link.view()
        rate = getattr(session, "upload_rate", None)
        left = None
        if view.upload_total is not None and view.uploaded is not None and view.uploaded < view.upload_total:
            left = view.upload_total - view.uploaded
        elif work_left:
            left = estimate
        if view.countdown is not None:  # counting down: only the countdown is left
            stop = StopPlan(1, 0.0, view.countdown)
            work_left = 0.0
        elif not view.finished:
            checks_left = max(1, w.required - view.verified) if work_left == 0 else w.required
            stop = StopPlan(checks_left, w.check_interval, w.countdown, rate, left)
    return outlook(session.wall(), session.started, work_left, stop=stop,
                   price_per_hour=getattr(session, "price_per_hour", None))


def clock_text(when: float | None) -> str:
    return "-" if when is None else time.strftime("%H:%M", time.localtime(when))


def outlook_rows(o: Outlook | None, has_watchdog: bool, width: int) -> list[tuple[str, Text]]:
    """``done HH:MM  stop HH:MM (in m:ss)`` and, with a price, ``cost $x so far, ~$y in all``."""
    if o is None:
        return []
    wide = width >= 40
    when = Text(f"done {clock_text(o.finish_at)}" if wide or not has_watchdog else clock_text(o.finish_at))
    if has_watchdog:
        when.append("  stop " if wide else " · stop ")
        when.append(clock_text(o.stop_at))
        if o.stop_in is not None:
            when.append(f" (in {format_eta(o.stop_in)})" if wide else f" ({format_eta(o.stop_in)})")
        if o.stop_at is not None and not o.upload_counted and width >= 44:
            when.append(" + upload", style="dim")
    rows = [("finish", when)]
    if o.price_per_hour is not None and o.cost_so_far is not None:
        total = f", ~{o.cost_total:.2f} in all" if o.cost_total is not None else ""
        rate = f" at {o.price_per_hour:g}/h" if width >= 48 else ""
        rows.append(("cost", Text(f"{o.cost_so_far:.2f} so far{total}{rate}")))
    return rows


def output_row(frames: int | None, expected: int | None, written: int | None) -> tuple[str, Text] | None:
    """``frames 412/962  12 MiB on disk``: what the job has written so far."""
    if frames is None and written is None:
        return None
    text = Text(f"{frames if frames is not None else '-'}/{expected or '?'} frames")
    if written is not None:
        text.append(f"  {human_bytes(written)} on disk")
    return ("output", text)
