"""Text renderings shared by the panels: a bar, a sparkline, threshold colours."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from core.rate import format_eta

SPARK_CHARS = "▁▂▃▄▅▆▇█"
WARN_AT = 0.80  # memory share from which a bar turns yellow
ALERT_AT = 0.95  # ...and red


def threshold_style(fraction: float) -> str:
    """Green below WARN_AT, yellow below ALERT_AT, red above."""
    if fraction >= ALERT_AT:
        return "bold red"
    if fraction >= WARN_AT:
        return "yellow"
    return "green"


def bar(fraction: float | None, width: int, style: str | None = None) -> Text:
    """A filled bar of ``width`` cells; None draws an empty track."""
    width = max(1, width)
    if fraction is None:
        return Text("░" * width, style="dim")
    fraction = min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    text = Text("█" * filled, style=style or threshold_style(fraction))
    text.append("░" * (width - filled), style="dim")
    return text


def sparkline(values: Sequence[float], width: int, top: float = 1.0) -> Text:
    """The last ``width`` values scaled to ``top``, one cell each, right-aligned."""
    recent = list(values)[-width:] if width > 0 else []
    text = Text(" " * (width - len(recent)))
    for value in recent:
        share = min(1.0, max(0.0, value / top)) if top > 0 else 0.0
        text.append(SPARK_CHARS[round(share * (len(SPARK_CHARS) - 1))], style=threshold_style(share))
    return text


def human_bytes(n: float | None) -> str:
    """B, KiB, MiB or GiB with at most one decimal; '-' for unknown."""
    if n is None:
        return "-"
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    if n >= 2**20:
        return f"{n / 2**20:.0f} MiB"
    if n >= 2**10:
        return f"{n / 2**10:.1f} KiB"
    return f"{n:.0f} B"


def seconds_text(seconds: float | None) -> str:
    """Whole seconds (truncated, not rounded) as m:ss or h:mm:ss; '-' for unknown."""
    return format_eta(None if seconds is None else int(seconds), unknown="-")
