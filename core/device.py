"""Choosing the torch device and precision for a job."""

from __future__ import annotations

import torch

from core.errors import OptionError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` takes the first CUDA device when there is one, else the CPU."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise OptionError(f"--device {name} was asked for, but torch sees no CUDA GPU here.")
        index = 0
        if ":" in name:
            try:
                index = int(name.split(":", 1)[1])
            except ValueError:
                raise OptionError(f"--device {name!r} is not cpu, cuda or cuda:N.") from None
        count = torch.cuda.device_count()
        if not 0 <= index < count:
            raise OptionError(f"--device {name} does not exist; this machine has {count} CUDA GPU(s).")
        return torch.device("cuda", index)
    raise OptionError(f"--device {name!r} is not auto, cpu, cuda or cuda:N.")
