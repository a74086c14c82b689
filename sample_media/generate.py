"""The project's own test clip: textured shapes moving at known constant speeds.

``render_frame(t)`` draws the scene at any time ``t`` in seconds, so the true frame between
two frames is ``render_frame((t0 + t1) / 2)``. Motion is defined in a 640x360 reference
frame and scaled to the requested size. Edges are anti-aliased from signed distances and
textures are sampled bilinearly (from pre-blurred copies when the output is small), so a
sub-pixel move changes the picture continuously.

``python sample_media/generate.py`` rewrites ``sample_media/sample.mp4``.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np

REF_WIDTH, REF_HEIGHT = 640, 360
SUPERSAMPLE = 2
SAMPLE_PATH = Path(__file__).resolve().parent / "sample.mp4"
SAMPLE_WIDTH, SAMPLE_HEIGHT, SAMPLE_FPS, SAMPLE_SECONDS = 640, 360, 24, 4.0

AUDIO_RATE = 48_000
TONE_HZ = 220.0
BEEP_HZ = 1000.0
BEEP_SECONDS = 0.1
BEEP_PERIOD = 1.0  # a beep starts at 0.5 s and then every second
BEEP_TIMES = (0.5, 1.5, 2.5, 3.5)  # the beeps of the 4 s sample clip


@dataclass(frozen=True)
class Shape:
    """A textured shape moving at constant velocity and spin (reference pixels, seconds)."""

    kind: str  # "disc" | "square" | "triangle"
    center: tuple[float, float]  # at t = 0
    velocity: tuple[float, float]  # pixels per second
    size: float  # radius, half side or circumradius
    angle: float  # radians at t = 0
    spin: float  # radians per second
    texture: str  # "checker" | "noise" | "stripes"

    def state(self, t: float) -> tuple[float, float, float]:
        """Center x, y and angle at time t; a shape leaving one side re-enters the other."""
        margin = 2 * self.size
        x = (self.center[0] + self.velocity[0] * t + margin) % (REF_WIDTH + 2 * margin) - margin
        y = (self.center[1] + self.velocity[1] * t + margin) % (REF_HEIGHT + 2 * margin) - margin
        return x, y, self.angle + self.spin * t


SCENES: dict[int, tuple[Shape, ...]] = {
    0: (
        Shape("disc", (90.0, 80.0), (100.0, 12.0), 44.0, 0.0, 0.8, "checker"),
        Shape("square", (560.0, 290.0), (-72.0, 0.0), 38.0, 0.3, math.pi / 4, "noise"),
        Shape("triangle", (110.0, 250.0), (60.0, -16.0), 52.0, 0.0, -0.5, "stripes"),
    ),
    1: (
        Shape("square", (150.0, 250.0), (50.0, -30.0), 50.0, 0.0, -0.6, "checker"),
        Shape("disc", (480.0, 200.0), (-80.0, 10.0), 60.0, 1.0, 1.2, "stripes"),
    ),
}
BACKGROUND_VELOCITY = {0: (-20.0, 8.0), 1: (30.0, 0.0)}  # reference pixels per second


def _smooth_noise(size: int, seed: int, lo: float, hi: float) -> np.ndarray:
    """Tileable (size, size) float noise with features of roughly 4 to 32 pixels."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fft2(rng.standard_normal((size, size)))
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size)))
    band = np.where((f > 1 / 48) & (f < 1 / 3), 1.0 / np.maximum(f, 1e-6), 0.0)
    noise = np.real(np.fft.ifft2(spectrum * band))
    noise = (noise - noise.mean()) / noise.std()
    return (lo + (hi - lo) * (0.5 + 0.18 * noise)).clip(0, 255).astype(np.float32)


