"""A session: a queue of clips through one warm model, then the watchdog. UI-free.

The library entry for a batch::

    from core.options import JobOptions
    from session import run_queue

    result = run_queue(["a.mp4", "b.mp4", "clips/"], "out/", JobOptions(factor=2))
    print(result.table())          # clip, frames, seconds, output size, state
    raise SystemExit(result.exit_code)

See :mod:`session.engine` for the :class:`Session` object (add, move, retry, skip while
it runs) and :mod:`session.inputs` for how inputs and output names are found.
"""

from session.clips import Clip, ClipState
from session.engine import Session, SessionResult, run_queue

__all__ = ["Clip", "ClipState", "Session", "SessionResult", "run_queue"]
