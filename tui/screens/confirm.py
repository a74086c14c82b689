"""The console's one confirmation dialog, reused for every question it asks."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmScreen(ModalScreen[bool]):
    """Asks one question; dismisses with True (confirm) or False (cancel, escape, n)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes"),
        Binding("n,escape", "cancel", "No"),
    ]

    def __init__(self, question: str, confirm_label: str = "Yes", cancel_label: str = "No") -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm_label
        self.cancel_label = cancel_label

    def compose(self) -> ComposeResult:
        with Grid(id="confirm-dialog"):
            yield Label(self.question, id="confirm-question")
            yield Button(f"{self.confirm_label} (y)", variant="error", id="confirm-yes")
            yield Button(f"{self.cancel_label} (n)", variant="primary", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class ChoiceScreen(ModalScreen[str | None]):
    """Asks one question with several answers, each a (key, label, value); escape gives None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "choose('')", "Cancel")]

    def __init__(self, question: str, choices: list[tuple[str, str, str | None]]) -> None:
        super().__init__()
        self.question = question
        self.choices = choices
        for key, label, _ in choices:
            self._bindings.bind(key, f"choose('{key}')", label)

    def compose(self) -> ComposeResult:
        with Grid(id="choice-dialog"):
            yield Label(self.question, id="confirm-question")
            for key, label, _ in self.choices:
                yield Button(f"{label} ({key})", id=f"choice-{key}")

    def on_mount(self) -> None:
        self.query(Button).last().focus()  # the last answer is the harmless one

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_choose(str(event.button.id).removeprefix("choice-"))

    def action_choose(self, key: str) -> None:
        self.dismiss(next((value for k, _, value in self.choices if k == key), None))
