"""torch's CPU thread count, which is one setting for the whole process.

A model may ask for a thread count on the CPU (``cpu_torch_threads``); with several workers
in one process (core/device_job.py) each used to set it and put its own "before" back, so
the last to finish restored a value another worker had replaced. :func:`hold` counts the
holders: the first sets the count and remembers the old one, the last puts it back.
"""

from __future__ import annotations

import threading

import torch

_lock = threading.Lock()
_holders = 0
_before: int | None = None


def hold(threads: int) -> None:
    """Run torch on the CPU with ``threads`` threads until the matching :func:`release`."""
    global _holders, _before
    with _lock:
        if _holders == 0:
            _before = torch.get_num_threads()
            if threads != _before:
                torch.set_num_threads(threads)
        _holders += 1


def release() -> None:
    """One holder is done; the last one restores the count found by the first."""
    global _holders, _before
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0 and _before is not None:
            if torch.get_num_threads() != _before:
                torch.set_num_threads(_before)
            _before = None