@lru_cache(maxsize=8)
def _texture(name: str, level: int) -> np.ndarray:
    """A tileable float32 RGB texture, blurred and halved ``level`` times (a mip level)."""
    size = 256
    if name.startswith("background"):
        scene = int(name[-1])
        size = 512
        palette = [(60, 200), (90, 170), (40, 150)] if scene == 0 else [(30, 120), (80, 220), (120, 240)]
        tex = np.dstack([_smooth_noise(size, 10 * scene + c, *palette[c]) for c in range(3)])
    else:
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
        grain = _smooth_noise(size, {"checker": 1, "noise": 2, "stripes": 3}[name], 0, 255) / 255
        if name == "checker":
            square = np.tanh(4 * np.sin(xx * np.pi / 16) * np.sin(yy * np.pi / 16))
            base = 0.5 + 0.4 * square
            colour = (230, 60, 40)
        elif name == "stripes":
            base = 0.5 + 0.4 * np.sin(xx * 2 * np.pi / 12 + 3 * grain)
            colour = (40, 90, 230)
        else:
            base = grain
            colour = (240, 220, 60)
        tex = np.dstack([(0.35 + 0.65 * base) * c * (0.7 + 0.6 * grain) for c in colour])
        tex = tex.clip(0, 255).astype(np.float32)
    for _ in range(level):
        tex = _halve(tex)
    return tex


def _halve(tex: np.ndarray) -> np.ndarray:
    """Blur (wrapping at the borders) and halve a tileable texture."""
    padded = np.concatenate([tex[-2:], tex, tex[:2]], axis=0)
    padded = np.concatenate([padded[:, -2:], padded, padded[:, :2]], axis=1)
    blurred = cv2.GaussianBlur(padded, (5, 5), 1.0)[2:-2, 2:-2]
    return np.ascontiguousarray(blurred[::2, ::2])


