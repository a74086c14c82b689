"""SSH reality: ``framedeck tui`` on a pseudo-terminal that goes away mid-job.

The console runs in a subprocess with a pty as its terminal. Once the job is
interpolating, the pty's master side is closed and the process gets SIGHUP (what an SSH
drop does); the job and the watchdog must carry on headless: the output is complete, the
upload verified, the dry-run sentinel written, and the log file says what happened.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import av
import pytest

from sample_media.generate import write_clip
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX only")


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def drain(fd: int, sink: bytearray) -> None:
    """Read the console's screen output until the pty closes (so its writes never block)."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        sink.extend(chunk)


def wait_until(condition, limit: float, what: str, proc: subprocess.Popen) -> None:
    """Poll ``condition``; a safety net, not a timing assertion."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"framedeck exited early ({proc.returncode}) waiting for {what}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("how", ["sighup", "pty-closed"])
def test_terminal_loss_keeps_the_job_and_watchdog_running(tmp_path: Path, how: str) -> None:
    clip = write_clip(tmp_path / "clip.mp4", 96, 54, 24, 4.0, audio=False)  # 96 frames
    output = tmp_path / "out.mp4"
    uploads = tmp_path / "uploaded"
    uploads.mkdir()
    sentinel = tmp_path / "sentinel.json"
    log = tmp_path / "console.log"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"}
    env.pop("TMUX", None)
    command = [
        sys.executable, "-m", "tui.cli", "tui", str(clip), "-o", str(output),
        "--model", "blend", "--batch", "1", "--upload", uploads.as_uri(), "--shutdown", "poweroff",
        "--confirm", "2", "--check-interval", "0", "--countdown", "1",
        "--sentinel", str(sentinel), "--log-file", str(log),
        "--stall-timeout", "600",
    ]
    # keeps the job mid-run when the terminal drops (forward 20 exists at --batch 1 on any device)
    env["FRAMEDECK_INJECT"] = "hang@pair=20,seconds=3"
    proc = subprocess.Popen(
        command, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env, start_new_session=True
    )
    os.close(slave)
    screen = bytearray()
    reader = threading.Thread(target=drain, args=(master, screen), daemon=True)
    reader.start()
    try:
        wait_until(lambda: log.exists() and "stage interpolating" in log.read_text(), 120, "the job", proc)
        wait_until(lambda: b"Job" in screen, 30, "the screen", proc)
        os.close(master)  # the terminal is gone...
        master = -1
        if how == "sighup":
            proc.send_signal(signal.SIGHUP)  # ...and the hang-up signal arrives
        proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if master >= 0:
            os.close(master)
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert "the terminal went away" in text
    assert "watchdog stopped" in text
    assert frame_count(output) == 2 * frame_count(clip)  # complete, not truncated
    assert (uploads / output.name).read_bytes() == output.read_bytes()
    record = json.loads(sentinel.read_text())
    assert record["dry_run"] is True and record["verification"]["passed"] == 2
    assert text.index("the terminal went away") < text.index("stage done")  # it really ran headless


def test_console_in_a_real_terminal_quits_with_q_and_prints_the_summary(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", 64, 36, 24, 0.5, audio=False)
    output = tmp_path / "out.mp4"
    uploads = tmp_path / "uploaded"
    uploads.mkdir()
    log = tmp_path / "console.log"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    command = [
        sys.executable, "-m", "tui.cli", "tui", str(clip), "-o", str(output), "--model", "blend",
        "--upload", uploads.as_uri(), "--shutdown", "poweroff", "--confirm", "1",
        "--check-interval", "0", "--countdown", "0", "--log-file", str(log),
    ]
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env, start_new_session=True)
    os.close(slave)
    screen = bytearray()
    reader = threading.Thread(target=drain, args=(master, screen), daemon=True)
    reader.start()
    try:
        wait_until(lambda: log.exists() and "watchdog stopped" in log.read_text(), 120, "the end", proc)
        wait_until(lambda: b"q quits" in screen, 30, "the done notice", proc)
        os.write(master, b"q")
        proc.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert proc.returncode == 0
    tail = screen.decode("utf-8", "replace")[-2000:]
    assert f"output:   {output}" in tail and "sentinel: " in tail and f"log:      {log}" in tail


def take_controlling_terminal() -> None:
    """In the child, after setsid: make the pty its controlling terminal, as in tmux or sshd."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def start_console(tmp_path: Path, extra: list[str], inject: str | None = None):
    """``framedeck tui`` on a fresh pty (80x24), its screen drained by a thread."""
    clip = write_clip(tmp_path / "clip.mp4", 96, 54, 24, 4.0, audio=False)  # 96 frames
    output = tmp_path / "out.mp4"
    log = tmp_path / "console.log"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"}
    env.pop("TMUX", None)
    if inject:
        env["FRAMEDECK_INJECT"] = inject
    command = [
        sys.executable, "-m", "tui.cli", "tui", str(clip), "-o", str(output), "--model", "blend",
        "--log-file", str(log), "--stall-timeout", "600", *extra,
    ]
    proc = subprocess.Popen(
        command, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env, start_new_session=True,
        preexec_fn=take_controlling_terminal,
    )
    os.close(slave)
    screen = bytearray()
    threading.Thread(target=drain, args=(master, screen), daemon=True).start()
    return proc, master, screen, clip, output, log


