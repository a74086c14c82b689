"""The GPU panel: per GPU memory bar with history, the rate of the job's worker on it (a job
over several devices), utilisation, temperature, power, clocks; torch memory; then the host's
health (CPU, RAM, free disk: tui/widgets/host_lines.py)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rich.console import Group
from rich.text import Text
from textual.message import Message
from textual.widgets import Static

from core.events import WorkerRates
from core.host_health import HostSample, HostSampler
from core.telemetry import NVML_UNAVAILABLE, GpuSample, GpuTelemetry, TorchMemory, cuda_index
from tui.widgets.bars import bar, human_bytes, sparkline
from tui.widgets.host_lines import host_lines

HISTORY = 120  # samples of memory history kept per GPU


class GpuSampled(Message):
    """A telemetry sample taken off the UI thread."""

    def __init__(
        self,
        gpus: Sequence[GpuSample],
        torch: TorchMemory | None,
        unavailable: str | None = None,
        host: HostSample | None = None,
    ) -> None:
        self.gpus = list(gpus)
        self.torch = torch
        self.unavailable = unavailable
        self.host = host
        super().__init__()


@dataclass
class GpuState:
    """The newest readings and each GPU's memory history."""

    unavailable: str | None = None
    gpus: list[GpuSample] = field(default_factory=list)
    torch: TorchMemory | None = None
    history: dict[int, deque[float]] = field(default_factory=dict)
    samples: int = 0
    host: HostSample | None = None
    rates: dict[int, float | None] = field(default_factory=dict)  # CUDA index -> its worker's pairs/s

    def apply(self, message: GpuSampled) -> None:
        self.samples += 1
        self.unavailable = message.unavailable
        self.gpus = message.gpus
        self.torch = message.torch
        self.host = message.host
        for gpu in message.gpus:
            if gpu.memory_used is not None and gpu.memory_total:
                share = gpu.memory_used / gpu.memory_total
                self.history.setdefault(gpu.index, deque(maxlen=HISTORY)).append(share)


def rates_by_gpu(workers: WorkerRates | None) -> dict[int, float | None]:
    """Each GPU's worker rate (pairs per second, None before its first pair) by CUDA index."""
    rates: dict[int, float | None] = {}
    for device, _pairs, rate in workers.workers if workers is not None else ():
        if (index := cuda_index(device)) is not None:  # a worker names cpu (None) or cuda:N
            rates[index] = rate
    return rates


def _optional(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


class GpuPanel(Static):
    """Renders a :class:`GpuState`; one line when there is no NVIDIA GPU."""

    BORDER_TITLE = "GPU"

    def __init__(self, state: GpuState, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.state = state

    def on_mount(self) -> None:
        self.show()

    def on_resize(self) -> None:
        self.show()

    def show(self) -> None:
        s = self.state
        width = max(20, self.content_region.width or 40)
        if s.unavailable:
            lines: list[Text] = [Text(s.unavailable, style="yellow")]
        elif not s.gpus:
            lines = [Text("sampling…", style="dim")]
        else:
            lines = []
            for gpu in s.gpus:
                lines.extend(self._gpu_lines(gpu, width))
        if s.torch is not None:
            lines.append(
                Text(f"torch alloc {human_bytes(s.torch.allocated)} resv {human_bytes(s.torch.reserved)}")
            )
        if s.host is not None:
            lines.extend(host_lines(s.host, width))
        self.update(Group(*lines))

    def _gpu_lines(self, gpu: GpuSample, width: int) -> list[Text]:
        known = gpu.memory_used is not None and bool(gpu.memory_total)
        share = gpu.memory_used / gpu.memory_total if known else None  # type: ignore[operator]
        figures = f" {human_bytes(gpu.memory_used)}/{human_bytes(gpu.memory_total)}"
        label = f"{gpu.index} "
        bar_width = max(4, (width - len(label) - len(figures)) // 2)
        spark_width = max(0, width - len(label) - len(figures) - bar_width - 1)
        line = Text(label, style="bold")
        line.append_text(bar(share, bar_width))
        line.append(figures)
        line.append(" ")
        line.append_text(sparkline(self.state.history.get(gpu.index, []), spark_width))
        power = _optional(gpu.power, "{:.0f}")
        util, temp = _optional(gpu.utilization, "{:.0f}%"), _optional(gpu.temperature, "{:.0f}°C")
        clock = f"{gpu.sm_clock} MHz" if gpu.sm_clock is not None else ""
        worker = ""
        if gpu.index in self.state.rates:  # a job over several devices has a worker on this GPU
            rate = self.state.rates[gpu.index]
            worker = f"  worker {_optional(rate, '{:.2f}')}/s"
        if width >= 48:
            figures = f"{worker}  util {util}  temp {temp}  power {power} W" + (f"  sm {clock}" if clock else "")
        else:  # 80 columns: the same figures, fewer words
            figures = f"{worker}  util {util} {temp} {power} W" + (f" {clock}" if clock else "")
        detail = Text(figures, no_wrap=True, overflow="ellipsis")
        memory_clock = f"  mem {gpu.memory_clock} MHz" if gpu.memory_clock is not None else ""
        name = Text(f"  {gpu.name}{memory_clock}", style="dim", no_wrap=True, overflow="ellipsis")
        return [line, detail, name] if width >= 48 else [line, detail]


def sampler_for(
    telemetry: GpuTelemetry,
    torch_reader: Callable[[], TorchMemory | None],
    host: HostSampler | None = None,
) -> Callable[[], GpuSampled]:
    """A function that takes one sample (called on a worker thread, about once a second);
    with ``host``, the host's health comes with it."""

    def sample() -> GpuSampled:
        torch = torch_reader()
        reading = host.sample() if host is not None else None
        if not telemetry.available:
            return GpuSampled([], torch, telemetry.unavailable_reason or NVML_UNAVAILABLE, reading)
        return GpuSampled(telemetry.sample(), torch, host=reading)

    return sample