def _sample(tex: np.ndarray, u: np.ndarray, v: np.ndarray, level: int) -> np.ndarray:
    """Bilinear lookup of texture coordinates given in level-0 texels, wrapping around."""
    size = tex.shape[0]
    scale = 0.5**level
    mx = np.mod(u * scale - 0.5, size).astype(np.float32)
    my = np.mod(v * scale - 0.5, size).astype(np.float32)
    return cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def _signed_distance(shape: Shape, lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    """Signed distance (reference pixels, negative inside) in the shape's own frame."""
    if shape.kind == "disc":
        return np.hypot(lx, ly) - shape.size
    if shape.kind == "square":
        qx, qy = np.abs(lx) - shape.size, np.abs(ly) - shape.size
        outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
        return outside + np.minimum(np.maximum(qx, qy), 0)
    inradius = shape.size / 2  # equilateral triangle: three half-planes
    d = None
    for k in range(3):
        a = math.pi / 2 + k * 2 * math.pi / 3
        e = -(lx * math.cos(a) + ly * math.sin(a)) - inradius
        d = e if d is None else np.maximum(d, e)
    return d


def render_frame(t: float, width: int = REF_WIDTH, height: int = REF_HEIGHT, scene: int = 0) -> np.ndarray:
    """The scene at time ``t`` seconds as an (height, width, 3) uint8 RGB array."""
    s = SUPERSAMPLE
    big_w, big_h = width * s, height * s
    sx, sy = big_w / REF_WIDTH, big_h / REF_HEIGHT  # supersampled pixels per reference pixel
    level = max(0, math.floor(math.log2(max(1.0, 1.0 / min(sx, sy)))))
    xs = (np.arange(big_w, dtype=np.float32) + 0.5) / sx
    ys = (np.arange(big_h, dtype=np.float32) + 0.5) / sy
    gx, gy = np.meshgrid(xs, ys)
    bvx, bvy = BACKGROUND_VELOCITY[scene]
    image = _sample(_texture(f"background{scene}", level), gx - bvx * t, gy - bvy * t, level)
    for shape in SCENES[scene]:
        cx, cy, angle = shape.state(t)
        reach = shape.size * 1.5 + 2
        x0, x1 = max(0, int((cx - reach) * sx)), min(big_w, int((cx + reach) * sx) + 1)
        y0, y1 = max(0, int((cy - reach) * sy)), min(big_h, int((cy + reach) * sy) + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        dx, dy = gx[y0:y1, x0:x1] - cx, gy[y0:y1, x0:x1] - cy
        c, si = math.cos(angle), math.sin(angle)
        lx, ly = c * dx + si * dy, -si * dx + c * dy
        pixel = 1.0 / min(sx, sy)  # one supersampled pixel in reference units
        alpha = np.clip(0.5 - _signed_distance(shape, lx, ly) / pixel, 0, 1)[..., None]
        colour = _sample(_texture(shape.texture, level), lx + 128, ly + 128, level)
        region = image[y0:y1, x0:x1]
        image[y0:y1, x0:x1] = region + alpha * (colour - region)
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return np.clip(small + 0.5, 0, 255).astype(np.uint8)


def beep_times(seconds: float) -> list[float]:
    """Start times of the beeps in a clip of ``seconds``."""
    return [k * BEEP_PERIOD + 0.5 for k in range(int(seconds)) if k * BEEP_PERIOD + 0.5 + BEEP_SECONDS <= seconds]


def render_audio(seconds: float, rate: int = AUDIO_RATE) -> np.ndarray:
    """Mono float32 samples: a quiet tone with a louder beep at each of ``beep_times``."""
    n = round(seconds * rate)
    t = np.arange(n, dtype=np.float64) / rate
    audio = 0.1 * np.sin(2 * np.pi * TONE_HZ * t)
    for start in beep_times(seconds):
        on = (t >= start) & (t < start + BEEP_SECONDS)
        audio[on] += 0.5 * np.sin(2 * np.pi * BEEP_HZ * (t[on] - start))
    return audio.astype(np.float32)


def write_clip(
    path: str | os.PathLike[str],
    width: int = SAMPLE_WIDTH,
    height: int = SAMPLE_HEIGHT,
    fps: int | Fraction = SAMPLE_FPS,
    seconds: float = SAMPLE_SECONDS,
    audio: bool = True,
    codec: str = "libx264",
    crf: int = 18,
    pix_fmt: str | None = None,
    cut_at: float | None = None,
) -> Path:
    """Encode the scene to ``path`` (written under a temporary name, then renamed).

    From ``cut_at`` seconds on, the clip shows scene 1 (other shapes, other background):
    a hard cut. ``pix_fmt`` defaults to yuv420p, or bgr0 (lossless RGB) for ffv1.
    """
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    frames = round(seconds * rate)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        with av.open(str(tmp), "w") as container:
            video = container.add_stream(codec, rate=rate)
            video.width, video.height = width, height
            video.pix_fmt = pix_fmt or ("bgr0" if codec == "ffv1" else "yuv420p")
            if codec in ("libx264", "libx265"):
                video.options = {"crf": str(crf), "preset": "medium"}
            sound = None
            samples = np.zeros(0, np.float32)
            if audio:
                sound = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
                samples = render_audio(frames / rate)
            sent = 0
            for i in range(frames):
                t = float(i / rate)
                scene = 1 if cut_at is not None and t >= cut_at else 0
                frame = av.VideoFrame.from_ndarray(render_frame(t, width, height, scene), format="rgb24")
                frame.pts = i
                frame.time_base = 1 / rate
                container.mux(video.encode(frame))
                if sound is not None:
                    sent = _send_audio(container, sound, samples, sent, int((i + 1) / rate * AUDIO_RATE))
            container.mux(video.encode(None))
            if sound is not None:
                _send_audio(container, sound, samples, sent, len(samples))
                container.mux(sound.encode(None))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _send_audio(container: av.container.OutputContainer, stream: av.AudioStream,
                samples: np.ndarray, start: int, stop: int) -> int:
    """Encode samples[start:stop] in 1024-sample frames (the AAC frame size); returns the new start."""
    stop = min(stop, len(samples))
    while start < stop and (stop - start >= 1024 or stop == len(samples)):
        chunk = samples[start:start + 1024]
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = Fraction(1, AUDIO_RATE)
        container.mux(stream.encode(frame))
        start += len(chunk)
    return start


def main(argv: list[str] | None = None) -> int:
    """Rewrite sample_media/sample.mp4 (or the path given as the only argument)."""
    args = sys.argv[1:] if argv is None else argv
    out = write_clip(args[0] if args else SAMPLE_PATH)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