@pytest.mark.parametrize("when", ["stage interpolating", "watchdog countdown"])
def test_closed_terminal_the_process_ends_by_itself_and_logs_progress(tmp_path: Path, when: str) -> None:
    """tmux kill-session: the controlling pty's master closes, mid-job or mid-countdown
    (the second once left the main thread blocked in Textual's driver close for ever)."""
    uploads = tmp_path / "uploaded"
    uploads.mkdir()
    mid_job = when == "stage interpolating"
    extra = [
        "--upload", uploads.as_uri(), "--shutdown", "poweroff", "--confirm", "2",
        "--check-interval", "1", "--countdown", "1" if mid_job else "3",  # long enough to close in
    ]
    # the hang keeps the job mid-run while the terminal closes; mid-countdown the job is over
    proc, master, screen, clip, output, log = start_console(
        tmp_path, extra, "hang@pair=20,seconds=3" if mid_job else None
    )
    try:
        wait_until(lambda: log.exists() and when in log.read_text(), 120, when, proc)
        wait_until(lambda: b"Job" in screen, 30, "the screen", proc)
        os.close(master)  # the terminal is gone...
        master = -1
        # the kernel hangs up the pty's session (SIGHUP, SIGCONT); then nobody touches it
        proc.wait(timeout=240)  # it must end by itself once the session is over
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if master >= 0:
            os.close(master)
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert "the screen did not let go" not in text  # ended normally, not by the backstop
    headless = text[text.index("the terminal went away"):]
    assert "watchdog stopped" in headless
    assert frame_count(output) == 2 * frame_count(clip)
    if mid_job:
        assert "stage done" in headless  # the job really went on headless...
        progress = [line for line in headless.splitlines() if " progress pairs " in line]
        assert progress, headless[-2000:]  # ...and the log says how far it got
        assert all(word in progress[-1] for word in ("pairs/s", "output fps", "ETA", "output "))


def test_sigterm_to_the_console_aborts_cleanly_and_restores_the_terminal(tmp_path: Path) -> None:
    proc, master, screen, _clip, output, log = start_console(tmp_path, [], "hang@pair=20,seconds=30")
    try:
        wait_until(lambda: log.exists() and "stage interpolating" in log.read_text(), 120, "the job", proc)
        wait_until(lambda: b"Job" in screen, 30, "the screen", proc)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        time.sleep(0.5)  # the drain thread reads what is left
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = log.read_text()
    assert proc.returncode == 143, text[-3000:]
    assert "SIGTERM" in text
    assert not output.exists()
    assert not list(tmp_path.glob(".out.partial-*")), list(tmp_path.iterdir())
    tail = bytes(screen[-4000:])
    assert b"\x1b[?1049l" in tail  # the alternate screen was left: the terminal is restored


def test_sigterm_to_the_headless_console_aborts_cleanly(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", 96, 54, 24, 4.0, audio=False)
    output, log = tmp_path / "out.mp4", tmp_path / "console.log"
    env = {**os.environ, "FRAMEDECK_INJECT": "hang@pair=20,seconds=30"}
    command = [
        sys.executable, "-m", "tui.cli", "tui", str(clip), "-o", str(output), "--model", "blend",
        "--headless", "--log-file", str(log), "--stall-timeout", "600",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    try:
        wait_until(lambda: log.exists() and "stage interpolating" in log.read_text(), 120, "the job", proc)
        proc.send_signal(signal.SIGTERM)
        printed = proc.communicate(timeout=120)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, printed
    assert "ended by SIGTERM" in log.read_text()
    assert not output.exists() and not list(tmp_path.glob(".out.partial-*"))
