"""Loading a user's TorchScript interpolation module, called as module(img0, img1, t)."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import torch

from core.errors import ModelError


def load_torchscript(spec: str | Path, device: torch.device) -> torch.jit.ScriptModule:
    """A TorchScript archive, loaded onto ``device`` in eval mode; ModelError otherwise.

    TorchScript archives hold TorchScript code and tensors, never arbitrary Python pickles.
    """
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ModelError(f"TorchScript module not found: {spec} is not a file.")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a TorchScript archive (a zip written by torch.jit.save).")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    if not any(n.endswith("constants.pkl") or "/code/" in n for n in names):
        raise ModelError(f"{path} is a plain weights file, not TorchScript; try --model rife.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location=device)
    except (RuntimeError, ValueError, OSError, zipfile.BadZipFile) as exc:
        kind = type(exc).__name__
        raise ModelError(f"{path} could not be loaded as TorchScript ({kind}).") from None
    return module.eval()


def module_int(module: torch.nn.Module, name: str, default: int) -> int:
    """An integer attribute the module declares (e.g. ``multiple``), or ``default``."""
    value = getattr(module, name, default)
    return int(value) if isinstance(value, (int, bool)) else default
