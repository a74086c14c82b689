"""What the 16-bit frame paths cost against the 8-bit one, on the CPU.

Usage: .venv/bin/python -m bench.colour_path [--frames 48] [--repeat 3] [--threads 1] [--job]

For 720p frames of Big Buck Bunny (8-bit yuv420p as decoded, and the same frames as 10-bit
yuv420p10le), each frame path makes the round trip a frame takes through a job without the
model: decode-side conversion, upload to a (CPU) tensor, the model's float RGB back to the
host, and the writer's conversion into the output's pixel format. Paths:

* ``swscale rgb24``: the 8-bit path framedeck used before (rgb24 both ways);
* ``swscale rgb48``: today's swscale path (16 bits per channel, accurate rounding);
* ``torch planes``: the planes converted by torch (what ``--colour device`` runs, on the CPU).

``--job`` also runs whole jobs (blend model, libx264 ultrafast, 2x) on a 720p ffv1 clip made
of those frames: with the 8-bit swscale path put in place for the run, then ``--colour cpu``
(swscale, rgb48) and ``--colour device`` (torch planes), and prints output frames per second.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import torch

import core.job
from bench.paths import SHARED
from core.frame_path import DeviceFramePath, RgbFramePath, choose_frame_path
from core.job import run_job
from core.options import JobOptions
from core.video.colour_tags import output_colour, read_source_colour
from core.video.output_file import EncoderSetup
from core.video.planes import planar_layout
from core.video.probe import VideoInfo, probe_video
from core.video.reader import DecodedFrame

CLIP = SHARED / "media" / "clips" / "bigbuckbunny_1280x720_25fps.mp4"


def source_frames(count: int, pix_fmt: str) -> list[av.VideoFrame]:
    frames = []
    with av.open(str(CLIP)) as container:
        for frame in container.decode(video=0):
            if pix_fmt != frame.format.name:
                frame = frame.reformat(format=pix_fmt)
            frame.colorspace, frame.color_range = 1, 1
            frames.append(frame)
            if len(frames) == count:
                break
    return frames


def round_trip(path: object, frames: list[av.VideoFrame], setup: EncoderSetup) -> float:
    """Seconds per frame for the whole round trip through ``path``."""
    device = torch.device("cpu")
    start = time.perf_counter()
    for i, frame in enumerate(frames):
        picture = path.decode_picture(frame)
        decoded = DecodedFrame(i, i, Fraction(i, 25), 1, picture, frame)
        tensor = path.to_tensor(decoded, device)
        (out,) = path.to_pictures(tensor[None])
        setup.to_frame(out)
    return (time.perf_counter() - start) / len(frames)


def make_clip(folder: Path, frames: list[av.VideoFrame], pix_fmt: str) -> Path:
    path = folder / f"clip_{pix_fmt}.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, pix_fmt
        stream.codec_context.colorspace, stream.codec_context.color_range = 1, 1
        for i, frame in enumerate(frames):
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--job", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the flow model's jobs run 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads {torch.get_num_threads()}, {args.frames} frames of 1280x720, median of {args.repeat}")
    for pix_fmt in ("yuv420p", "yuv420p10le"):
        frames = source_frames(args.frames, pix_fmt)
        source = read_source_colour(frames[0], None, "h264")
        colour = output_colour(source, pix_fmt, "libx264", 720)
        layout = planar_layout(pix_fmt)
        assert layout is not None
        setup = EncoderSetup("libx264", 1280, 720, pix_fmt, Fraction(1, 50), Fraction(50), {}, 0, colour)
        paths = {
            "swscale rgb24": RgbFramePath(source, deep=False),
            "swscale rgb48": RgbFramePath(source, deep=True),
            "torch planes": DeviceFramePath(
                source.spec(), layout, colour.spec(), layout, colour
            ),
        }
        for name, path in paths.items():
            seconds = statistics.median(round_trip(path, frames, setup) for _ in range(args.repeat))
            print(f"{pix_fmt:12s} {name:14s} {1 / seconds:7.1f} frames/s  ({seconds * 1000:.1f} ms/frame)")
    if args.job:
        with tempfile.TemporaryDirectory() as tmp:
            for pix_fmt in ("yuv420p", "yuv420p10le"):
                clip = make_clip(Path(tmp), source_frames(args.frames, pix_fmt), pix_fmt)
                info = probe_video(clip)
                for mode in ("rgb24", "cpu", "device"):
                    if mode == "rgb24":  # the 8-bit swscale path, put in place for the run
                        why = "swscale, rgb24 (the 8-bit path)"
                        core.job.choose_frame_path = _rgb24_path
                    else:
                        _, why = choose_frame_path(mode, torch.device("cpu"), info, pix_fmt)
                        core.job.choose_frame_path = choose_frame_path
                    times = []
                    for _ in range(args.repeat):
                        result = run_job(clip, Path(tmp) / "out.mp4", JobOptions(
                            model="blend", codec="libx264", preset="ultrafast",
                            colour="cpu" if mode == "rgb24" else mode, device="cpu"))
                        times.append(result.seconds)
                    core.job.choose_frame_path = choose_frame_path
                    seconds = statistics.median(times)
                    print(f"job {pix_fmt:12s} {mode:6s} {result.output_frames / seconds:6.1f} "
                          f"output frames/s ({why})")


def _rgb24_path(mode: str, device: torch.device, info: VideoInfo, out_pix_fmt: str | None, codec: str = ""):
    """What the job ran before: swscale to rgb24 and back (the source's matrix both ways)."""
    path, _ = choose_frame_path("cpu", device, info, out_pix_fmt)
    return RgbFramePath(path.source, deep=False), "colour conversion on the CPU (swscale, rgb24)"


if __name__ == "__main__":
    main()
