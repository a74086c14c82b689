"""How long the rest of the queue takes, and when the machine is expected to stop.

The running clip's rate (pairs per second) is scaled by frame size: a waiting clip of
``p`` pairs at ``w x h`` is expected to take ``p * (w*h) / (rate * running w*h)`` seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

from session.clips import Clip, ClipState


def queue_eta(clips: Sequence[Clip]) -> float | None:
    """Seconds until every waiting and running clip is written; None before a rate is known.
    With several clips running at once (--devices), the work left over their summed rate."""
    rated = [c for c in clips if c.state is ClipState.RUNNING and c.rate]
    if len(rated) > 1:
        return _shared_eta(clips, rated)
    running = next((c for c in clips if c.state is ClipState.RUNNING and c.rate), None)
    reference = running or next((c for c in reversed(clips) if c.rate and c.pixels), None)
    if reference is None or not reference.rate:
        return None if any(c.state in (ClipState.WAITING, ClipState.RUNNING) for c in clips) else 0.0
    per_pixel_pair = 1.0 / (reference.rate * max(1, reference.pixels))
    total = 0.0
    for clip in clips:
        if clip.state is ClipState.RUNNING:
            total += clip.eta if clip.eta is not None else (clip.total_pairs - clip.pairs_done) / reference.rate
        elif clip.state is ClipState.WAITING:
            total += clip.total_pairs * max(1, clip.pixels or reference.pixels) * per_pixel_pair
    return total


def _shared_eta(clips: Sequence[Clip], rated: Sequence[Clip]) -> float:
    """Pixel-pairs left in the queue over the pixel-pairs per second of the running clips together."""
    speed = sum((c.rate or 0.0) * max(1, c.pixels) for c in rated)
    pixels = max(1, rated[0].pixels)
    left = 0.0
    for clip in clips:
        if clip.state is ClipState.RUNNING:
            left += max(0, clip.total_pairs - clip.pairs_done) * max(1, clip.pixels or pixels)
        elif clip.state is ClipState.WAITING:
            left += clip.total_pairs * max(1, clip.pixels or pixels)
    return left / speed


def stop_eta(queue_seconds: float | None, *, confirm: int, check_interval: float, countdown: float) -> float | None:
    """Seconds until the machine is expected to stop: the queue, then the last output's
    checks (the upload of the last clip is not known in advance and is not counted) and the
    countdown."""
    if queue_seconds is None:
        return None
    return queue_seconds + max(0, confirm - 1) * check_interval + countdown
