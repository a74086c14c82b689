"""The log panel: a bounded, focusable log with coloured levels and the log file's path."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog

from core.events import LogRecord

LEVEL_STYLES = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red"}
LEVEL_TAGS = {"debug": "DBG", "info": "INF", "warning": "WRN", "error": "ERR"}
MAX_LINES = 500


def format_record(record: LogRecord) -> Text:
    """``HH:MM:SS LVL message``, the level coloured."""
    stamp = time.strftime("%H:%M:%S", time.localtime(record.time))
    style = LEVEL_STYLES.get(record.level, "")
    text = Text(f"{stamp} ", style="dim")
    text.append(LEVEL_TAGS.get(record.level, record.level[:3].upper()) + " ", style=style or "green")
    text.append(record.message, style=style)
    return text


class LogPanel(RichLog):
    """At most MAX_LINES records; the border shows where the full log is written."""

    BORDER_TITLE = "Log"

    def __init__(self, log_path: str, **kwargs: object) -> None:
        super().__init__(max_lines=MAX_LINES, min_width=20, wrap=True, **kwargs)
        self.log_path = log_path
        self.border_subtitle = log_path

    def add(self, record: LogRecord) -> None:
        self.write(format_record(record))
