"""``framedeck watch`` as a real process, on real time: a slow writer next to a chatty log and two
finished files, then kill -9 and a restart. Kept short (about 20 s together); the timing checks
compare the order of events, never a speed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from monitor.leftovers import temp_name
from monitor.state_store import STATE_NAME

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20


def start(argv: list[str], cwd: Path) -> tuple[subprocess.Popen, list[str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "watch", *argv],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def wait_until(condition, limit: float, what: str, proc: subprocess.Popen, lines: list[str]) -> None:
    """Poll ``condition``; a safety net against a hang, not a timing assertion."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if condition():
            return
        if proc.poll() is not None and not condition():
            raise AssertionError(f"framedeck exited ({proc.returncode}) before {what}:\n" + "\n".join(lines))
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"timed out waiting for {what}:\n" + "\n".join(lines))


def test_slow_writer_with_a_chatty_log_and_two_finished_files(tmp_path: Path) -> None:
    watch_dir, target = tmp_path / "w", tmp_path / "t"
    watch_dir.mkdir()
    target.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (watch_dir / name).write_bytes(os.urandom(300_000))
    result, log = watch_dir / "result.mp4", watch_dir / "render.log"
    stopped = tmp_path / "STOPPED"
    proc, lines = start(
        ["--watch-dir", str(watch_dir), "--upload", target.as_uri(), "--pattern", "*.mp4", "--confirm", "2",
         "--check-interval", "0.5", "--countdown", "0", "--settle", "4", "--idle", "3", "--no-dry-run",
         "--shutdown", "command:touch STOPPED"],
        tmp_path,
    )
    quit_log = threading.Event()

    def chatty() -> None:
        while not quit_log.is_set():
            with open(log, "a") as handle:
                handle.write("frame done\n")
            time.sleep(0.1)

    logger = threading.Thread(target=chatty, daemon=True)
    logger.start()
    try:
        for chunk in range(4):  # 1 MiB every 2 s, the file closed between chunks
            with open(result, "ab") as handle:
                handle.write(os.urandom(MIB))
            assert not stopped.exists(), f"stopped after chunk {chunk}:\n" + "\n".join(lines)
            if chunk < 3:
                time.sleep(2.0)
        last_write = time.monotonic()
        wait_until(stopped.exists, 60, "the stop", proc, lines)
        stopped_after = time.monotonic() - last_write
    finally:
        quit_log.set()
        logger.join()
    assert proc.wait(timeout=30) == 0, "\n".join(lines)
    text = "\n".join(lines)
    assert stopped_after >= 4.0, text  # never before the settle time after the last write
    for name in ("a.mp4", "b.mp4", "result.mp4"):
        assert (target / name).read_bytes() == (watch_dir / name).read_bytes(), name
        assert f"{name} verified 2/2" in text, text
        assert text.index(f"{name} verified 2/2") < text.index("STOPPING INSTANCE")
    assert (target / "result.mp4").stat().st_size == 4 * MIB
    assert text.count("uploaded ") == 3 and not (target / "render.log").exists()


def test_kill_9_then_restart_uploads_nothing_twice_and_removes_dead_leftovers(tmp_path: Path) -> None:
    watch_dir, target = tmp_path / "w", tmp_path / "t"
    watch_dir.mkdir()
    target.mkdir()
    (watch_dir / "a.mp4").write_bytes(os.urandom(200_000))
    base = ["--watch-dir", str(watch_dir), "--upload", target.as_uri(), "--confirm", "2", "--check-interval", "0.2",
            "--countdown", "0", "--settle", "0.5", "--scan-interval", "0.2", "--sentinel", str(tmp_path / "s.json")]
    proc, lines = start([*base, "--idle", "600"], tmp_path)
    state = watch_dir / STATE_NAME
    wait_until(lambda: state.exists() and "a.mp4" in state.read_text(), 30, "a.mp4 verified", proc, lines)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    first = "\n".join(lines)
    assert "uploaded " in first and "STOPPING INSTANCE" not in first

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = target / temp_name("b.mp4", dead.pid)
    leftover.write_bytes(b"half of b.mp4")
    (watch_dir / "b.mp4").write_bytes(os.urandom(100_000))
    proc, lines = start([*base, "--idle", "1"], tmp_path)
    assert proc.wait(timeout=60) == 0, "\n".join(lines)
    second = "\n".join(lines)
    assert "a.mp4 was verified before a restart" in second and "without uploading it again" in second
    assert "uploaded " + str(watch_dir / "a.mp4") not in second
    assert "uploaded " + str(watch_dir / "b.mp4") in second
    assert f"removed {leftover.name}" in second and not leftover.exists()
    assert "2 file(s) in file://" in second and (tmp_path / "s.json").exists()
