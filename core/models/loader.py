"""Reading RIFE weights: a flownet.pkl or train_log/ folder (or a cached catalog name).

Only ``torch.load(weights_only=True)`` touches user files: torch's restricted unpickler
reads both the zip format (memory-mapped) and the legacy pickle of the v3 releases, and
anything that needs arbitrary code to load is refused.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from core.errors import ModelError
from core.models.catalog import cached_file, find_entry
from core.models.detect import Family, detect_family, strip_prefix

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch's pre-1.6 serialisation magic number


@dataclass
class LoadedModel:
    family: Family
    net: nn.Module
    path: Path


def resolve_weights(spec: str | Path) -> Path:
    """The flownet file for a path, a folder holding flownet.pkl, or a cached catalog name."""
    path = Path(spec).expanduser()
    if not path.exists():
        entry = find_entry(str(spec))
        if entry is not None and cached_file(entry).is_file():
            return cached_file(entry)
        raise ModelError(f"Weights not found: {spec} does not exist.")
    if path.is_dir():
        for candidate in (path / "flownet.pkl", path / "train_log" / "flownet.pkl"):
            if candidate.is_file():
                return candidate
        raise ModelError(f"The folder {path} holds no flownet.pkl.")
    return path


def _looks_legacy(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(16)
    return head[:2] == b"\x80\x02" and head[2:4] == b"\x8a\n" and int.from_bytes(head[4:14], "little") == LEGACY_MAGIC


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a torch weights file; ModelError with one sentence for anything else."""
    try:
        is_zip = zipfile.is_zipfile(path)
        if is_zip:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
            if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
                raise ModelError(f"{path} is a TorchScript module; run it with --model torchscript.")
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        else:
            with path.open("rb") as fh:
                start = fh.read(4)
            if start.startswith(b"PK"):
                raise ModelError(f"{path} is a damaged or truncated zip-format torch file.")
            if not _looks_legacy(path):
                raise ModelError(f"{path} is not a PyTorch weights file.")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except ModelError:
        raise
    except pickle.UnpicklingError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "unknown content"
        raise ModelError(
            f"{path} needs code execution to load, which framedeck refuses ({reason[:120]})."
        ) from None
    except (EOFError, RuntimeError, OSError, ValueError, zipfile.BadZipFile) as exc:
        kind = type(exc).__name__
        raise ModelError(f"{path} is a damaged or truncated torch file ({kind}).") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise ModelError(f"{path} holds a {type(obj).__name__}, not a dictionary of tensors.")
    odd = [k for k, v in obj.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))]
    if odd:
        raise ModelError(f"{path} holds non-tensor entries such as {str(odd[0])[:60]!r}, not RIFE weights.")
    return obj


def load_rife(spec: str | Path) -> LoadedModel:
    """Read, detect and build a RIFE network on the CPU in float32, eval mode."""
    path = resolve_weights(spec)
    state = strip_prefix(read_state_dict(path))
    family = detect_family(state)
    net = family.build()
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        what = f"lacks {missing[0]}" if missing else f"has an unexpected tensor {extra[0]}"
        raise ModelError(f"{path} looks like {family.label} but {what}.")
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise ModelError(
                f"{path} looks like {family.label} but {name} has shape "
                f"{tuple(state[name].shape)} instead of {tuple(tensor.shape)}."
            )
    net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return LoadedModel(family, net.eval(), path)
