"""``rife`` and ``torchscript``: in-process learnt interpolators.

Both take the protocol's RGB frames in [0, 1], pad to the model's multiple and crop back.
RIFE was trained on BGR frames, so channels are swapped on the way in and out. On CUDA
the default is fp16 with channels-last tensors; on the CPU, fp32. In fp16 the RIFE 4.x
weights are converted once at load (no per-call autocast casts) while flow, warps and the
output blend stay float32; HDv3 and TorchScript modules run under fp16 autocast.
Batches of pairs (each with its own t) go through one forward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path

import torch

from core.errors import ModelError, OptionError
from core.interpolators.base import Interpolator, clamp_to_inputs, pad_to_multiple
from core.memory import empty_device_cache
from core.models.cuda_graphs import GraphedForward
from core.models.frame_rows import FrameRows
from core.models.layers import fold_gains
from core.models.loader import LoadedModel, load_rife
from core.models.rife_hdv3 import IFNetHDv3, interpolate_dyadic
from core.models.torchscript_model import load_torchscript, module_int
from core.models.warp import cached_grids, clear_grids

FULL_HD_PIXELS = 1920 * 1088


def choose_scale(height: int, width: int) -> float:
    """Flow scale when none is given: 1.0 up to 1080p, 0.5 above."""
    return 1.0 if height * width <= FULL_HD_PIXELS else 0.5


def use_fp16(precision: str, device: torch.device) -> bool:
    """auto means fp16 on CUDA and fp32 elsewhere."""
    if precision not in ("auto", "fp16", "fp32"):
        raise OptionError(f"--precision must be auto, fp16 or fp32, got {precision!r}.")
    return precision == "fp16" or (precision == "auto" and device.type == "cuda")


class _Base(Interpolator):
    """Shared precision, layout and padding handling."""

    name = "learnt"

    def __init__(
        self,
        weights: str | Path,
        precision: str = "auto",
        scale: float | None = None,
        channels_last: bool | None = None,
        **_: object,
    ) -> None:
        self.weights = weights
        self.precision = precision
        self.scale = scale
        self.channels_last = channels_last
        self.device = torch.device("cpu")
        self.fp16 = False

    def _setup(self, device: torch.device) -> None:
        self.device = torch.device(device)
        self.fp16 = use_fp16(self.precision, self.device)
        if self.channels_last is None:
            self.channels_last = self.device.type == "cuda"

    @contextlib.contextmanager
    def _running(self, autocast: bool = True) -> Iterator[None]:
        with torch.no_grad():
            if self.fp16 and autocast:
                with torch.autocast(device_type=self.device.type, dtype=torch.float16):
                    yield
            else:
                yield

    def _prepare(self, img: torch.Tensor, multiple: int, bgr: bool) -> torch.Tensor:
        x = img.to(self.device, torch.float32)
        if bgr:
            x = x.flip(1)
        x, _, _ = pad_to_multiple(x, multiple)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    @staticmethod
    def _finish(
        out: torch.Tensor, height: int, width: int, bgr: bool, img0: torch.Tensor, img1: torch.Tensor
    ) -> torch.Tensor:
        out = out[..., :height, :width].float()
        if bgr:
            out = out.flip(1)
        return clamp_to_inputs(out, img0, img1).contiguous()

    @property
    def precision_used(self) -> str:
        return "fp16" if self.fp16 else "fp32"


class RifeInterpolator(_Base):
    """RIFE 4.6-4.26 or v3.x HDv3 weights, family detected from the file.

    ``scale`` is the flow scale in use: the one asked for, else chosen from the first
    frame size (:func:`choose_scale`); :meth:`set_scale` changes it.
    """

    name = "rife"
    takes_frame_keys = True  # interpolate() accepts keys that identify the frames (the job's)

    def __init__(self, weights: str | Path, cuda_graphs: bool = True, **kwargs: object) -> None:
        super().__init__(weights, **kwargs)  # type: ignore[arg-type]
        self.model: LoadedModel | None = None
        self.cache = FrameRows()
        self.cuda_graphs = cuda_graphs
        self.graphed: GraphedForward | None = None  # set on CUDA for the 4.x families
        self.inputs: dict[tuple[int, ...], torch.Tensor] = {}  # graph input buffers by shape
        self.on_note: Callable[[str], None] | None = None  # the job logs notes through this

    @property
    def label(self) -> str:
        return self.model.family.label if self.model else "RIFE (not loaded)"

    def load(self, device: torch.device) -> None:
        self._setup(device)
        model = load_rife(self.weights)
        net = fold_gains(model.net).to(self.device)
        if self.fp16 and not isinstance(net, IFNetHDv3):
            net = net.half()
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        model.net = net
        self.model = model
        self.cache.clear()
        self.graphed = None
        if self.cuda_graphs and self.device.type == "cuda" and not isinstance(net, IFNetHDv3):
            self.graphed = GraphedForward(
                self._forward, on_note=self._note, keep_alive=cached_grids, adopt=(0,)
            )

    def _note(self, message: str) -> None:
        if self.on_note is not None:
            self.on_note(message)

    def _forward(self, src: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The 4.x network at the current scale on prepared rows (see run_blocks)."""
        assert self.model is not None and self.scale is not None
        return self.model.net.forward_rows(src, t, self.scale)

    def drop_graphs(self) -> None:
        """Free the memory captured CUDA graphs hold (the out-of-memory back-off calls this)."""
        if self.graphed is not None:
            self.graphed.drop()
        self.inputs.clear()

    def interpolate(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        t: torch.Tensor,
        keys: tuple[Sequence[Hashable], Sequence[Hashable]] | None = None,
    ) -> torch.Tensor:
        """The protocol's call; ``keys`` optionally name the frames of ``img0`` and ``img1``
        (equal keys, equal frames), so a frame shared by pairs is prepared and encoded once
        without comparing pixels."""
        if self.model is None:
            raise ModelError("The RIFE model is not loaded.")
        net = self.model.net
        h, w = img0.shape[-2:]
        if self.scale is None:
            self.scale = choose_scale(h, w)
        scale = self.scale
        multiple = net.multiple(scale)
        times = t.to(self.device, torch.float32).reshape(-1)
        if isinstance(net, IFNetHDv3):
            x0 = self._prepare(img0, multiple, bgr=True)
            x1 = self._prepare(img1, multiple, bgr=True)
            with self._running():
                out = interpolate_dyadic(net, x0, x1, [float(v) for v in times], scale)
            return self._finish(out, h, w, True, img0, img1)
        frames = [frame for pair in zip(img0, img1, strict=True) for frame in pair]
        names = [k for pair in zip(*keys, strict=True) for k in pair] if keys else None
        with self._running(autocast=False):
            rows = self.cache.rows(frames, names, lambda new: self._prepare_rows(net, new, multiple))
            first, second = rows[0::2], rows[1::2]
            spare = self._graph_batch(len(first), first[0].shape) - len(first)
            if spare:  # a short batch rides a captured graph, padded with its last pair
                first, second = first + first[-1:] * spare, second + second[-1:] * spare
                times = torch.cat((times, times[-1:].expand(spare)))
            src = self._stack(first + second)  # first frames, then second frames
            out = (self.graphed or self._forward)(src, times.view(-1, 1, 1, 1))
        return self._finish(out[: img0.shape[0]], h, w, True, img0, img1)  # copies a graph's buffer

    def _graph_batch(self, batch: int, row_shape: torch.Size) -> int:
        """The smallest batch of at least ``batch`` pairs with a captured graph for rows of this
        shape, else ``batch``. Padding a short last batch up to it costs a few pairs of work but
        no eager forward beside the graph's memory (which could run out at the end of a job)."""
        if self.graphed is None:
            return batch
        captured = [
            key[0][0][0] // 2
            for key in self.graphed.graphs
            if key[0][0][1:] == tuple(row_shape) and key[0][0][0] // 2 >= batch
        ]
        return min(captured, default=batch)

    def _stack(self, rows: list[torch.Tensor]) -> torch.Tensor:
        """The batch's rows in one tensor; with CUDA graphs, in the graph's own input buffer
        (one per shape, the same tensor every call), so the replay copies nothing."""
        if self.graphed is None:
            return torch.stack(rows)
        shape = (len(rows), *rows[0].shape)
        buffer = self.inputs.get(shape)
        if buffer is None:
            if len(self.inputs) >= self.graphed.max_graphs:
                self.inputs.pop(next(iter(self.inputs)))
            buffer = self.inputs[shape] = rows[0].new_empty(shape)
        return torch.stack(rows, out=buffer)

    def _prepare_rows(self, net: torch.nn.Module, frames: list[torch.Tensor], multiple: int) -> torch.Tensor:
        """Rows (n, 3+F, H', W') for RGB frames (3, h, w): BGR float32 pixels zero-padded to
        the multiple, then the encoder's features."""
        h, w = frames[0].shape[-2:]
        hp, wp = -(-h // multiple) * multiple, -(-w // multiple) * multiple
        rows = torch.empty(
            (len(frames), 3 + net.feature_channels, hp, wp), dtype=torch.float32, device=self.device
        )
        pixels = torch.stack(frames).to(self.device, torch.float32)
        for c in range(3):
            rows[:, c, :h, :w] = pixels[:, 2 - c]  # RIFE was trained on BGR
        rows[:, :3, h:] = 0
        rows[:, :3, :h, w:] = 0
        if net.feature_channels:
            rows[:, 3:] = net.features(rows[:, :3])
        return rows

    def set_scale(self, scale: float) -> None:
        """Run the flow at another scale from now on (the OOM back-off lowers it)."""
        self.scale = float(scale)
        self.cache.clear()  # the padding multiple follows the scale, so features change shape
        self.drop_graphs()

    def unload(self) -> None:
        self.drop_graphs()
        self.graphed = None
        self.model = None
        self.cache.clear()
        clear_grids(self.device)
        empty_device_cache(self.device)


class TorchScriptInterpolator(_Base):
    """Any TorchScript module called as ``module(img0, img1, t)``.

    Frames go in as the protocol's RGB (B, 3, H, W) in [0, 1] (BGR if the module has a true
    ``bgr`` attribute), padded to its ``multiple`` attribute (default 64); t is (B, 1, 1, 1).
    """

    name = "torchscript"

    def __init__(self, weights: str | Path, **kwargs: object) -> None:
        super().__init__(weights, **kwargs)  # type: ignore[arg-type]
        self.module: torch.jit.ScriptModule | None = None

    def load(self, device: torch.device) -> None:
        self._setup(device)
        self.module = load_torchscript(self.weights, self.device)

    def interpolate(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.module is None:
            raise ModelError("The TorchScript model is not loaded.")
        h, w = img0.shape[-2:]
        bgr = bool(module_int(self.module, "bgr", 0))
        multiple = max(1, module_int(self.module, "multiple", 64))
        x0 = self._prepare(img0, multiple, bgr)
        x1 = self._prepare(img1, multiple, bgr)
        times = t.to(self.device, torch.float32).view(-1, 1, 1, 1)
        try:
            with self._running():
                out = self.module(x0, x1, times)
        except RuntimeError as exc:
            first = (str(exc).strip().splitlines() or ["unknown error"])[0][:160]
            raise ModelError(f"The TorchScript model failed: {first}") from None
        if not isinstance(out, torch.Tensor) or out.shape != x0.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ModelError(f"The TorchScript model returned {got}, expected {tuple(x0.shape)}.")
        return self._finish(out, h, w, bgr, img0, img1)

    def unload(self) -> None:
        self.module = None
        empty_device_cache(self.device)


def make_rife(weights: str | None, **kwargs: object) -> RifeInterpolator:
    return RifeInterpolator(weights or "", **kwargs)


def make_torchscript(weights: str | None, **kwargs: object) -> TorchScriptInterpolator:
    return TorchScriptInterpolator(weights or "", **kwargs)
