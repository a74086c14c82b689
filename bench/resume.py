"""What a journal costs and what a resume saves, on one generated clip.

Three ways through the same 1000-frame clip, alternated ``--repeat`` times (the fastest of
each is kept, so the ratios hold on a busy machine), each timed around ``run_job`` in this
process (model loading included; the interpreter and torch imports of a new command, a few
seconds, are not):

- ``no journal``: ``run_job(..., journal=False)``, encoded straight into the output;
- ``journal``: the default, segment files then the join; its overhead is the difference;
- ``resume``: a journaled run is cancelled (kept) once pair ``--interrupt`` x total is done,
  then the same job is run again; the second run's time is the one reported, and its output
  is checked packet for packet against the uninterrupted journaled run's.

    .venv/bin/python -m bench.resume                       # 320x180, blend, libx264
    .venv/bin/python -m bench.resume --size 640x360 --model flow --repeat 2
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import av

from bench.inputs import generated_clip, machine, parse_size
from core.errors import JobAborted
from core.events import Event, PairDone
from core.job import run_job
from core.journal import journal_folder, read_manifest
from core.options import JobOptions


def timed(*args, **kwargs) -> tuple[float, float]:
    """Wall and CPU seconds (every thread of this process) one ``run_job(*args, **kwargs)`` takes.

    CPU seconds are the steadier figure on a shared machine: other processes slow the wall
    clock, not the work this one does."""
    start, cpu = time.perf_counter(), time.process_time()
    run_job(*args, **kwargs)
    return time.perf_counter() - start, time.process_time() - cpu


def packets(path: Path) -> list[tuple[int | None, bytes]]:
    with av.open(str(path)) as c:
        return [(p.pts, bytes(p)) for p in c.demux() if p.size]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--model", default="blend")
    parser.add_argument("--codec", default="libx264")
    parser.add_argument("--interrupt", type=float, default=0.8, help="share of the pairs done before the stop")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    width, height = parse_size(args.size)
    clip = generated_clip(width, height, fps=24, seconds=args.frames / 24)
    options = JobOptions(model=args.model, codec=args.codec, factor=2, device="cpu")
    best = {"no journal": float("inf"), "journal": float("inf"), "resume": float("inf")}
    cpu = dict(best)
    kept_share = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for _ in range(args.repeat):
            plain, journaled, resumed = folder / "plain.mp4", folder / "journal.mp4", folder / "resumed.mp4"
            for way, seconds in (("no journal", timed(clip, plain, options, journal=False)),
                                 ("journal", timed(clip, journaled, options))):
                best[way], cpu[way] = min(best[way], seconds[0]), min(cpu[way], seconds[1])
            cancel = threading.Event()

            def stop_late(event: Event, cancel=cancel) -> None:
                if isinstance(event, PairDone) and event.index + 1 >= args.interrupt * event.total:
                    cancel.set()

            with contextlib.suppress(JobAborted):
                run_job(clip, resumed, options, on_event=stop_late, cancel=cancel, keep=True)
            manifest = read_manifest(journal_folder(resumed))
            kept_share = len(manifest["segments"]) * manifest["segment_pairs"] / (args.frames - 1)
            seconds = timed(clip, resumed, options, keep=True)
            best["resume"], cpu["resume"] = min(best["resume"], seconds[0]), min(cpu["resume"], seconds[1])
            if packets(resumed) != packets(journaled):
                print("the resumed output differs from the uninterrupted one", file=sys.stderr)
                return 1
            for path in (plain, journaled, resumed):
                path.unlink()
            shutil.rmtree(journal_folder(resumed), ignore_errors=True)
    full = best["journal"]
    print(f"<!-- {machine()} -->")
    print(f"`{' '.join(['python -m bench.resume', *sys.argv[1:]])}`: {args.frames} frames {width}x{height} 24 fps, "
          f"{args.model}, {args.codec}, 2x, best of {args.repeat}\n")
    print("| run | wall s | vs journaled full run | CPU s |")
    print("|---|---|---|---|")
    print(f"| full run, no journal | {best['no journal']:.2f} | {best['no journal'] / full:.1%} | {cpu['no journal']:.2f} |")
    print(f"| full run, journal (default) | {full:.2f} | 100% | {cpu['journal']:.2f} |")
    print(f"| rerun after a stop at {args.interrupt:.0%} ({kept_share:.0%} kept) | {best['resume']:.2f} | "
          f"{best['resume'] / full:.1%} | {cpu['resume']:.2f} |")
    print(f"\njournal overhead: {(full - best['no journal']) / best['no journal']:+.1%} wall, "
          f"{(cpu['journal'] - cpu['no journal']) / cpu['no journal']:+.1%} CPU, of the run without one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
