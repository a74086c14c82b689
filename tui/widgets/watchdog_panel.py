"""The watchdog panel: state, target, upload, verification k/K, countdown, dry-run."""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui.watchdog_link import WatchdogView
from tui.widgets.bars import bar, human_bytes

STATE_STYLES = {"failed": "bold red", "stopped": "bold green", "verified": "green", "cancelled": "yellow"}


class WatchdogPanel(Static):
    """Renders a :class:`WatchdogView`; says so when no watchdog was asked for."""

    BORDER_TITLE = "Watchdog"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.view: WatchdogView | None = None

    def on_mount(self) -> None:
        self.render_view()

    def on_resize(self) -> None:
        self.render_view()

    def show_view(self, view: WatchdogView) -> None:
        self.view = view
        self.render_view()

    def render_view(self) -> None:
        v = self.view
        if v is None:
            self.update(Text("no upload or stop requested\n(--upload TARGET to add one)", style="dim"))
            return
        width = max(10, self.content_region.width or 30)
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
        table.add_row("state", Text(v.state, style=STATE_STYLES.get(v.state, "bold")))
        table.add_row("target", v.target)
        if v.upload_total:
            share = (v.uploaded or 0) / v.upload_total
            up = bar(share, max(4, width - 26), style="cyan")
            up.append(f" {human_bytes(v.uploaded)}/{human_bytes(v.upload_total)}")
            table.add_row("upload", up)
        else:
            table.add_row("upload", "-")
        check = Text(f"{v.verified}/{v.required}")
        if v.last_check:
            check.append(f"  {v.last_check}", style="green" if v.last_check_ok else "red")
        table.add_row("checks", check)
        if v.countdown is not None:
            table.add_row("stop in", Text(f"{countdown_text(v.countdown)} (x cancels)", style="bold yellow"))
        elif v.awaiting_confirm:
            table.add_row("stop", Text("press s to stop", style="yellow"))
        else:
            table.add_row("stop in", "-")
        if v.dry_run:
            dry = Text("on (sentinel only)" if v.live_allowed else "on (locked)", style="yellow")
        else:
            dry = Text("OFF: live stop", style="bold red")
        table.add_row("dry run", dry)
        if v.sentinel:
            table.add_row("sentinel", v.sentinel)
        if v.message and v.countdown is None:  # during the countdown the note only repeats it
            note = Text("note ", style="bold")
            note.append(v.message, style="dim")
            self.update(Group(table, note))  # the note wraps: it is shown whole
            return
        self.update(table)


def countdown_text(seconds: float) -> str:
    """Whole seconds left, rounded up as the watchdog's own messages count them."""
    return f"{math.ceil(seconds)} s"
