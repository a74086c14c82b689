"""Pictures in a terminal with half-block characters: each cell is "▀" with the upper pixel
as its foreground colour and the lower one as its background, so a cell shows two pixels."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text

HALF_BLOCK = "▀"


def fit(width: int, height: int, cols: int, rows: int) -> tuple[int, int]:
    """(cells across, pixel rows) for a ``width`` x ``height`` picture in ``cols`` x ``rows``
    cells, aspect kept (a cell is two square pixels high); pixel rows are even."""
    scale = min(cols / width, 2 * rows / height)
    across = max(1, min(cols, round(width * scale)))
    down = max(2, min(2 * rows, round(height * scale)))
    return across, down + (down % 2)


def downscale(rgb: np.ndarray, across: int, down: int) -> np.ndarray:
    """Area-average ``rgb`` (h, w, 3) to (down, across, 3) uint8 (pixels repeat when enlarging)."""
    h, w = rgb.shape[:2]
    ys = np.linspace(0, h, down + 1).astype(int)
    xs = np.linspace(0, w, across + 1).astype(int)
    ys_start, xs_start = np.minimum(ys[:-1], h - 1), np.minimum(xs[:-1], w - 1)
    rows = np.add.reduceat(rgb.astype(np.uint32), ys_start, axis=0)
    cells = np.add.reduceat(rows, xs_start, axis=1)
    counts = np.maximum(1, np.diff(ys))[:, None, None] * np.maximum(1, np.diff(xs))[None, :, None]
    return (cells / counts).round().clip(0, 255).astype(np.uint8)


def halfblock(rgb: np.ndarray, cols: int, rows: int) -> Text:
    """``rgb`` drawn in at most ``cols`` x ``rows`` cells."""
    across, down = fit(rgb.shape[1], rgb.shape[0], cols, rows)
    small = downscale(rgb, across, down)
    text = Text(no_wrap=True, overflow="crop")
    for y in range(0, down, 2):
        if y:
            text.append("\n")
        for x in range(across):
            top, bottom = small[y, x], small[y + 1, x]
            text.append(HALF_BLOCK, Style(color=_hex(top), bgcolor=_hex(bottom)))
    return text


def _hex(pixel: np.ndarray) -> str:
    return f"#{int(pixel[0]):02x}{int(pixel[1]):02x}{int(pixel[2]):02x}"
