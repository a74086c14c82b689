"""The seed's way, for comparison: every frame through PNG files on disk.

1. decode every input frame with PyAV and write it as a PNG (OpenCV, default compression);
2. for each consecutive pair read both PNGs back (``cv2.imread``), run the interpolator on
   that one pair at t = 0.5 and write the middle frame as a PNG;
3. read all PNGs in output order and encode them with PyAV using framedeck's own encoder
   options for the same codec, preset and crf (``core.video.formats.encoder_options``).

The last input frame is written twice, as framedeck's 2x schedule does for its tail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import torch

from core.interpolators.base import Interpolator
from core.video.formats import encoder_options
from core.video.writer import EncoderSettings


@dataclass(frozen=True)
class PngTimes:
    """Seconds per part of one PNG round trip, and what it produced."""

    decode: float  # decode + PNG writes
    pairs: float  # PNG reads, model, PNG writes
    model: float  # of ``pairs``: upload, interpolate, download
    encode: float  # PNG reads + encode + mux
    pairs_done: int
    frames_out: int

    @property
    def total(self) -> float:
        return self.decode + self.pairs + self.encode


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def decode_to_png(clip: Path, folder: Path) -> tuple[int, Fraction]:
    """Write every frame of ``clip`` as ``in_NNNNNN.png``; returns (frames, frame rate)."""
    count = 0
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate or stream.guessed_rate or 25)
        for frame in container.decode(stream):
            cv2.imwrite(str(folder / f"in_{count:06d}.png"), frame.to_ndarray(format="bgr24"))
            count += 1
    return count, rate


def interpolate_pngs(frames: int, folder: Path, model: Interpolator, device: torch.device) -> float:
    """Write ``mid_NNNNNN.png`` between each pair of input PNGs; returns the seconds in the model."""
    in_model = 0.0
    half = torch.tensor([0.5], device=device)
    for i in range(frames - 1):
        pair = [cv2.imread(str(folder / f"in_{k:06d}.png")) for k in (i, i + 1)]
        start = time.perf_counter()
        img0, img1 = (
            torch.from_numpy(cv2.cvtColor(p, cv2.COLOR_BGR2RGB)).to(device).permute(2, 0, 1).float().div_(255)[None]
            for p in pair
        )
        with torch.inference_mode():
            out = model.interpolate(img0, img1, half)
            out = out.clamp(0, 1).mul(255).round_().to(torch.uint8)[0].permute(1, 2, 0)
        _sync(device)
        rgb = out.cpu().numpy()
        in_model += time.perf_counter() - start
        cv2.imwrite(str(folder / f"mid_{i:06d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return in_model


def encode_pngs(frames: int, folder: Path, output: Path, rate: Fraction, settings: EncoderSettings) -> int:
    """Encode in_0, mid_0, in_1, ..., in_last, in_last at twice ``rate``; returns frames written."""
    names = [n for i in range(frames - 1) for n in (f"in_{i:06d}.png", f"mid_{i:06d}.png")]
    names += [f"in_{frames - 1:06d}.png"] * 2
    first = cv2.imread(str(folder / names[0]))
    height, width = first.shape[:2]
    options = encoder_options(settings.codec, settings, [])
    with av.open(str(output), "w") as container:
        stream = container.add_stream(settings.codec, rate=2 * rate, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, settings.pix_fmt or "yuv420p"
        stream.codec_context.thread_count = 0
        for pts, name in enumerate(names):
            bgr = cv2.imread(str(folder / name))
            frame = av.VideoFrame.from_ndarray(bgr, format="bgr24")
            frame.pts = pts
            frame.time_base = 1 / (2 * rate)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return len(names)


def png_round_trip(
    clip: Path, output: Path, folder: Path, model: Interpolator, device: torch.device, settings: EncoderSettings
) -> PngTimes:
    """Run the three parts with ``model`` already loaded on ``device``; ``folder`` must be empty."""
    start = time.perf_counter()
    frames, rate = decode_to_png(clip, folder)
    decoded = time.perf_counter()
    in_model = interpolate_pngs(frames, folder, model, device)
    paired = time.perf_counter()
    written = encode_pngs(frames, folder, output, rate, settings)
    encoded = time.perf_counter()
    return PngTimes(
        decode=decoded - start,
        pairs=paired - decoded,
        model=in_model,
        encode=encoded - paired,
        pairs_done=frames - 1,
        frames_out=written,
    )
