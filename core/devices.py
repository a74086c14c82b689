"""``--devices``: which devices one job or one queue is shared out over.

``all`` is every CUDA device torch sees (one worker on the CPU when there is none); a list
names them (``cuda:0,cuda:2``, or ``cpu,cpu`` for two CPU workers, for testing). Without
``--devices`` a job uses ``all`` when several GPUs are present and ``--device`` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

from core.errors import OptionError


def cuda_count() -> int:
    """How many CUDA devices torch sees (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def parse_devices(spec: str, count: Callable[[], int] = cuda_count) -> list[str]:
    """The devices ``spec`` names, in order, one worker each; OptionError in one sentence."""
    text = spec.strip()
    if text == "all":
        n = count()
        return [f"cuda:{i}" for i in range(n)] if n else ["cpu"]
    names = [part.strip() for part in text.split(",")]
    if not text or any(not name for name in names):
        raise OptionError(f"--devices must be all or a comma-separated list such as cuda:0,cuda:1, got {spec!r}.")
    devices = []
    for name in names:
        if name == "cpu":
            devices.append(name)
            continue
        if name == "cuda":
            name = "cuda:0"
        head, _, index = name.partition(":")
        if head != "cuda" or not index.isdigit():
            raise OptionError(f"--devices: {name!r} is not cpu, cuda or cuda:N.")
        n = count()
        if int(index) >= n:
            raise OptionError(f"--devices: {name} does not exist; this machine has {n} CUDA GPU(s).")
        devices.append(f"cuda:{int(index)}")
    cuda = [d for d in devices if d != "cpu"]
    if cuda and len(cuda) != len(devices):
        raise OptionError(f"--devices mixes the CPU and GPUs ({spec}); their outputs differ, so give GPUs only.")
    if len(set(cuda)) != len(cuda):
        raise OptionError(f"--devices names a GPU twice ({spec}); give each GPU once.")
    return devices


def default_devices(count: Callable[[], int] = cuda_count) -> list[str] | None:
    """``all`` when several GPUs are present, else None (one device, chosen by ``--device``)."""
    n = count()
    return [f"cuda:{i}" for i in range(n)] if n > 1 else None
