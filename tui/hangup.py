"""The terminal going away (SSH drop): detect it and stop writing to it.

After a hang-up the job and the watchdog keep running; everything they say still goes
to the log file, and the standard streams point at /dev/null so no write fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable


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


def unblock_screen_writer(driver: object) -> None:
    """Keep Textual's output queue moving after the terminal went away.

    Textual writes the screen through a thread with a bounded queue; when the tty vanishes
    that thread dies on the failed write, the queue fills, and the app's last writes and the
    driver's ``close`` (which queues a stop and joins) block the main thread for ever. A
    daemon thread that waits for the writer to end and then empties its queue lets them pass.
    """
    writer = getattr(driver, "_writer_thread", None)
    queue = getattr(writer, "_queue", None)
    if writer is None or queue is None:
        return

    def drain() -> None:
        writer.join()
        while True:
            queue.get()

    threading.Thread(target=drain, name="framedeck-screen-drain", daemon=True).start()


def exit_when_done(done: threading.Event, finish: Callable[[], int], grace: float = 15.0) -> None:
    """A backstop for a headless session: once ``done`` is set, give the main thread ``grace``
    seconds to end the process normally; if it has not, call ``finish`` (log, close, exit code)
    and end the process with that code, so a rented box never idles on a stuck screen."""

    def guard() -> None:
        done.wait()
        time.sleep(grace)
        code = 1
        with contextlib.suppress(Exception):
            code = finish()
        os._exit(code)

    threading.Thread(target=guard, name="framedeck-exit-guard", daemon=True).start()
