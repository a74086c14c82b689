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
- ``N workers, threads, decoding from the first frame``: the same with seeking turned off
  (the keyframe index replaced by one that says the input cannot be sought), as before
  core/video/keyframe_index.py: each range decodes the input from its first frame;
- ``decode the whole clip once``: one decode of the clip with nothing converted.

Every threaded row also reports the frames each worker's decoder gave (the ``decoded N frames``
line each range logs), against the clip's own frame count. The clip is re-encoded with a
keyframe every ``--gop`` frames (default 48: 2 s, as phones and streaming encoders cut; 0
keeps the generated clip's libx264 default of 250).

    .venv/bin/python -m bench.devices                               # 2 CPU workers, 320x180, flow
    .venv/bin/python -m bench.devices --devices cuda:0,cuda:1 --model rife --size 1920x1080
    .venv/bin/python -m bench.devices --model blend --size 640x360 --frames 1440 --no-processes

On a 2-core machine, 2 CPU workers share the same cores: a sanity check of the machinery
(and of its overhead), not a speed claim.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from unittest import mock

import av

from bench.inputs import CACHE, generated_clip, machine, parse_size
from bench.resume import packets
from core.device_job import plan_ranges, run_job_on_devices
from core.events import LogRecord
from core.job import encode_workers, run_job
from core.job_journal import JobJournal
from core.options import JobOptions
from core.video.keyframe_index import KeyframeIndex
from core.video.probe import probe_video
from core.video.reader import FrameReader

DECODED = re.compile(r"^worker (\d+) \([^)]*\): decoded (\d+) frames from")


def _process_worker(clip: str, out: str, options: JobOptions, number: int, ranges: list[tuple[int, int]]) -> None:
    keyframes = KeyframeIndex.build(clip)  # each process builds its own (the output is checked after)
    for start, stop in ranges:
        run_job(clip, out, options, pairs=range(start, stop), keep=True, worker=number, keyframes=keyframes)


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


def with_keyframes(clip: Path, gop: int) -> Path:
    """``clip`` re-encoded (libx264 crf 18, B-frames) with a keyframe every ``gop`` frames, made once."""
    if gop <= 0:
        return clip
    path = CACHE / f"{clip.stem}_gop{gop}.mp4"
    if path.exists():
        return path
    temp = path.with_name(path.name + ".partial.mp4")
    with av.open(str(clip)) as source, av.open(str(temp), "w") as out:
        video = source.streams.video[0]
        stream = out.add_stream("libx264", rate=video.average_rate,
                                options={"crf": "18", "g": str(gop), "keyint_min": str(gop)})
        stream.width, stream.height, stream.pix_fmt = video.codec_context.width, video.codec_context.height, "yuv420p"
        for frame in source.decode(video):
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    temp.rename(path)
    return path


def threads(clip: Path, out: Path, options: JobOptions, devices: list[str], seek: bool) -> Counter:
    """One threaded run over ``devices``; the frames each worker decoded (summed over its ranges)."""
    decoded: Counter = Counter()

    def on_event(event: object) -> None:
        if isinstance(event, LogRecord) and (found := DECODED.match(event.message)):
            decoded[int(found.group(1))] += int(found.group(2))

    if seek:
        run_job_on_devices(clip, out, options, devices, on_event=on_event)
    else:
        off = KeyframeIndex(reason="seeking turned off by the benchmark")
        with mock.patch("core.device_job.KeyframeIndex.build", return_value=off):
            run_job_on_devices(clip, out, options, devices, on_event=on_event)
    return decoded


def decode_only(clip: Path) -> float:
    info = probe_video(clip)
    start = time.perf_counter()
    with FrameReader(clip, info, start_index=1 << 30) as reader:
        for _ in reader:
            pass
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", default="cpu,cpu")
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--frames", type=int, default=480)
    parser.add_argument("--model", default="flow")
    parser.add_argument("--codec", default="libx264")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--gop", type=int, default=48, help="frames between keyframes (0: libx264's default)")
    parser.add_argument("--no-processes", action="store_true", help="leave out the spawned-processes row")
    args = parser.parse_args(argv)
    devices = [d.strip() for d in args.devices.split(",")]
    width, height = parse_size(args.size)
    clip = with_keyframes(generated_clip(width, height, fps=24, seconds=args.frames / 24), args.gop)
    options = JobOptions(model=args.model, codec=args.codec, factor=2, device=devices[0])
    n = len(devices)
    seeking, from_start = f"{n} workers, threads", f"{n} workers, threads, decoding from the first frame"
    names = ["1 worker", seeking, from_start] + ([] if args.no_processes else [f"{n} workers, spawned processes"])
    best = dict.fromkeys(names, float("inf"))
    decoded: dict[str, Counter] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for r in range(args.repeat):
            outs = {name: folder / f"{k}-{r}.mp4" for k, name in enumerate(names)}
            for name in names:
                start = time.perf_counter()
                if name == names[0]:
                    run_job(clip, outs[name], options)
                elif name in (seeking, from_start):
                    decoded[name] = threads(clip, outs[name], options, devices, seek=name == seeking)
                else:
                    processes(clip, outs[name], options, devices)
                best[name] = min(best[name], time.perf_counter() - start)
            reference = packets(outs[names[0]])
            if any(packets(outs[name]) != reference for name in names[1:]):
                raise SystemExit("the outputs differ from the single worker's")
        decode = decode_only(clip)
        index = KeyframeIndex.build(clip)
    pairs = args.frames - 1
    print(f"# {machine()}")
    print(f"# {args.frames} frames {args.size}, keyframe every {args.gop or 'libx264 default'} frames "
          f"({len(index.keyframes)} keyframes), {args.model}, {args.codec}, devices {args.devices}; "
          f"best of {args.repeat}; outputs identical packet for packet")
    print(f"| run | seconds | pairs/s | speed-up | frames decoded per worker (clip: {args.frames}) |")
    print("|---|---|---|---|---|")
    for name in names:
        counts = decoded.get(name)
        frames = " + ".join(str(counts[w]) for w in range(n)) + f" = {sum(counts.values())}" if counts else ""
        print(f"| {name} | {best[name]:.2f} | {pairs / best[name]:.1f} | {best[names[0]] / best[name]:.2f}x "
              f"| {frames} |")
    print(f"| decode the whole clip once | {decode:.2f} | | | {args.frames} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
