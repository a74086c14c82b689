"""How long the watchdog takes from the last write of a result to the stop, and how fast it hashes.

1. A real ``framedeck watch`` process (file:// target, live stop ``command:touch STOPPED``)
   watches an empty folder; the benchmark writes a SIZE MiB result into it in 8 MiB chunks,
   closes it and measures the wall time from that close to the mtime of ``STOPPED``. The
   floor is ``--settle``; the rest is noticing, uploading, the K checks ``--check-interval``
   apart (each reads the local and the stored file's SHA-1) and the stop action.
2. SHA-1 throughput of a GIB GiB file through ``monitor.hashing.read_sha1`` (what every
   upload and check pays), and of ``hashlib.sha1`` over bytes already in memory (the CPU
   limit). The file was just written, so it is likely in the page cache: the file figure is
   hashing plus a cached read, not a disk read.

Temporary files go under ``--dir`` (/tmp) and are deleted. Usage::

    .venv/bin/python -m bench.watchdog_stop [--size-mib 200] [--settle 10] [--confirm 3]
        [--check-interval 1] [--hash-gib 2] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.paths import ROOT
from monitor.hashing import read_sha1

CHUNK = 8 << 20


def stop_latency(size_mib: int, settle: float, confirm: int, check_interval: float, workdir: Path) -> dict:
    """Seconds from closing a ``size_mib`` MiB result to the stop action, with the CLI's output."""
    watch, target = workdir / "watch", workdir / "target"
    watch.mkdir()
    target.mkdir()
    stopped = workdir / "STOPPED"
    command = [
        sys.executable, "-m", "tui.cli", "watch", "--watch-dir", str(watch), "--upload", target.as_uri(),
        "--pattern", "*.mp4", "--settle", f"{settle:g}", "--confirm", str(confirm),
        "--check-interval", f"{check_interval:g}", "--countdown", "0", "--expect", "1",
        "--no-dry-run", "--shutdown", "command:touch STOPPED",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    log = workdir / "watch.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            time.sleep(1.0)  # let it start and look at the empty folder
            block = os.urandom(CHUNK)
            with open(watch / "result.mp4", "wb") as handle:
                for _ in range(size_mib * (1 << 20) // CHUNK):
                    handle.write(block)
            last_write = time.time()
            code = proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
    if code != 0 or not stopped.exists():
        raise RuntimeError(f"framedeck watch exited {code}:\n{log.read_text()}")
    return {
        "size_mib": size_mib,
        "settle": settle,
        "confirm": confirm,
        "check_interval": check_interval,
        "seconds": stopped.stat().st_mtime - last_write,
        "command": " ".join(command[3:]),
    }


def sha1_throughput(gib: float, workdir: Path) -> dict:
    """MiB/s of read_sha1 over a ``gib`` GiB file, and of hashlib.sha1 over 256 MiB in memory."""
    path = workdir / "big.bin"
    block = os.urandom(64 << 20)
    total = int(gib * (1 << 30))
    with open(path, "wb") as handle:
        for _ in range(total // len(block)):
            handle.write(block)
    try:
        started = time.perf_counter()
        size, _ = read_sha1(path)
        file_seconds = time.perf_counter() - started
    finally:
        path.unlink()
    memory = block * 4
    started = time.perf_counter()
    hashlib.sha1(memory).hexdigest()
    memory_seconds = time.perf_counter() - started
    return {
        "file_gib": size / (1 << 30),
        "file_mib_s": size / (1 << 20) / file_seconds,
        "file_seconds": file_seconds,
        "memory_mib_s": len(memory) / (1 << 20) / memory_seconds,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--confirm", type=int, default=3)
    parser.add_argument("--check-interval", type=float, default=1.0)
    parser.add_argument("--hash-gib", type=float, default=2.0)
    parser.add_argument("--dir", default="/tmp", help="where the temporary files go (deleted after)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="framedeck-bench-watch-", dir=args.dir))
    try:
        stop = stop_latency(args.size_mib, args.settle, args.confirm, args.check_interval, workdir)
        sha1 = sha1_throughput(args.hash_gib, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"last write -> stop: {stop['seconds']:.1f} s for {stop['size_mib']} MiB "
          f"(settle {stop['settle']:g} s, {stop['confirm']} checks {stop['check_interval']:g} s apart; "
          f"{stop['seconds'] - stop['settle']:.1f} s beyond the settle time)")
    print(f"  command: framedeck {stop['command']}")
    print(f"SHA-1 of a {sha1['file_gib']:.2f} GiB file: {sha1['file_mib_s']:.0f} MiB/s "
          f"({sha1['file_seconds']:.1f} s); in memory: {sha1['memory_mib_s']:.0f} MiB/s")
    return {"stop": stop, "sha1": sha1}


if __name__ == "__main__":
    main()
