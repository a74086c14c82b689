"""The header: job name, device, a dry-run badge that cannot be missed, the tmux warning."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

NO_MULTIPLEXER = "not in tmux/screen: an SSH drop ends this view"


def in_multiplexer(env: Mapping[str, str]) -> bool:
    """True inside tmux or GNU screen (by their environment variables or TERM)."""
    term = env.get("TERM", "")
    return bool(env.get("TMUX") or env.get("STY")) or term.startswith(("screen", "tmux"))


def dry_run_badge(dry_run: bool | None) -> Text:
    """Reverse-video badge: DRY RUN in yellow, LIVE STOP in red, nothing without a watchdog."""
    if dry_run is None:
        return Text("")
    if dry_run:
        return Text(" DRY RUN: will not stop the machine ", style="bold black on yellow")
    return Text(" LIVE: will stop the machine ", style="bold white on red")


class HeaderBar(Static):
    """One or two lines at the top of the console."""

    def __init__(self, job_name: str, device: str, env: Mapping[str, str], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.device = device
        self.dry_run: bool | None = None
        self.warn_multiplexer = not in_multiplexer(env)
        self.note = ""
        self.model = ""

    def on_mount(self) -> None:
        self.show()

    def set_device(self, device: str) -> None:
        self.device = device
        self.show()

    def set_model(self, model: str) -> None:
        self.model = model
        self.show()

    def set_dry_run(self, dry_run: bool | None) -> None:
        self.dry_run = dry_run
        self.show()

    def show(self) -> None:
        grid = Table.grid(expand=True)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        grid.add_column(justify="right", no_wrap=True)
        title = Text("framedeck ", style="bold")
        title.append(self.job_name, style="bold cyan")
        title.append(f"  on {self.device}")
        if self.model:
            title.append(f"  {self.model}", style="green")
        grid.add_row(title, dry_run_badge(self.dry_run))
        if not self.warn_multiplexer:
            self.update(grid)
            return
        warning = Text(f"⚠ {NO_MULTIPLEXER}", style="yellow", no_wrap=True, overflow="ellipsis")
        self.update(Group(grid, warning))
