"""Middlebury-other loading and 8-bit metrics, shared by bench/quality.py and tests/test_flow.py.

Scoring follows ../shared/README.md: the prediction goes through the interpolator's public
``interpolate()`` as RGB float tensors in [0, 1], is rounded to uint8, and PSNR (peak 255) and
SSIM (scikit-image, ``channel_axis``, ``data_range=255``) are taken over all pixels and channels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from bench.paths import SHARED
from core.interpolators.base import Interpolator

DEFAULT_DIR = SHARED / "media" / "middlebury-other"

SEQUENCES = (
    "Beanbags", "Dimetrodon", "DogDance", "Grove2", "Grove3", "Hydrangea",
    "MiniCooper", "RubberWhale", "Urban2", "Urban3", "Venus", "Walking",
)  # fmt: skip

# Published mean PSNR (dB) on these files, from ../shared/README.md.
PUBLISHED_PSNR = {"average": 28.01, "AdaCoF": 35.72, "CDFI": 37.14, "FILM": 37.52}


@dataclass(frozen=True)
class Triplet:
    name: str
    frame0: np.ndarray  # (H, W, 3) uint8 RGB
    frame1: np.ndarray
    truth: np.ndarray


@dataclass(frozen=True)
class Score:
    name: str
    psnr: float
    ssim: float


def read_rgb(path: Path) -> np.ndarray:
    """An 8-bit RGB image as (H, W, 3) uint8; raises FileNotFoundError when unreadable."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read image {path} (see ../shared/README.md)")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def load_triplets(root: Path = DEFAULT_DIR, names: tuple[str, ...] = SEQUENCES) -> Iterator[Triplet]:
    """Yields frame10, frame11 and the true frame10i11 of each sequence, in order."""
    for name in names:
        yield Triplet(
            name,
            read_rgb(root / "input" / name / "frame10.png"),
            read_rgb(root / "input" / name / "frame11.png"),
            read_rgb(root / "gt" / name / "frame10i11.png"),
        )


def to_tensor(rgb: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1] on ``device``."""
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div(255.0).to(device)


def to_uint8(frame: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, 3, H, W) float in [0, 1] -> (H, W, 3) uint8, rounded as an encoder would."""
    if frame.dim() == 4:
        frame = frame[0]
    pixels = frame.detach().float().clamp(0, 1).mul_(255).round_().to(torch.uint8)
    return pixels.permute(1, 2, 0).cpu().numpy()


def psnr(pred: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB of two uint8 images, peak 255, over all pixels and channels."""
    mse = np.mean((pred.astype(np.float64) - truth.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def ssim(pred: np.ndarray, truth: np.ndarray) -> float:
    """scikit-image SSIM of two uint8 RGB images (channel_axis=2, data_range=255)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(pred, truth, channel_axis=2, data_range=255))


def middle_frame(model: Interpolator, triplet: Triplet, device: torch.device | str = "cpu") -> np.ndarray:
    """The model's frame at t=0.5 for one triplet, as uint8 RGB."""
    img0 = to_tensor(triplet.frame0, device)
    img1 = to_tensor(triplet.frame1, device)
    t = torch.full((1,), 0.5, device=device)
    with torch.inference_mode():
        return to_uint8(model.interpolate(img0, img1, t))


def evaluate(
    model: Interpolator,
    device: torch.device | str = "cpu",
    root: Path = DEFAULT_DIR,
    names: tuple[str, ...] = SEQUENCES,
    with_ssim: bool = True,
) -> list[Score]:
    """Scores an already loaded ``model`` on each sequence (SSIM is NaN when skipped)."""
    scores = []
    for triplet in load_triplets(root, names):
        pred = middle_frame(model, triplet, device)
        quality = ssim(pred, triplet.truth) if with_ssim else float("nan")
        scores.append(Score(triplet.name, psnr(pred, triplet.truth), quality))
    return scores


def mean_psnr(scores: list[Score]) -> float:
    return float(np.mean([s.psnr for s in scores]))
