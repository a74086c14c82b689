"""The pieces that let a console session end by itself after its terminal went away."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.drivers._writer_thread import MAX_QUEUED_WRITES, WriterThread

from core.events import JobStarted, PairDone
from tui.hangup import unblock_screen_writer
from tui.progress_log import ProgressLog


class DeadTty:
    """A terminal whose other end was closed: every write fails as a pty's does (EIO)."""

    def write(self, text: str) -> None:
        raise OSError(5, "Input/output error")

    def flush(self) -> None:
        raise OSError(5, "Input/output error")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the writer's EIO
def test_a_screen_writer_that_died_on_a_dead_tty_no_longer_blocks_the_close() -> None:
    writer = WriterThread(DeadTty())  # type: ignore[arg-type]
    writer.start()
    writer.write("frame")  # the writer thread dies on this write
    writer.join(timeout=10)
    assert not writer.is_alive()
    for _ in range(MAX_QUEUED_WRITES):
        writer.write("x")  # the queue is now full: the next put would block for ever
    unblock_screen_writer(SimpleNamespace(_writer_thread=writer))
    closed = threading.Thread(target=lambda: (writer.write("restore the terminal"), writer.stop()), daemon=True)
    closed.start()
    closed.join(timeout=10)
    assert not closed.is_alive()  # the driver's close() returned


def pair(index: int, total: int = 200, rate: float | None = 2.0, eta: float | None = 50.0) -> PairDone:
    return PairDone(index, total, 0.5, 2 * (index + 1), True, rate, eta, index * 0.5)


def test_progress_lines_every_interval_or_whole_percent(tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    (tmp_path / ".out.partial-1234abcd.mp4").write_bytes(b"\0" * 2500)
    now = [0.0]
    lines: list[tuple[str, str]] = []
    progress = ProgressLog(lambda level, text: lines.append((level, text)), output, clock=lambda: now[0])
    progress(JobStarted("in.mp4", str(output), 64, 36, 24.0, 48.0, 200, 401, "blend", "cpu", "fp32", 4, "libx264"))
    progress(pair(0))  # the first pair: a line
    progress(pair(1))  # 1% reached: a line
    progress(pair(2))  # same percent, 0 s later: none
    now[0] = 10.0
    progress(pair(3))  # 10 s later: a line
    assert len(lines) == 3
    assert lines[-1] == (
        "info",
        "progress pairs 4/200 (2%), 2.00 pairs/s (4.0 output fps), ETA 0:50, 8 frames, output 2.5 kB",
    )
