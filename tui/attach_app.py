"""``framedeck attach``: the console of a session in another process.

:class:`AttachApp` is :class:`tui.app.FramedeckApp` over a :class:`tui.remote_session.RemoteSession`:
the same panels, log and keys. What differs is leaving: q (or closing this terminal)
detaches and the session goes on; nothing here ever cancels it.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType

from tui.app import FramedeckApp
from tui.hangup import silence_terminal, unblock_screen_writer


class AttachApp(FramedeckApp):
    """See the module docstring; ``session`` is a RemoteSession."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Detach"),
    ]

    async def action_quit(self) -> None:
        """Detach at once: leaving never aborts anything, so there is nothing to confirm."""
        await self.shut_down()

    async def shut_down(self) -> None:
        if self.closing:
            return
        self.closing = True
        self.refresh_bindings()
        if not self.session.done.is_set():
            self.session.detach()
        await asyncio.get_running_loop().run_in_executor(None, self.session.done.wait)
        self.exit(self.session.summary())

    def on_unmount(self, event: events.Unmount) -> None:
        """However this console ends, the session is left running (the base class's handler,
        which cancels a local session, must not run)."""
        event.prevent_default()
        if not self.session.done.is_set():
            self.session.detach()

    def terminate(self) -> None:
        """SIGTERM ends this console only: it detaches (the base class would abort the job)."""
        if not self.closing:
            self.run_worker(self.shut_down(), group="quit", exclusive=True)

    def hang_up(self) -> None:
        """This terminal went away: detach, stop writing to it, end this process."""
        if self.closing:
            return
        silence_terminal()
        unblock_screen_writer(self._driver)
        self.session.detach()
        self.closing = True
        self.exit(self.session.summary())
