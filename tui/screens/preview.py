"""The preview: the latest interpolated frame between its two neighbours, drawn with
half-block characters (tui/widgets/halfblock.py) from the job's FrameTap (core/preview.py)."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from core.preview import FrameTap
from tui.widgets.halfblock import halfblock

REFRESH = 1.0  # seconds between looks at the tap


class PreviewScreen(ModalScreen[None]):
    """Three pictures side by side with their captions; escape, q or v closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,v", "close", "Close")]

    def __init__(self, tap: FrameTap | None) -> None:
        super().__init__()
        self.tap = tap
        self.shown: int | None = None  # the tap's count of copies when last drawn

    def compose(self) -> ComposeResult:
        with Vertical(id="preview-dialog"):
            yield Static(id="preview-frames")
            yield Static(Text("escape, q or v closes the preview", style="dim"), id="preview-hint")

    def on_mount(self) -> None:
        self.query_one("#preview-dialog").border_title = "Preview"
        self.draw()
        self.set_interval(REFRESH, self.draw)

    def on_resize(self) -> None:
        self.shown = None
        self.draw()

    def draw(self) -> None:
        frames = self.tap.latest() if self.tap is not None else None
        target = self.query_one("#preview-frames", Static)
        if frames is None:
            every = f"{self.tap.every:g} s" if self.tap is not None else "a few seconds"
            target.update(Text(f"No frame yet: one is taken every {every} once frames are being made.",
                               style="dim"))
            return
        if self.shown == self.tap.taken:  # type: ignore[union-attr]
            return
        self.shown = self.tap.taken  # type: ignore[union-attr]
        width = max(9, (target.content_region.width or self.size.width - 4))
        height = max(4, (self.size.height or 24) - 8)
        cols = max(3, (width - 2) // 3)
        grid = Table.grid(padding=(0, 1))
        for _ in range(3):
            grid.add_column(no_wrap=True, width=cols)
        grid.add_row(*(halfblock(rgb, cols, height) for rgb in (frames.before, frames.made, frames.after)))
        grid.add_row(Text(f"frame {frames.pair}", style="dim"), Text("made", style="bold"),
                     Text(f"frame {frames.pair + 1}", style="dim"))
        target.update(Group(grid))

    def action_close(self) -> None:
        self.dismiss(None)
