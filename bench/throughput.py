"""Throughput on one input, four ways in one run, so the ratios hold on a noisy machine.

- model-only: every decoded frame is put on the device as uint8 first; the timed loop
  converts each frame to float once, runs consecutive pairs (t = 0.5) in the job's batch
  size and turns the results into uint8 on the device (what the job's model stage does);
- framedeck: ``core.job.run_job`` 2x, decode + model + encode, timed from ``JobStarted``
  (model loaded, batch chosen) to its return (file renamed into place);
- framedeck, null sink: the same with the encoder replaced by ``bench.null_sink``;
- PNG round trip: the seed's way (``bench.png_roundtrip``), batch 1, same model instance.

Scene-cut detection is off by default (``--scene-cut``) so all four interpolate every pair.
Each way is run ``--repeat`` times and the fastest run of each is kept. Examples:

    .venv/bin/python -m bench.throughput --generate 640x360 --seconds 2 --model flow
    .venv/bin/python -m bench.throughput --clip ../shared/media/clips/bigbuckbunny_1280x720_25fps.mp4 --frames 48
    .venv/bin/python -m bench.throughput --model rife --weights ../shared/models/rife-4.25/flownet.pkl \\
        --generate 1920x1080 --clip ../shared/media/clips/bigbuckbunny_1280x720_25fps.mp4

With neither ``--clip`` nor ``--generate`` the inputs are the issue's: a generated 1080p
clip (10 s at 24 fps) and the shared 720p clip.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import torch

from bench.inputs import CACHE, CLIP_720P, generated_clip, machine, parse_size, trimmed_clip
from bench.null_sink import NullSinkWriter
from bench.png_roundtrip import png_round_trip
from core.device import resolve_device
from core.events import Event, JobStarted, StageTimes
from core.interpolators.base import Interpolator
from core.interpolators.registry import create_interpolator
from core.job import run_job
from core.options import JobOptions
from core.video.codecs import resolve_codec
from core.video.formats import encoder_options
from core.video.probe import probe_video
from core.video.reader import FrameReader
from core.video.writer import EncoderSettings

STAGES = ("decode", "upload", "model", "download", "encode")
WAYS = ("model-only", "framedeck", "null-sink", "png")
SHORTFALL = 0.9  # below this share of model-only, the limiting stage is named


@dataclass
class Run:
    """One timed way through the input."""

    pairs: int
    frames_out: int
    seconds: float
    cpu_seconds: float = 0.0  # process CPU time (all threads) over the same span
    stages: dict[str, float] = field(default_factory=dict)
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def pairs_per_second(self) -> float:
        return self.pairs / self.seconds

    @property
    def fps(self) -> float:
        return self.frames_out / self.seconds

    @property
    def cpu_per_pair(self) -> float:
        return self.cpu_seconds / self.pairs


@dataclass
class InputResult:
    """Best runs of every way on one input, and what the job reported about itself."""

    name: str
    width: int
    height: int
    frames: int
    runs: dict[str, Run]
    job: dict[str, object]

    def ratios(self) -> dict[str, float]:
        model = self.runs["model-only"].pairs_per_second
        out = {"end-to-end/model-only": self.runs["framedeck"].pairs_per_second / model}
        if "null-sink" in self.runs:
            out["null-sink/model-only"] = self.runs["null-sink"].pairs_per_second / model
        if "png" in self.runs:
            out["framedeck/png"] = self.runs["png"].seconds / self.runs["framedeck"].seconds
        return out

    def cpu_ratios(self) -> dict[str, float]:
        """The same ratios from CPU seconds per pair: steadier than wall time on a shared machine."""
        cost = {name: run.cpu_per_pair for name, run in self.runs.items()}
        out = {"end-to-end/model-only": cost["model-only"] / cost["framedeck"]}
        if "null-sink" in cost:
            out["null-sink/model-only"] = cost["model-only"] / cost["null-sink"]
        if "png" in cost:
            out["framedeck/png"] = cost["png"] / cost["framedeck"]
        return out

    def limiter(self) -> str | None:
        """Which stages hold framedeck below SHORTFALL x model-only (None when it does not fall short).

        Rates are wall time on a GPU and CPU seconds per pair on the CPU, where every stage
        competes for the same cores. The encoder is named when the null-sink run is more than
        10% faster than the framedeck run; when the null-sink run (or, without one, the
        framedeck run) is still short, so is the busiest other stage by the job's stage timers.
        """
        ratios = self.cpu_ratios() if self.job.get("device") == "cpu" else self.ratios()
        if ratios["end-to-end/model-only"] >= SHORTFALL:
            return None
        null = self.runs.get("null-sink")
        named = []
        if null is not None and ratios["null-sink/model-only"] > 1.1 * ratios["end-to-end/model-only"]:
            named.append("encode")
        if null is None or ratios["null-sink/model-only"] < SHORTFALL:
            stages = (null or self.runs["framedeck"]).stages
            candidates = STAGES if null is None else tuple(s for s in STAGES if s != "encode")
            named.append(max(candidates, key=lambda s: stages.get(s, 0.0)))
        return ", then ".join(named)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def decode_frames(clip: Path) -> list[np.ndarray]:
    """Every frame of ``clip`` as RGB uint8, through the job's own reader."""
    with FrameReader(clip, probe_video(clip)) as reader:
        return [frame.rgb for frame in reader]


