"""What turning off libx264's macroblock-tree rate control costs (the journal does, see
core/video/journal_writer.py): output bytes and PSNR at the same crf and preset.

    .venv/bin/python -m bench.x264_mbtree --frames 120
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction

import av
import numpy as np

from bench.inputs import CLIP_720P, SHARED_CLIPS


def encode(pictures: list[np.ndarray], rate: Fraction, options: dict[str, str]) -> tuple[int, float]:
    """Bytes and mean luma PSNR of ``pictures`` encoded with libx264 and ``options``."""
    height, width = pictures[0].shape[:2]
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base, ctx.framerate = 1 / rate, rate
    ctx.options = options
    ctx.open()
    sources = [av.VideoFrame.from_ndarray(p, format="rgb24").reformat(format="yuv420p") for p in pictures]
    packets = []
    for i, frame in enumerate(sources):
        frame.pts = i
        packets += ctx.encode(frame)
    packets += ctx.encode(None)
    size = sum(p.size for p in packets)
    decoder = av.CodecContext.create("h264", "r")
    decoded = [f for p in packets for f in decoder.decode(p)] + decoder.decode(None)
    psnrs = []
    for src, out in zip(sources, decoded, strict=True):
        a = src.to_ndarray()[:height].astype(np.float64)
        b = out.to_ndarray()[:height].astype(np.float64)
        mse = np.mean((a - b) ** 2)
        psnrs.append(99.0 if mse == 0 else 10 * np.log10(255**2 / mse))
    return size, float(np.mean(psnrs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--crf", default="18")
    parser.add_argument("--preset", default="medium")
    args = parser.parse_args(argv)
    print(f"`python -m bench.x264_mbtree {' '.join(sys.argv[1:])}`: first {args.frames} frames, "
          f"libx264 crf {args.crf} {args.preset}\n")
    print("| clip | mbtree on: bytes, PSNR-Y | mbtree off: bytes, PSNR-Y | bytes off/on |")
    print("|---|---|---|---|")
    for clip in (CLIP_720P, SHARED_CLIPS / "bikes_640x272_25fps.mp4"):
        with av.open(str(clip)) as c:
            stream = c.streams.video[0]
            rate = stream.average_rate or Fraction(25)
            pictures = []
            for frame in c.decode(stream):
                pictures.append(frame.to_ndarray(format="rgb24"))
                if len(pictures) == args.frames:
                    break
        base = {"crf": args.crf, "preset": args.preset}
        on = encode(pictures, rate, base)
        off = encode(pictures, rate, {**base, "x264-params": "mbtree=0"})
        print(f"| {clip.name} | {on[0]}, {on[1]:.2f} dB | {off[0]}, {off[1]:.2f} dB | {off[0] / on[0]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
