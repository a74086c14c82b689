"""What the console costs a job: the same job headless and under the Textual app.

    .venv/bin/python -m bench.console_overhead [--seconds 4] [--size 320x180] [--repeats 5]

Runs ``core.job.run_job`` on a generated clip (blend model, so decode, encode and the event
stream dominate and any console overhead shows) once with no front end and once inside
``FramedeckApp.run_test`` at 120x40 with a GPU sample every 0.1 s, and reports the best wall
time of each. Also measures how many events per second the coalescing inbox absorbs.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path

from core.events import LogRecord, PairDone
from core.job import run_job
from core.options import JobOptions
from core.telemetry import GpuTelemetry
from sample_media.generate import write_clip
from tui.app import FramedeckApp
from tui.messages import EventInbox
from tui.session import ConsoleSession
from tui.widgets.gpu_panel import sampler_for


def headless(clip: Path, out: Path) -> float:
    start = time.perf_counter()
    run_job(clip, out, JobOptions(factor=2, model="blend"))
    return time.perf_counter() - start


def in_console(clip: Path, out: Path, log: Path) -> float:
    session = ConsoleSession(str(clip), str(out), JobOptions(factor=2, model="blend"), log_path=log)
    sampler = sampler_for(GpuTelemetry(), lambda: None)
    app = FramedeckApp(session, sampler=sampler, gpu_interval=0.1, env={"TMUX": "1"})

    async def drive() -> float:
        start = time.perf_counter()
        async with app.run_test(size=(120, 40)) as pilot:
            while not session.done.is_set():
                await pilot.pause(0.01)
            elapsed = time.perf_counter() - start
        return elapsed

    elapsed = asyncio.run(drive())
    if session.error:
        raise SystemExit(session.error)
    return elapsed


def inbox_rate(events: int = 200_000) -> float:
    drained = 0
    done = threading.Event()

    def wake(_: object) -> None:
        pass

    inbox = EventInbox(wake)

    def produce() -> None:
        for i in range(events):
            inbox.put(PairDone(i, events, 0.01, i, True, 100.0, 1.0, 0.01 * i))
            if i % 50 == 0:
                inbox.put(LogRecord("info", "x", 0.0))
        done.set()

    start = time.perf_counter()
    thread = threading.Thread(target=produce)
    thread.start()
    while not done.is_set():
        drained += len(inbox.drain())
        time.sleep(0.001)
    drained += len(inbox.drain())
    thread.join()
    return events / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = write_clip(folder / "clip.mp4", width, height, 24, args.seconds, audio=False)
        plain_runs, console_runs = [], []
        for i in range(args.repeats):  # interleaved, so load from elsewhere hits both alike
            plain_runs.append(headless(clip, folder / f"h{i}.mp4"))
            console_runs.append(in_console(clip, folder / f"c{i}.mp4", folder / f"c{i}.log"))
        plain, console = min(plain_runs), min(console_runs)
    pairs = round(args.seconds * 24) - 1
    print(f"clip {width}x{height}, {pairs} pairs, blend x2, best of {args.repeats}")
    print(f"headless run_job:       {plain:.2f} s ({pairs / plain:.1f} pairs/s)")
    print(f"inside the console app: {console:.2f} s ({pairs / console:.1f} pairs/s), "
          f"overhead {100 * (console / plain - 1):+.0f}%")
    print("all runs (s): headless " + " ".join(f"{t:.2f}" for t in plain_runs)
          + " | console " + " ".join(f"{t:.2f}" for t in console_runs))
    print(f"inbox: {inbox_rate():,.0f} progress events/s put from a worker thread while draining")


if __name__ == "__main__":
    main()
