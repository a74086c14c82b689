"""The Queue panel: every clip of the session with its state, frames, size and time, the
whole queue's ETA and the wall-clock time the machine is expected to stop.

It draws a list of :class:`session.clips.Clip` snapshots and a selection (the clip the
retry and move keys act on); the app gives it the snapshots and the estimates.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from core.rate import format_eta
from session.clips import Clip, ClipState
from tui.widgets.bars import seconds_text

STYLES = {
    ClipState.WAITING: "dim",
    ClipState.RUNNING: "bold cyan",
    ClipState.FINISHING: "cyan",
    ClipState.UPLOADING: "yellow",
    ClipState.VERIFIED: "green",
    ClipState.DONE: "green",
    ClipState.SKIPPED: "dim",
    ClipState.FAILED: "bold red",
}


def short_size(size: int | None) -> str:
    """At most five cells: 980B, 124K, 1.2M, 35M, 2.4G."""
    if size is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return f"{size}B"


def state_text(clip: Clip) -> str:
    if clip.state is ClipState.RUNNING:
        return f"running {clip.percent}%"
    return clip.state.value


class QueuePanel(Static):
    """Renders the queue; ``rows`` clips at most, scrolled to keep the selection in view."""

    BORDER_TITLE = "Queue"

    def __init__(self, max_rows: int | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.max_rows = max_rows  # None: as many as the panel's height has room for
        self.clips: list[Clip] = []
        self.selected = 0
        self.queue_eta: float | None = None
        self.stop_at: float | None = None  # wall-clock time, seconds since the epoch

    def show(self, clips: Sequence[Clip], queue_eta: float | None, stop_at: float | None) -> None:
        self.clips = list(clips)
        self.queue_eta, self.stop_at = queue_eta, stop_at
        self.selected = min(self.selected, max(0, len(self.clips) - 1))
        self.redraw()

    def select(self, delta: int) -> None:
        if self.clips:
            self.selected = max(0, min(len(self.clips) - 1, self.selected + delta))
            self.redraw()

    def select_id(self, clip_id: int) -> None:
        for i, clip in enumerate(self.clips):
            if clip.id == clip_id:
                self.selected = i
        self.redraw()

    @property
    def selected_clip(self) -> Clip | None:
        return self.clips[self.selected] if self.clips else None

    def redraw(self) -> None:
        done = sum(c.state in (ClipState.DONE, ClipState.VERIFIED, ClipState.UPLOADING) for c in self.clips)
        subtitle = f"{done}/{len(self.clips)} done · queue ETA {format_eta(self.queue_eta)}"
        running = sum(c.state in (ClipState.RUNNING, ClipState.FINISHING) for c in self.clips)
        if running > 1:  # several clips at once (--devices)
            subtitle = f"{running} running · {subtitle}"
        if self.stop_at is not None:
            subtitle += f" · stop ~{time.strftime('%H:%M', time.localtime(self.stop_at))}"
        self.border_subtitle = subtitle
        rows = self.max_rows or max(1, (self.content_region.height or 6) - 1)
        first = max(0, min(self.selected - rows // 2, len(self.clips) - rows))
        table = Table(expand=True, box=None, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False, header_style="bold")
        table.add_column("clip", ratio=1, no_wrap=True, overflow="ellipsis", min_width=8)
        table.add_column("state", no_wrap=True, min_width=11)
        table.add_column("frm", justify="right", no_wrap=True)
        table.add_column("size", justify="right", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        for i, clip in enumerate(self.clips[first : first + rows], start=first):
            marker = "›" if i == self.selected else " "
            name = Text(f"{marker}{clip.input.name}", style="reverse" if i == self.selected else "")
            table.add_row(
                name,
                Text(state_text(clip), style=STYLES[clip.state]),
                str(clip.frames) if clip.frames else "-",
                short_size(clip.size),
                seconds_text(clip.seconds) if clip.seconds else "-",
            )
        self.update(table)

    def on_resize(self) -> None:
        self.redraw()
