"""The terminal going away (SSH drop): detect it and stop writing to it.

After a hang-up the job and the watchdog keep running; everything they say still goes
to the log file, and the standard streams point at /dev/null so no write fails.
"""

from __future__ import annotations

import contextlib
import os
import signal


def terminal_gone(fd: int = 0) -> bool:
    """True once ``fd`` is no longer a terminal (its pty master was closed, or it was silenced)."""
    try:
        return not os.isatty(fd)
    except OSError:
        return True


def silence_terminal() -> None:
    """Point stdin, stdout and stderr at /dev/null so nothing fails writing to a dead tty."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.dup2(null, fd)
    os.close(null)


def ignore_further_hangups() -> None:
    """Once headless, a second SIGHUP must not end the process."""
    with contextlib.suppress(ValueError, OSError):  # ValueError: not the main thread
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
