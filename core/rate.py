"""One rate and ETA estimator for every front end, with an injectable clock."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RateEstimator:
    """Pairs per second and time left.

    The first ``warmup`` pairs (model load, cache warm-up) are left out. ``rate`` is an
    exponentially smoothed current rate; ``eta`` comes from the rate over the last
    ``window`` pairs, and is None until at least ``min_samples`` pairs after warm-up.
    """

    def __init__(
        self,
        total: int,
        clock: Callable[[], float] = time.monotonic,
        warmup: int = 2,
        window: int = 30,
        smoothing: float = 0.2,
        min_samples: int = 3,
        min_interval: float = 0.25,
    ) -> None:
        self.total = total
        self.clock = clock
        self.warmup = warmup
        self.smoothing = smoothing
        self.min_samples = min_samples
        self.min_interval = min_interval
        self.done = 0
        self._sampled = 0
        self.start_time = clock()
        self._last: float | None = None
        self._times: deque[tuple[int, float]] = deque(maxlen=window + 1)
        self._rate: float | None = None

    @property
    def elapsed(self) -> float:
        return self.clock() - self.start_time

    def update(self, done: int) -> None:
        """Record that ``done`` pairs are finished in all."""
        now = self.clock()
        self.done = done
        if done <= self.warmup:
            self._sampled = done
            self._last = now
            self._times.clear()
            self._times.append((done, now))
            return
        self._times.append((done, now))
        if self._last is None:
            self._sampled, self._last = done, now
            return
        # pairs often finish in bursts (one batch): sample the rate over at least min_interval
        if now - self._last < self.min_interval:
            return
        instant = (done - self._sampled) / (now - self._last)
        if self._rate is None:
            self._rate = instant
        else:
            self._rate += self.smoothing * (instant - self._rate)
        self._sampled = done
        self._last = now

    @property
    def rate(self) -> float | None:
        """Smoothed current pairs per second, None during warm-up."""
        return self._rate

    @property
    def windowed_rate(self) -> float | None:
        if len(self._times) < self.min_samples + 1:
            return None
        t0 = self._times[0][1]
        d0 = max(d for d, t in self._times if t == t0)  # the end of a burst, not its middle
        d1, t1 = self._times[-1]
        if t1 <= t0 or d1 <= d0:
            return None
        return (d1 - d0) / (t1 - t0)

    @property
    def eta(self) -> float | None:
        """Seconds left, or None until it means something."""
        rate = self.windowed_rate
        if rate is None:
            return None
        return max(0.0, (self.total - self.done) / rate)


def format_eta(seconds: float | None, unknown: str = "--:--") -> str:
    """``unknown`` until known, then m:ss or h:mm:ss (rounded to the second)."""
    if seconds is None:
        return unknown
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
