"""The host's health as lines for the GPU panel: CPU and RAM use, free disk, a warning when
the rest of the job will not fit on the output's volume."""

from __future__ import annotations

from rich.text import Text

from core.host_health import HostSample
from tui.widgets.bars import human_bytes, threshold_style


def host_lines(sample: HostSample, width: int) -> list[Text]:
    """Two or three lines at 80 columns; each cut with an ellipsis rather than wrapped."""
    line = Text("host ", style="bold")
    if sample.cpu_percent is not None:
        line.append(f"cpu {sample.cpu_percent:.0f}%", style=threshold_style(sample.cpu_percent / 100))
        if width >= 48:
            line.append(f" of {sample.cores} cores")
    else:
        line.append("cpu -")
    if sample.ram_used is not None and sample.ram_total:
        share = sample.ram_used / sample.ram_total
        line.append("  ram ")
        line.append(f"{human_bytes(sample.ram_used)}/{human_bytes(sample.ram_total)}", style=threshold_style(share))
    lines = [_cut(line)]
    for disk in sample.disks:
        share_used = 1 - disk.free / disk.total if disk.total else 0.0
        style = "bold red" if sample.disk_warning and disk is sample.disks[0] else threshold_style(share_used)
        text = Text(f"disk {disk.label} " if len(sample.disks) > 1 else "disk ", style="bold")
        text.append(f"{human_bytes(disk.free)} free", style=style)
        if width >= 48:
            text.append(f" of {human_bytes(disk.total)}  {disk.path}", style="dim")
        lines.append(_cut(text))
    if sample.disk_warning and width >= 60:
        lines.append(Text(f"⚠ {sample.disk_warning}", style="bold red"))
    elif sample.disk_warning and sample.needed_bytes is not None and sample.disks:
        short = f"⚠ will not fit: needs {human_bytes(sample.needed_bytes)} more"
        lines.append(_cut(Text(short, style="bold red")))
    return lines


def _cut(text: Text) -> Text:
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text
