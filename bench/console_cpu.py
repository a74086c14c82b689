"""The console's CPU cost during a job: ``framedeck run`` against ``framedeck tui`` on a pty.

    .venv/bin/python -m bench.console_cpu [--seconds 8] [--size 320x180] [--repeats 3] [--model blend]

Both commands run the same generated clip as real processes (the console on a pseudo-terminal
of 120x40 whose output is read and thrown away, as a terminal would draw it), interleaved so
that load from elsewhere hits both alike. The CPU time (user + system) of each process comes
from ``os.wait4``; the console is sent ``q`` once its output file is in place. The difference
is what the screen costs, in CPU seconds and as a share of a core over the job's wall time.
Under load that difference is noisy (torch's thread pool burns more CPU when it competes for
cores), so the console's main thread, which runs only Textual's event loop (the job and the
watchdog run in worker threads), is also read from /proc just before ``q``: its CPU seconds
per second of job are the screen's own cost.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

from sample_media.generate import write_clip

ROOT = Path(__file__).resolve().parents[1]


def _drain(fd: int) -> None:
    while True:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def _finish(proc: subprocess.Popen, allowed: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Wait for ``proc``; (cpu seconds, wall seconds since it started)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in allowed:
        raise SystemExit(f"{proc.args} exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime, 0.0


RUN_THREADS: list[list[float]] = []


def _threads_during_job(proc: subprocess.Popen, out: Path, screen: bool = False) -> list[float]:
    """Each thread's CPU seconds from the job's start (its journal appears) to its output;
    with ``screen``, the main thread's share of a core goes into SCREEN."""
    journal = out.with_name(f".{out.name}.framedeck")
    while not journal.exists():
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[3]} exited early ({proc.returncode})")
        time.sleep(0.02)
    main0, wall0, threads0 = thread_cpu(proc.pid, proc.pid), time.perf_counter(), all_threads(proc.pid)
    while not out.exists():
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[3]} exited early ({proc.returncode})")
        time.sleep(0.05)
    if screen:
        SCREEN.append((thread_cpu(proc.pid, proc.pid) - main0) / (time.perf_counter() - wall0))
    threads = all_threads(proc.pid)
    return sorted((round(c - threads0.get(t, 0.0), 2) for t, c in threads.items()), reverse=True)


def run_headless(clip: Path, out: Path, model: str) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "run", str(clip), "-o", str(out), "--model", model, "--quiet"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    RUN_THREADS.append(_threads_during_job(proc, out))
    cpu, _ = _finish(proc)
    return cpu, time.perf_counter() - start


def thread_cpu(pid: int, tid: int) -> float:
    """CPU seconds (user + system) of thread ``tid`` of process ``pid``, from /proc."""
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SCREEN: list[float] = []  # the console's main thread, CPU seconds per second of job
THREADS: list[list[float]] = []  # every thread's CPU seconds during the job, largest first


def all_threads(pid: int) -> dict[int, float]:
    return {int(t): thread_cpu(pid, int(t)) for t in os.listdir(f"/proc/{pid}/task")}


def run_console(clip: Path, out: Path, model: str) -> tuple[float, float]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "TMUX": "bench"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "tui", str(clip), "-o", str(out), "--model", model,
         "--log-file", str(out) + ".log"],
        cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
    )
    os.close(slave)
    reader = threading.Thread(target=_drain, args=(master,), daemon=True)
    reader.start()
    THREADS.append(_threads_during_job(proc, out, screen=True))
    wall = time.perf_counter() - start
    time.sleep(0.5)  # the last events reach the screen
    os.write(master, b"q")
    cpu, _ = _finish(proc, allowed=(0, 130))  # 130: q came while the session was still closing
    os.close(master)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="blend")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    runs: dict[str, list[tuple[float, float]]] = {"run": [], "tui": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = write_clip(folder / "clip.mp4", width, height, 24, args.seconds, audio=False)
        for i in range(args.repeats):
            runs["run"].append(run_headless(clip, folder / f"r{i}.mp4", args.model))
            runs["tui"].append(run_console(clip, folder / f"t{i}.mp4", args.model))
    pairs = round(args.seconds * 24) - 1
    print(f"clip {width}x{height}, {pairs} pairs, {args.model} x2, {args.repeats} interleaved runs each; "
          f"load average {os.getloadavg()[0]:.1f}")
    for name, values in runs.items():
        cpus = [c for c, _ in values]
        walls = [w for _, w in values]
        print(f"{name:4} cpu s " + " ".join(f"{c:.2f}" for c in cpus)
              + "  | wall s " + " ".join(f"{w:.2f}" for w in walls))
    extra = [t[0] - r[0] for r, t in zip(runs["run"], runs["tui"], strict=True)]
    share = [(t[0] - r[0]) / t[1] for r, t in zip(runs["run"], runs["tui"], strict=True)]
    print("console main thread (the screen), cores during the job: " + " ".join(f"{c:.3f}" for c in SCREEN))
    for used in RUN_THREADS:
        print(f"run threads during the job (cpu s, {len(used)} threads): " + " ".join(f"{c:.2f}" for c in used[:8]))
    for used in THREADS:
        print(f"console threads during the job (cpu s, {len(used)} threads): " + " ".join(f"{c:.2f}" for c in used[:8]))
    print("console extra cpu s " + " ".join(f"{e:+.2f}" for e in extra)
          + "  = cores during the job " + " ".join(f"{s:+.2f}" for s in share))


if __name__ == "__main__":
    main()
