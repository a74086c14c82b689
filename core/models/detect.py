"""Which RIFE family a state dict holds, from its tensor names and shapes alone."""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn as nn

from core.errors import ModelError
from core.models.rife_425 import FiveBlockConfig, IFNet425
from core.models.rife_hdv3 import IFNetHDv3
from core.models.rife_v4 import IFNetV4, V4Config

# Tensors only training uses; official releases ship some of them.
TRAINING_ONLY = ("teacher.", "caltime.", "block_tea.", "contextnet.", "unet.")


@dataclass(frozen=True)
class Family:
    """A detected family: ``key`` for code ("rife-4.25"), ``label`` for people, and a builder."""

    key: str
    label: str
    config: object

    def build(self) -> nn.Module:
        if isinstance(self.config, FiveBlockConfig):
            return IFNet425(self.config)
        if isinstance(self.config, V4Config):
            return IFNetV4(self.config)
        return IFNetHDv3(self.config)  # type: ignore[arg-type]


def strip_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ``module.`` prefix of DataParallel checkpoints and training-only tensors."""
    out = {}
    for key, value in state.items():
        name = key[len("module.") :] if key.startswith("module.") else key
        if not name.startswith(TRAINING_ONLY):
            out[name] = value
    return out


def _blocks(state: dict[str, torch.Tensor]) -> int:
    n = 0
    while any(k.startswith(f"block{n}.") for k in state):
        n += 1
    return n


def _width(state: dict[str, torch.Tensor], block: int) -> int:
    return int(state[f"block{block}.conv0.1.0.weight"].shape[0])


def _found(state: dict[str, torch.Tensor]) -> str:
    names = ", ".join(sorted(state)[:3])
    return f"{len(state)} tensors ({names}{', ...' if len(state) > 3 else ''})"


def _sequential_layers(state: dict[str, torch.Tensor]) -> tuple[tuple[int, int] | None, ...]:
    idx = sorted({int(m.group(1)) for k in state if (m := re.match(r"encode\.(\d+)\.weight$", k))})
    layers: list[tuple[int, int] | None] = [None] * (idx[-1] + 1)
    for i in idx:
        w = state[f"encode.{i}.weight"]
        is_last = i == idx[-1]  # transposed conv: weight is (in, out, k, k)
        layers[i] = (int(w.shape[0]), int(w.shape[1])) if is_last else (int(w.shape[1]), int(w.shape[0]))
    return tuple(layers)


def detect_family(state: dict[str, torch.Tensor]) -> Family:
    """Family of a state dict already passed through :func:`strip_prefix`.

    Raises ModelError naming what was found when no supported family matches.
    """
    n = _blocks(state)
    try:
        if n == 3 and "block0.convblock0.0.0.weight" in state:
            widths = tuple(_width(state, i) for i in range(3))
            return Family("rife-hdv3", "RIFE v3.x HDv3", widths)
        if n >= 1 and "block0.convblock.0.beta" in state:
            out = int(state["block0.lastconv.0.weight"].shape[1]) // 4
            widths = tuple(_width(state, i) for i in range(n))
            if n == 5 and "encode.cnn0.weight" in state and out > 5:
                head = (int(state["encode.cnn0.weight"].shape[0]), int(state["encode.cnn3.weight"].shape[1]))
                label = "RIFE 4.25/4.26" if head == (16, 4) else "RIFE 4.22-4.24"
                return Family("rife-4.25", label, FiveBlockConfig(widths, head, out))
            if n == 4 and out == 6:
                if "encode.cnn0.weight" in state:
                    head = (int(state["encode.cnn0.weight"].shape[0]), int(state["encode.cnn3.weight"].shape[1]))
                    return Family("rife-v4", "RIFE 4.13-4.18", V4Config(widths, head[1], "head", head=head))
                if "encode.0.weight" in state:
                    layers = _sequential_layers(state)
                    feat = [spec for spec in layers if spec is not None][-1][1]
                    label = "RIFE 4.7-4.9" if len(layers) == 2 else "RIFE 4.10-4.12"
                    return Family("rife-v4", label, V4Config(widths, feat, "sequential", layers))
                if not any(k.startswith("encode.") for k in state):
                    return Family("rife-v4", "RIFE 4.6", V4Config(widths, 0, "none"))
    except (KeyError, IndexError, ValueError) as exc:
        raise ModelError(f"The weights look like RIFE but tensor {exc} is missing or malformed.") from None
    if "block0.conv0.0.0.weight" in state or any(k.startswith(("block0.", "ifnet.")) for k in state):
        raise ModelError(
            f"The weights hold a RIFE variant framedeck does not support: {n} blocks, {_found(state)}."
        )
    raise ModelError(f"The weights are not a RIFE flownet: found {_found(state)}.")