def model_only(frames: list[np.ndarray], model: Interpolator, device: torch.device, batch: int) -> Run:
    """Interpolate every consecutive pair of ``frames`` (held on ``device``) in batches of ``batch``."""
    on_device = [torch.from_numpy(f).to(device) for f in frames]
    _sync(device)
    floats: dict[int, torch.Tensor] = {}

    def as_float(i: int) -> torch.Tensor:
        if i not in floats:
            floats[i] = on_device[i].permute(2, 0, 1).float().div_(255.0)
        return floats[i]

    pairs = len(frames) - 1
    cpu, start = time.process_time(), time.perf_counter()
    with torch.inference_mode():
        for first in range(0, pairs, batch):
            rows = range(first, min(first + batch, pairs))
            img0 = torch.stack([as_float(i) for i in rows])
            img1 = torch.stack([as_float(i + 1) for i in rows])
            t = torch.full((len(rows),), 0.5, device=device)
            if getattr(model, "takes_frame_keys", False):  # as the job calls it
                keys = (list(rows), [i + 1 for i in rows])
                out = model.interpolate(img0, img1, t, keys=keys)  # type: ignore[call-arg]
            else:
                out = model.interpolate(img0, img1, t)
            out.clamp(0, 1).mul(255).round_().to(torch.uint8).permute(0, 2, 3, 1)
            for i in [k for k in floats if k < rows[-1] + 1]:
                del floats[i]
    _sync(device)
    return Run(pairs, pairs, time.perf_counter() - start, time.process_time() - cpu)


def framedeck(clip: Path, output: Path, options: JobOptions, sink: bool = False) -> tuple[Run, JobStarted]:
    """One ``run_job``; seconds run from its JobStarted event to its return."""
    seen: dict[str, object] = {}

    def on_event(event: Event) -> None:
        if isinstance(event, JobStarted):
            seen["started"] = event
            seen["at"] = time.perf_counter()
            seen["cpu"] = time.process_time()
        elif isinstance(event, StageTimes):
            seen["stages"] = dict(event.seconds)

    result = run_job(clip, output, options, on_event, writer_factory=NullSinkWriter if sink else None)
    started: JobStarted = seen["started"]  # type: ignore[assignment]
    if sink and started.codec != NullSinkWriter.codec_name:
        raise RuntimeError(f"the null sink was not used (the job encoded with {started.codec}); see bench/null_sink.py")
    seconds = time.perf_counter() - float(seen["at"])  # type: ignore[arg-type]
    cpu = time.process_time() - float(seen["cpu"])  # type: ignore[arg-type]
    run = Run(result.pairs, result.output_frames, seconds, cpu, stages=seen.get("stages", {}))  # type: ignore[arg-type]
    return run, started


def _keep_best(best: dict[str, Run], name: str, run: Run) -> None:
    if name not in best or run.seconds < best[name].seconds:
        best[name] = run


