"""The prompt behind ``/``: a word to filter the log panel by (empty shows everything)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class LogFilterScreen(ModalScreen[str | None]):
    """Dismisses with the text typed (Enter) or None (Escape: the filter stays as it was)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str = "") -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="log-filter-dialog"):
            yield Label("Show log lines containing (empty: all lines):")
            yield Input(value=self.current, id="log-filter-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
