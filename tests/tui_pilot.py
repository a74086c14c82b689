"""Helpers for Pilot tests of the console."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from textual import events
from textual.app import App
from textual.pilot import Pilot

from core.options import JobOptions
from tui.app import FramedeckApp
from tui.session import ConsoleSession

NO_TMUX_ENV = {"TERM": "xterm-256color"}
TMUX_ENV = {"TERM": "screen-256color", "TMUX": "/tmp/tmux-0/default,1,0"}


async def wait_for(pilot: Pilot, condition: Callable[[], bool], limit: float = 30.0) -> None:
    """Let the app run until ``condition()`` holds; fail after ``limit`` seconds (a safety net)."""
    steps = int(limit / 0.02)
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"condition not reached within {limit} s")


async def enter_path(pilot: Pilot, path: Path) -> None:
    """Give the focused path prompt ``path`` and press Enter: the folder arrives as one paste
    (what a terminal sends when a path is pasted), the file name key by key. Each key waits
    for the app to be idle (40 ms or more), so typing a whole temporary path took seconds."""
    pilot.app.post_message(events.Paste(f"{path.parent}{os.sep}"))
    await pilot.pause()
    await pilot.press(*path.name, "enter")


def make_session(tmp_path: Path, run_job: object = None, **kwargs: object) -> ConsoleSession:
    return ConsoleSession(
        str(tmp_path / "in.mp4"),
        str(tmp_path / "out.mp4"),
        JobOptions(),
        log_path=tmp_path / "framedeck.log",
        run_job=run_job,  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def make_app(session: ConsoleSession, **kwargs: object) -> FramedeckApp:
    kwargs.setdefault("env", TMUX_ENV)
    return FramedeckApp(session, **kwargs)  # type: ignore[arg-type]


def binding_state(app: FramedeckApp, action: str) -> bool | None:
    """What the footer shows for ``action``: True enabled, None dimmed, False hidden."""
    return app.check_action(action, ())


def screen_text(app: App) -> str:
    """The screen as plain text, as a terminal would show it (modal screens included)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()