def measure(clip: Path, args: argparse.Namespace, settings: EncoderSettings, folder: Path) -> InputResult:
    """All ways on ``clip``, ``args.repeat`` times each, best kept."""
    device = resolve_device(args.device)
    options = JobOptions(
        factor=2,
        model=args.model,
        weights=args.weights,
        device=args.device,
        precision=args.precision,
        codec=settings.codec,
        crf=settings.crf,
        preset=settings.preset,
        scene_cut=args.scene_cut,
        batch=args.batch,
        scale=args.scale,
        encode_workers=args.encode_workers,
        cuda_graphs=args.cuda_graphs,
    )
    frames = decode_frames(clip)
    model = create_interpolator(args.model, args.weights, precision=args.precision, scale=args.scale,
                                cuda_graphs=args.cuda_graphs)
    model.load(device)
    model_only(frames[:2], model, device, 1)  # warm-up: first-call costs stay out of the timings
    best: dict[str, Run] = {}
    started: JobStarted | None = None
    for attempt in range(args.repeat):
        run, started = framedeck(clip, folder / f"framedeck_{attempt}.mp4", options)
        _keep_best(best, "framedeck", run)
        if not args.no_null_sink:
            run, _ = framedeck(clip, folder / f"null_{attempt}.mp4", options, sink=True)
            _keep_best(best, "null-sink", run)
        model.unload()  # fresh feature/flow caches for every timed loop
        model.load(device)
        _keep_best(best, "model-only", model_only(frames, model, device, started.batch))
        if not args.no_png:
            model.unload()
            model.load(device)
            pngs = folder / f"png_{attempt}"
            pngs.mkdir()
            cpu = time.process_time()
            times = png_round_trip(clip, folder / f"png_{attempt}.mp4", pngs, model, device, settings)
            parts = {"decode+png": times.decode, "pairs": times.pairs, "model": times.model, "encode": times.encode}
            cpu = time.process_time() - cpu
            _keep_best(best, "png", Run(times.pairs_done, times.frames_out, times.total, cpu, parts=parts))
    model.unload()
    assert started is not None
    height, width = frames[0].shape[:2]
    job = {
        "model": started.model, "device": started.device, "precision": started.precision,
        "batch": started.batch, "codec": started.codec,
    }  # fmt: skip
    return InputResult(clip.name, width, height, len(frames), best, job)


def encoder_label(settings: EncoderSettings) -> str:
    """The codec and the options framedeck passes it, e.g. 'libx264 crf 18 preset medium'."""
    options = encoder_options(settings.codec, settings, [])
    return " ".join([settings.codec, *(f"{k} {v}" for k, v in options.items())])


