"""The help screen: what each key does and what the panels show."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP_TEXT = """\
[b]Keys[/b]
  [b]q[/b] [b]ctrl+q[/b] [b]ctrl+c[/b]  quit (asks while the job or the watchdog is busy);
     in [b]framedeck attach[/b]: detach, the session goes on
  [b]a[/b]  abort the job (asks)
  [b]p[/b]  pause / resume between batches
  [b]d[/b]  dry-run on / off (turning it off asks)
  [b]s[/b]  stop the machine now, once the upload is verified (asks)
  [b]x[/b]  cancel the stop countdown
  [b]l[/b]  focus the log (arrows and page keys scroll it)
  [b]/[/b]  filter the log (lines containing a word; empty shows all)
  [b]v[/b]  preview: the latest made frame between its two neighbours
  [b]?[/b]  this help
  Queue (several clips):  [b]j[/b]/[b]k[/b] select a clip  [b]n[/b] skip the selected
  running clip, else the oldest (asks)  [b]r[/b] retry a failed clip
  [b][[/b] / [b]][/b] move a waiting clip up / down  [b]+[/b] add a file (asks for its path)
  Dimmed keys do not apply right now.

[b]Panels[/b]
  GPU   memory per GPU (bar and history), utilisation,
        temperature, power, clocks; this process's torch
        memory; host CPU and RAM, free disk where the output
        and its journal go (red when the job will not fit)
  Job   stage, progress, pairs/s, speed in output frames
        per second beside the output's rate, ETA (--:--
        until known; time paused is left out), the clock
        time the work is done and the machine stops, the
        cost (--price-per-hour), frames and bytes written,
        the output's check at the end, batch size,
        out-of-memory back-offs, stalls
  Log   the newest lines, checks on one line with short
        hashes; the whole log is in the file named under it
  Watchdog  upload, checks k/K, countdown, dry-run
  Queue every clip: state, frames, size, time; the whole
        queue's ETA and when the machine should stop
        (beside the job below 32 rows, else a row)

If the terminal goes away (SSH drop), the job and the
watchdog carry on and write to the log file. Come back
to them with [b]framedeck attach[/b] from a new login
([b]framedeck status[/b] prints where they stand).

escape, q or ? closes this help."""


class HelpScreen(ModalScreen[None]):
    """Static help; any of escape, q, ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Static(HELP_TEXT, id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
