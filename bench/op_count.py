"""Kernels and memory traffic of one RIFE forward, counted on the CPU.

    .venv/bin/python -m bench.op_count [--weights ../shared/models/rife-4.25] [--width 1920]
                                       [--height 1080] [--batch 4] [--precision fp16,fp32]

On a GPU, RIFE at 1080p is far from the card's compute limit: its time goes on kernel
launches and on full-resolution passes over memory. Both can be counted without a GPU.
A ``TorchDispatchMode`` sees every aten operator that ``RifeInterpolator.interpolate()``
runs for one batch of pairs (the path a video takes: upload excluded, padding, BGR swap,
precision casts, Head, blocks, warps, crop). An operator whose output shares storage with
an input (a view) launches no kernel and is not counted; the others are "kernels", and the
bytes of their outputs are the memory they write. Casts (``_to_copy``) are counted apart.
Op counts do not depend on the frame size; bytes do. Two rows per precision: the first batch
of a job (every frame new) and the steady state (one new frame per pair, see
:func:`count_forward`).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils._pytree import tree_leaves  # noqa: E402

from bench.paths import SHARED  # noqa: E402
from core.interpolators.rife import RifeInterpolator  # noqa: E402

DEFAULT_WEIGHTS = SHARED / "models" / "rife-4.25"


@dataclass
class OpTally:
    kernels: int = 0
    casts: int = 0
    bytes_written: int = 0
    by_op: Counter = field(default_factory=Counter)
    bytes_by_op: Counter = field(default_factory=Counter)


class CountKernels(TorchDispatchMode):
    """Counts the operators that write new memory, and the bytes they write."""

    def __init__(self) -> None:
        super().__init__()
        self.tally = OpTally()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        out = func(*args, **(kwargs or {}))
        inputs = {
            t.untyped_storage().data_ptr()
            for t in tree_leaves((args, kwargs))
            if isinstance(t, torch.Tensor) and t.numel()
        }
        written = [
            t for t in tree_leaves(out)
            if isinstance(t, torch.Tensor) and t.numel() and t.untyped_storage().data_ptr() not in inputs
        ]
        inplace = func._schema.name.endswith("_") or any(
            a.alias_info is not None and a.alias_info.is_write for a in func._schema.arguments
        )
        if func._schema.name.startswith(("aten::empty", "aten::new_empty")):
            return out  # an allocation, not a kernel
        if written or inplace:
            name = func.__name__.split(".")[0]
            self.tally.kernels += 1
            self.tally.casts += name == "_to_copy"
            self.tally.by_op[name] += 1
            targets = written or [
                t for t in tree_leaves(out) if isinstance(t, torch.Tensor)
            ]
            size = sum(t.numel() * t.element_size() for t in targets)
            self.tally.bytes_written += size
            self.tally.bytes_by_op[name] += size
        return out


def count_forward(
    model: RifeInterpolator, img0: torch.Tensor, img1: torch.Tensor, steady: bool = False
) -> OpTally:
    """The tally of one ``interpolate`` call after a warm-up call (grids cached).

    ``steady=False``: a first batch, every frame new and recognised by content.
    ``steady=True``: a batch in the middle of a job: the pairs are consecutive frames named
    by index as the job names them, and the first frame is kept from the batch before, so
    one new frame is prepared per pair.
    """
    b = img0.shape[0]
    t = torch.full((b,), 0.5)
    first = list(range(-b, 0)), list(range(-b + 1, 1))
    model.interpolate(img0, img1, t, keys=first if steady else None)
    if not steady:
        model.cache.clear()
    keys = (list(range(b)), list(range(1, b + 1))) if steady else None
    with CountKernels() as counter:
        model.interpolate(img0, img1, t, keys=keys)
    return counter.tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--precision", default="fp16,fp32")
    parser.add_argument("--top", type=int, default=8, help="operators to list by count")
    args = parser.parse_args()
    torch.manual_seed(0)
    shape = (args.batch, 3, args.height, args.width)
    img0, img1 = torch.rand(shape), torch.rand(shape)
    print(f"RIFE {Path(args.weights).name}, {args.width}x{args.height}, batch {args.batch}, "
          f"torch {torch.__version__}")
    print("| precision | batch | kernels / forward | of them casts | MiB written / pair | top operators (MiB / pair) |")
    print("|---|---|---|---|---|---|")
    for precision in args.precision.split(","):
        model = RifeInterpolator(args.weights, precision=precision, scale=1.0, channels_last=True)
        model.load(torch.device("cpu"))
        for steady in (False, True):
            tally = count_forward(model, img0, img1, steady)
            top = ", ".join(
                f"{name} {tally.by_op[name]} ({size / args.batch / 2**20:.0f})"
                for name, size in tally.bytes_by_op.most_common(args.top)
            )
            mib = tally.bytes_written / args.batch / 2**20
            which = "steady" if steady else "first"
            print(f"| {precision} | {which} | {tally.kernels} | {tally.casts} | {mib:.0f} | {top} |")
        model.unload()


if __name__ == "__main__":
    main()