def markdown(results: list[InputResult], command: str, encoder: str) -> str:
    """The tables for BENCHMARKS.md."""
    lines = [
        f"{date.today().isoformat()}, {machine()}.",
        f"Command: `{command}`. Encoder: {encoder}.",
        "",
        "| input | frames | model | model-only pairs/s | framedeck fps (pairs/s) | null sink fps (pairs/s) "
        "| PNG round trip fps | end-to-end / model-only | null sink / model-only | framedeck / PNG | limited by* |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        runs, ratios = r.runs, r.ratios()
        null = runs.get("null-sink")
        png = runs.get("png")
        lines.append(
            f"| {r.name} {r.width}x{r.height} | {r.frames} | {r.job['model']} {r.job['precision']} "
            f"b{r.job['batch']} {r.job['device']} | {runs['model-only'].pairs_per_second:.2f} "
            f"| {runs['framedeck'].fps:.2f} ({runs['framedeck'].pairs_per_second:.2f}) "
            f"| {f'{null.fps:.2f} ({null.pairs_per_second:.2f})' if null else '-'} "
            f"| {f'{png.fps:.2f}' if png else '-'} | {ratios['end-to-end/model-only']:.2f} "
            f"| {ratios.get('null-sink/model-only', float('nan')):.2f} "
            f"| {ratios.get('framedeck/png', float('nan')):.2f} | {r.limiter() or '-'} |"
        )
    lines += ["", f"*below {SHORTFALL} x model-only (CPU-time ratios on the CPU, wall ratios on a GPU): "
              "encode when the null sink is >10% faster, and the busiest other stage when even the null sink is short.", ""]
    lines += ["CPU seconds per pair (process time, all threads) of the same best runs:", ""]
    lines += ["| input | " + " | ".join(WAYS) + " | end-to-end / model-only | null sink / model-only "
              "| framedeck / PNG |", "|---" * (len(WAYS) + 4) + "|"]
    for r in results:
        cells = " | ".join(f"{r.runs[w].cpu_per_pair:.3f}" if w in r.runs else "-" for w in WAYS)
        ratios = " | ".join(f"{r.cpu_ratios().get(k, float('nan')):.2f}" for k in
                            ("end-to-end/model-only", "null-sink/model-only", "framedeck/png"))
        lines.append(f"| {r.name} | {cells} | {ratios} |")
    lines += ["", "Stage seconds the job reported in its best runs (busy time per stage; wall = streaming seconds):", ""]
    lines += ["| input | run | wall | " + " | ".join(STAGES) + " | wait |", "|---" * (len(STAGES) + 4) + "|"]
    for r in results:
        for way in ("framedeck", "null-sink"):
            if way in r.runs:
                run = r.runs[way]
                cells = " | ".join(f"{run.stages.get(s, 0.0):.2f}" for s in (*STAGES, "wait"))
                lines.append(f"| {r.name} | {way} | {run.seconds:.2f} | {cells} |")
    if any("png" in r.runs for r in results):
        lines += ["", "PNG round trip parts (seconds of its best run):", ""]
        lines += ["| input | decode + PNG writes | pairs (PNG I/O + model) | of which model | encode | total |",
                  "|---|---|---|---|---|---|"]
        for r in results:
            if "png" in r.runs:
                p = r.runs["png"]
                lines.append(
                    f"| {r.name} | {p.parts['decode+png']:.2f} | {p.parts['pairs']:.2f} | {p.parts['model']:.2f} "
                    f"| {p.parts['encode']:.2f} | {p.seconds:.2f} |"
                )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, action="append", default=[], help="an input file (repeatable)")
    parser.add_argument("--frames", type=int, default=0, help="use only the first N frames of each --clip")
    parser.add_argument("--generate", action="append", default=[], metavar="WxH", help="a generated clip (repeatable)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of generated clips")
    parser.add_argument("--fps", type=int, default=24, help="frame rate of generated clips")
    parser.add_argument("--model", default="flow")
    parser.add_argument("--weights")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--scale", type=float)
    parser.add_argument("--batch", type=int, help="default: the job's own choice")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--codec", default="libx264")
    parser.add_argument("--preset")
    parser.add_argument("--crf", type=int)
    parser.add_argument("--scene-cut", type=float, default=None, help="default off: every pair interpolated")
    parser.add_argument("--encode-workers", type=int, help="parallel segment encoders (default: the job's)")
    parser.add_argument("--no-cuda-graphs", dest="cuda_graphs", action="store_false",
                        help="run RIFE 4.x eagerly on CUDA")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--torch-threads", type=int, help="torch.set_num_threads (default: torch's own)")
    parser.add_argument("--no-png", action="store_true", help="skip the PNG round trip")
    parser.add_argument("--no-null-sink", action="store_true", help="skip the null-sink run")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where generated and trimmed clips are kept")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    if not args.clip and not args.generate:
        args.generate, args.clip = ["1920x1080"], [CLIP_720P]
    return args


def inputs(args: argparse.Namespace) -> list[Path]:
    """The clips to measure, generated or trimmed into the cache as needed."""
    clips = [generated_clip(*parse_size(size), args.fps, args.seconds, args.cache) for size in args.generate]
    for clip in args.clip:
        if not clip.exists():
            raise SystemExit(f"input clip missing: {clip}")
        clips.append(trimmed_clip(clip, args.frames, args.cache) if args.frames else clip)
    return clips


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark, print the Markdown tables and return them with the raw results."""
    args = parse_args(argv)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    codec = resolve_codec(args.codec)
    settings = EncoderSettings(codec=codec, crf=args.crf, preset=args.preset)
    command = "python -m bench.throughput " + " ".join(argv if argv is not None else sys.argv[1:])
    results = []
    with tempfile.TemporaryDirectory(prefix="framedeck-bench-") as tmp:
        for n, clip in enumerate(inputs(args)):
            folder = Path(tmp) / str(n)
            folder.mkdir()
            results.append(measure(clip, args, settings, folder))
            print(f"measured {clip.name}", flush=True)
    table = markdown(results, command.strip(), encoder_label(settings))
    print(table)
    if args.json:
        raw = [{**asdict(r), "ratios": r.ratios(), "cpu_ratios": r.cpu_ratios(), "limiter": r.limiter()} for r in results]
        args.json.write_text(json.dumps({"command": command, "machine": machine(), "results": raw}, indent=1))
    return {"results": results, "markdown": table}


if __name__ == "__main__":
    main()
