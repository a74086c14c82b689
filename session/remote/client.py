"""The client side of a session's socket: connect, say hello, read and send lines."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from typing import Any

from core.errors import InputError
from session.remote.protocol import MAX_LINE, dump_line, load_line


class Connection:
    """One connection to a session (``mode`` ``attach`` or ``status``). Reads happen on one
    thread; :meth:`send` may be called from any."""

    def __init__(self, path: Path, mode: str = "attach", timeout: float = 10.0) -> None:
        self.path = path
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError as exc:
            sock.close()
            raise InputError(f"No framedeck session listens on {path} ({exc.strerror or exc}).") from exc
        self.sock = sock
        self._lines = sock.makefile("rb")
        self._send_lock = threading.Lock()
        self.closed = False
        self.send({"cmd": "hello", "mode": mode})

    def send(self, message: dict[str, Any]) -> bool:
        """False when the session is gone."""
        with self._send_lock:
            try:
                self.sock.sendall(dump_line(message))
                return True
            except OSError:
                return False

    def read(self) -> dict[str, Any] | None:
        """The next message, or None once the session closed the connection."""
        try:
            line = self._lines.readline(MAX_LINE)
        except (OSError, ValueError):  # ValueError: read after close
            return None
        if not line or not line.endswith(b"\n"):
            return None
        try:
            message = load_line(line)
        except ValueError:  # not our protocol: as good as closed
            return None
        if message.get("type") == "refused":
            self.close()
            raise InputError(f"The session on {self.path} refused this connection: {message.get('message')}")
        return message

    def expect(self, kind: str) -> dict[str, Any]:
        message = self.read()
        if message is None or message.get("type") != kind:
            self.close()
            raise InputError(f"The session on {self.path} closed the connection before it answered.")
        return message

    def stream(self) -> None:
        """From now on reads wait as long as it takes (an attached console)."""
        self.sock.settimeout(None)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._lines.close()
            self.sock.close()


def fetch_status(path: Path, timeout: float = 10.0) -> dict[str, Any]:
    """The session's one-screen summary (see :meth:`SessionServer.status`)."""
    connection = Connection(path, "status", timeout)
    try:
        return connection.expect("status")["status"]
    finally:
        connection.close()
