"""The log panel: a bounded, focusable log with coloured levels and the log file's path.

It shows what the log file says, shortened for a narrow screen: a verification check is
one line with short hashes (the full record stays in the file); everything else wraps
whole. ``/`` (see :class:`tui.screens.log_filter.LogFilterScreen`) filters what it shows.
"""

from __future__ import annotations

import re
import time
from collections import deque

from rich.text import Text
from textual.widgets import RichLog

from core.events import LogRecord

LEVEL_STYLES = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red"}
LEVEL_TAGS = {"debug": "DBG", "info": "INF", "warning": "WRN", "error": "ERR"}
MAX_LINES = 500
LONG_HEX = re.compile(r"\b[0-9a-f]{16,}\b")  # SHA-1 and similar digests
CHECK_LINE = re.compile(r"^check (passed|failed) ")
HASH_CHARS = 8


def short_hashes(message: str) -> str:
    """Digests cut to their first HASH_CHARS characters (the log file keeps them whole)."""
    return LONG_HEX.sub(lambda m: m.group(0)[:HASH_CHARS] + "…", message)


def panel_message(message: str) -> tuple[str, bool]:
    """The text the panel shows for a log line, and whether it is kept to one line.

    ``check passed 1/2 of out.mp4: all match [size ...; sha1 ...]`` becomes
    ``check passed 1/2 of out.mp4: all match (size, sha1, ...)``: the names of the facts
    compared, not their values; a failed check keeps its details, with short hashes.
    """
    if not CHECK_LINE.match(message):
        return message, False
    head, bracket, details = message.partition(" [")
    if not bracket:
        return short_hashes(message), True
    facts = [part.strip() for part in details.rstrip("]").split(";")]
    if message.startswith("check passed"):
        names = [fact.split(" ")[0] for fact in facts if fact]
        return f"{head} ({', '.join(names)})", True
    return short_hashes(f"{head} [{'; '.join(facts)}]"), True


def format_record(record: LogRecord) -> Text:
    """``HH:MM:SS LVL message``, the level coloured."""
    stamp = time.strftime("%H:%M:%S", time.localtime(record.time))
    style = LEVEL_STYLES.get(record.level, "")
    message, one_line = panel_message(record.message)
    text = Text(f"{stamp} ", style="dim", no_wrap=one_line, overflow="ellipsis" if one_line else "fold")
    text.append(LEVEL_TAGS.get(record.level, record.level[:3].upper()) + " ", style=style or "green")
    text.append(message, style=style)
    return text


class LogPanel(RichLog):
    """At most MAX_LINES records; the border shows where the full log is written."""

    BORDER_TITLE = "Log"

    def __init__(self, log_path: str, **kwargs: object) -> None:
        super().__init__(max_lines=MAX_LINES, min_width=20, wrap=True, **kwargs)
        self.log_path = log_path
        self.border_subtitle = log_path
        self.records: deque[LogRecord] = deque(maxlen=MAX_LINES)
        self.filter = ""

    def add(self, record: LogRecord) -> None:
        self.records.append(record)
        if self.matches(record):
            self.write(format_record(record))

    def matches(self, record: LogRecord) -> bool:
        return not self.filter or self.filter.lower() in record.message.lower()

    def set_filter(self, text: str) -> None:
        """Show only records whose message contains ``text`` (any case); empty shows all."""
        self.filter = text.strip()
        self.border_title = f"Log (filter: {self.filter})" if self.filter else "Log"
        self.clear()
        for record in self.records:
            if self.matches(record):
                self.write(format_record(record))
