"""Time and money: when the work will be done, when the box is expected to stop, and what
the box has cost so far and will cost in all at a price per hour.

Pure functions of injected clock readings, so a paused job is easy to reason about: the work
left (the ETA, which leaves paused time out) stays put while the wall clock runs on, so the
finish time and the projected cost move later by exactly the time spent paused.
"""

from __future__ import annotations

from dataclasses import dataclass

from session.estimate import stop_eta


@dataclass(frozen=True)
class StopPlan:
    """What the watchdog adds after the last output: its checks, the countdown, and the
    upload when its rate is known (bytes per second, from an earlier upload)."""

    confirm: int
    check_interval: float
    countdown: float
    upload_rate: float | None = None  # bytes per second, None before anything was uploaded
    upload_bytes: int | None = None  # about how much is still to upload


@dataclass(frozen=True)
class Outlook:
    """Wall-clock times (seconds since the epoch) and money; None where not known."""

    finish_at: float | None  # the work (job or queue) done
    stop_at: float | None  # the box stopped (None without a watchdog that stops it)
    stop_in: float | None  # seconds from now until then
    upload_counted: bool  # whether stop_at includes the upload (its rate is known)
    cost_so_far: float | None  # since the session started
    cost_total: float | None  # at stop_at, or at finish_at when nothing stops the box
    price_per_hour: float | None


def outlook(
    now: float,
    started: float,
    work_left: float | None,
    *,
    stop: StopPlan | None = None,
    price_per_hour: float | None = None,
) -> Outlook:
    """The outlook at wall time ``now`` for a session that started at ``started`` with
    ``work_left`` seconds of work (None: not known yet; 0: done)."""
    finish_at = now + work_left if work_left is not None else None
    stop_in = None
    upload_counted = False
    if stop is not None and work_left is not None:
        upload = 0.0
        if stop.upload_rate and stop.upload_bytes is not None:
            upload, upload_counted = stop.upload_bytes / stop.upload_rate, True
        stop_in = stop_eta(work_left + upload, confirm=stop.confirm, check_interval=stop.check_interval,
                           countdown=stop.countdown)
    stop_at = now + stop_in if stop_in is not None else None
    cost_so_far = cost_total = None
    if price_per_hour is not None:
        cost_so_far = max(0.0, now - started) / 3600 * price_per_hour
        end = stop_at if stop is not None else finish_at
        if end is not None:
            cost_total = max(0.0, end - started) / 3600 * price_per_hour
    return Outlook(finish_at, stop_at, stop_in, upload_counted, cost_so_far, cost_total, price_per_hour)
