"""Scaling of one job with the number of device workers, and threads against spawned processes.

On one generated clip, alternated ``--repeat`` times (the fastest of each kept), each timed
around the whole job (model loading and the final join included):

- ``1 worker``: ``run_job`` on ``--devices``' first device, as framedeck runs without ``--devices``;
- ``N workers, threads``: ``run_job_on_devices`` (core/device_job.py), one thread per device,
  work stealing over a shared list of ranges; its output is checked packet for packet
  against the single worker's;
- ``N workers, spawned processes``: the same ranges, dealt round-robin to N processes started
  with the ``spawn`` method (each imports torch and loads its own model, as a CUDA worker
  must), each running ``run_job(..., pairs=..., worker=n)`` into the one journal, then the
  same join in this process; output checked too;
- ``decode from the first frame``: what each worker spends decoding the frames before its
  range (the reader cannot seek): one decode of the whole clip with nothing converted.

With ``--queue N``: a queue of N short clips (``--frames`` each) in one session, as
``framedeck run c0 ... -o out/`` runs it: ``--devices``' first device alone (a plain session,
what ``--devices cpu`` gives: the jobs run on the calling thread), the same device as a
one-device pool (the jobs run on a device worker thread, as in the pool: this row separates
the thread's own effect from the sharing out), and the pool of every device
(session/parallel.py: short clips whole, one per free device, the last one split); outputs
checked packet for packet and the most clips that ran at once counted from the queue's events.

    .venv/bin/python -m bench.devices                               # 2 CPU workers, 320x180, flow
    .venv/bin/python -m bench.devices --devices cuda:0,cuda:1 --model rife --size 1920x1080
    .venv/bin/python -m bench.devices --queue 8 --frames 96 --model blend     # a queue of short clips

On a 2-core machine, 2 CPU workers share the same cores: a sanity check of the machinery
(and of its overhead), not a speed claim.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

from bench.inputs import generated_clip, machine, parse_size
from bench.resume import packets
from core.device_job import plan_ranges, run_job_on_devices
from core.job import encode_workers, run_job
from core.job_journal import JobJournal
from core.options import JobOptions
from core.video.probe import probe_video
from core.video.reader import FrameReader


def _process_worker(clip: str, out: str, options: JobOptions, number: int, ranges: list[tuple[int, int]]) -> None:
    for start, stop in ranges:
        run_job(clip, out, options, pairs=range(start, stop), keep=True, worker=number)


def processes(clip: Path, out: Path, options: JobOptions, devices: list[str]) -> None:
    """The ranges of a threads run, dealt round-robin to spawned processes, then the join here."""
    info = probe_video(clip)
    total = max(0, (info.frame_count or 1) - 1)
    segment = JobJournal(out, options, info, False, lambda *a: None, total, encode_workers(options)).segment_pairs
    ranges = plan_ranges(total, segment, len(devices))
    context = multiprocessing.get_context("spawn")
    procs = []
    for n, device in enumerate(devices):
        mine = [(r.start, r.stop) for r in ranges[n::len(devices)]]
        opts = JobOptions(**{**options.__dict__, "device": device})
        procs.append(context.Process(target=_process_worker, args=(str(clip), str(out), opts, n, mine)))
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a worker process failed with status {p.exitcode}")
    run_job(clip, out, JobOptions(**{**options.__dict__, "device": devices[0]}))


def decode_only(clip: Path) -> float:
    info = probe_video(clip)
    start = time.perf_counter()
    with FrameReader(clip, info, start_index=1 << 30) as reader:
        for _ in reader:
            pass
    return time.perf_counter() - start


def queue(clip: Path, count: int, options: JobOptions, devices: list[str], repeat: int) -> dict[str, object]:
    """The queue rows: best seconds over one device and over the pool, and the most clips at once."""
    from core.device_job import DevicePool
    from session import ClipState, Session
    from session.clips import ClipChanged

    best = {"one": float("inf"), "thread": float("inf"), "pool": float("inf")}
    most = 0
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeat):
            outs = {name: Path(tmp) / f"{name}{r}" for name in best}
            for name, folder in outs.items():
                folder.mkdir()
                states: dict[int, ClipState] = {}

                def track(event: object, states: dict[int, ClipState] = states) -> None:
                    nonlocal most
                    if isinstance(event, ClipChanged):
                        states[event.clip.id] = event.clip.state
                        most = max(most, sum(s is ClipState.RUNNING for s in states.values()))

                pool = {"one": None, "thread": DevicePool(devices[:1]), "pool": DevicePool(devices)}[name]
                start = time.perf_counter()
                try:
                    result = Session(options, [(clip, folder / f"c{i}.mp4") for i in range(count)], run_job=pool,
                                     on_event=track).run()
                finally:
                    if pool is not None:
                        pool.close()
                best[name] = min(best[name], time.perf_counter() - start)
                if result.exit_code:
                    raise SystemExit(f"the {name} queue failed: {result.table()}")
            for i in range(count):
                reference = packets(outs["one"] / f"c{i}.mp4")
                if any(packets(outs[name] / f"c{i}.mp4") != reference for name in ("thread", "pool")):
                    raise SystemExit(f"clip {i} differs from the one-device queue's")
    return {**best, "most": most}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", default="cpu,cpu")
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--frames", type=int, default=480)
    parser.add_argument("--model", default="flow")
    parser.add_argument("--codec", default="libx264")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--queue", type=int, default=0, help="a queue of this many short clips instead")
    args = parser.parse_args(argv)
    devices = [d.strip() for d in args.devices.split(",")]
    width, height = parse_size(args.size)
    clip = generated_clip(width, height, fps=24, seconds=args.frames / 24)
    options = JobOptions(model=args.model, codec=args.codec, factor=2, device=devices[0])
    n = len(devices)
    if args.queue:
        rows = queue(clip, args.queue, options, devices, args.repeat)
        pairs = args.queue * (args.frames - 1)
        print(f"# {machine()}")
        print(f"# a queue of {args.queue} clips of {args.frames} frames {args.size}, {args.model}, {args.codec}, "
              f"devices {args.devices}; best of {args.repeat}; outputs identical packet for packet; "
              f"most clips at once: {rows['most']}")
        print("| queue | seconds | pairs/s | speed-up |")
        print("|---|---|---|---|")
        labels = (("one", f"1 worker ({devices[0]}), plain session"),
                  ("thread", f"1 worker ({devices[0]}) on a device thread"), ("pool", f"{n} workers, clips shared out"))
        for name, label in labels:
            seconds = float(rows[name])  # type: ignore[arg-type]
            print(f"| {label} | {seconds:.2f} | {pairs / seconds:.1f} | {float(rows['one']) / seconds:.2f}x |")  # type: ignore[arg-type]
        return 0
    names = ["1 worker", f"{n} workers, threads", f"{n} workers, spawned processes"]
    best = dict.fromkeys(names, float("inf"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for r in range(args.repeat):
            one, threads, procs = (folder / f"{name}{r}.mp4" for name in ("one", "threads", "procs"))
            start = time.perf_counter()
            run_job(clip, one, options)
            best[names[0]] = min(best[names[0]], time.perf_counter() - start)
            start = time.perf_counter()
            run_job_on_devices(clip, threads, options, devices)
            best[names[1]] = min(best[names[1]], time.perf_counter() - start)
            start = time.perf_counter()
            processes(clip, procs, options, devices)
            best[names[2]] = min(best[names[2]], time.perf_counter() - start)
            reference = packets(one)
            if packets(threads) != reference or packets(procs) != reference:
                raise SystemExit("the outputs differ from the single worker's")
        decode = decode_only(clip)
    pairs = args.frames - 1
    print(f"# {machine()}")
    print(f"# {args.frames} frames {args.size}, {args.model}, {args.codec}, devices {args.devices}; "
          f"best of {args.repeat}; outputs identical packet for packet")
    print("| run | seconds | pairs/s | speed-up |")
    print("|---|---|---|---|")
    for name in names:
        print(f"| {name} | {best[name]:.2f} | {pairs / best[name]:.1f} | {best[names[0]] / best[name]:.2f}x |")
    print(f"| decode from the first frame (each worker, before its range) | {decode:.2f} | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
