"""The session's socket: what ``framedeck attach`` and ``framedeck status`` talk to.

:class:`SessionServer` listens on a Unix socket (see :mod:`session.remote.paths`) beside a
running session (a :class:`tui.session.ConsoleSession`, duck-typed: its Events, ``link``,
``engine``, ``note``, ``subscribe``). For each peer of this uid it:

- on ``{"cmd": "hello", "mode": "status"}`` sends one ``status`` message and closes;
- on ``mode: attach`` sends ``hello`` (what the console needs to lay itself out), a
  ``state`` snapshot, the bounded history of events (log lines, the latest progress), then
  every new event and a new ``state`` whenever it changes (at most every ``state_interval``);
- applies commands (pause, resume, abort, dry_run, stop_now, cancel_countdown, skip, retry,
  move, add, note, detach) through the same Events and link methods the local console uses,
  and answers each with a ``reply``.

Nothing here blocks the session: each peer has a bounded queue drained by its own writer
thread, and a peer that falls that far behind is dropped. A peer leaving (its terminal
closed, or it detached) changes nothing in the session.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import FramedeckError
from core.events import JobStarted, StageChanged
from session.remote.commands import apply_command
from session.remote.history import HISTORY, LATEST_ONLY, History, SentEvent
from session.remote.paths import live_sessions, peer_uid, private_folder, socket_path
from session.remote.protocol import MAX_LINE, ControlApplied, dump_line, encode, load_line
from session.remote.status import session_status

PEER_QUEUE = 20000  # messages a peer may fall behind before it is dropped


class _Peer:
    """One connected process: a writer thread drains its queue; a reader thread reads its lines."""

    def __init__(self, server: SessionServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.queue: queue.Queue[Any] = queue.Queue(PEER_QUEUE)
        self.attached = False
        self.closed = False
        self.writer = threading.Thread(target=self._write, name="framedeck-attach-writer", daemon=True)
        self.writer.start()
        threading.Thread(target=self._read, name="framedeck-attach-reader", daemon=True).start()

    def send(self, item: Any) -> None:
        try:
            self.queue.put_nowait(item)
        except queue.Full:  # it stopped reading: let it go rather than hold the session
            self.close()

    def finish(self) -> None:
        """Send what is queued, then close."""
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(None)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.server._forget(self)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(None)

    def _write(self) -> None:
        try:
            while True:
                item = self.queue.get()
                if item is None:
                    break
                self.sock.sendall(self.server.render(item))
        except OSError:
            pass
        finally:
            self.close()
            with contextlib.suppress(OSError):
                self.sock.close()

    def _read(self) -> None:
        try:
            with self.sock.makefile("rb") as lines:
                while not self.closed:
                    line = lines.readline(MAX_LINE)
                    if not line or not line.endswith(b"\n"):
                        break
                    try:
                        message = load_line(line)
                    except ValueError:
                        break
                    self.server.handle(self, message)
        except OSError:
            pass
        finally:
            self.close()


class SessionServer:
    """See the module docstring. ``uid`` is whose peers are let in (this process's by default);
    ``peer_uid`` says who is at the other end of a connection (injectable for tests)."""

    def __init__(
        self,
        session: Any,
        path: Path | None = None,
        *,
        job_name: str | None = None,
        uid: int | None = None,
        peer_uid: Callable[[socket.socket], int | None] = peer_uid,
        history: int = HISTORY,
        state_interval: float = 0.25,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.session = session
        self.path = path or socket_path(os.getpid())
        self.job_name = job_name
        self.uid = os.getuid() if uid is None else uid
        self.peer_uid = peer_uid
        self.history = History(history)
        self.state_interval = state_interval
        self.wall = wall
        self._lock = threading.Lock()
        self._peers: list[_Peer] = []
        self._listener: socket.socket | None = None
        self._closed = threading.Event()
        self._wake = threading.Event()
        self._last_state: bytes | None = None
        self._stage = "starting"

    # -- lifetime ---------------------------------------------------------------------------

    def start(self) -> Path:
        """Listen (OSError or InputError when it cannot); stale sockets beside it are removed."""
        folder = private_folder(self.path.parent)
        live_sessions(folder)  # removes the sockets of sessions that died
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # an earlier process with this pid
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(self.path))
            self.path.chmod(0o600)
            listener.listen(8)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        self.session.subscribe(self.on_event, lasting=True)
        threading.Thread(target=self._accept, name="framedeck-attach", daemon=True).start()
        threading.Thread(target=self._pump, name="framedeck-attach-state", daemon=True).start()
        return self.path

    def close(self, grace: float = 3.0) -> None:
        """Send every console the final state and what is queued for it (waiting at most
        ``grace`` seconds: the process may end next), stop listening, remove the socket."""
        if self._closed.is_set():
            return
        self._push_state(force=True)
        self._closed.set()
        self._wake.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
        with self._lock:
            peers = list(self._peers)
        for peer in peers:
            peer.send({"type": "bye"})
            peer.finish()
        end = time.monotonic() + grace
        for peer in peers:
            peer.writer.join(max(0.0, end - time.monotonic()))

    # -- connections ------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._closed.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            uid = self.peer_uid(sock)
            if uid is not None and uid != self.uid:
                self.session.note("warning", f"refused a connection to the session's socket from uid {uid}")
                with contextlib.suppress(OSError):
                    sock.sendall(dump_line({"type": "refused", "message": "This session belongs to another user."}))
                sock.close()
                continue
            _Peer(self, sock)

    def _forget(self, peer: _Peer) -> None:
        with self._lock:
            if peer in self._peers:
                self._peers.remove(peer)

    def render(self, item: Any) -> bytes:
        """A queued item as a line: events are encoded here, on the peer's writer thread."""
        if isinstance(item, SentEvent):
            return item.render()
        if isinstance(item, bytes):
            return item
        return dump_line(item)

    # -- events -----------------------------------------------------------------------------

    def on_event(self, event: object) -> None:
        """The session's listener (any thread): keep it for later consoles, pass it on."""
        if isinstance(event, ControlApplied):
            return  # the state message carries what changed
        if isinstance(event, StageChanged):
            self._stage = event.stage.value
        elif isinstance(event, JobStarted):
            self._stage = "starting"
        when = getattr(event, "time", None)
        item = SentEvent(event, when if isinstance(when, (int, float)) else self.wall())
        with self._lock:
            self.history.add(item)
            peers = [p for p in self._peers if p.attached]
        for peer in peers:
            peer.send(item)
        if not isinstance(event, LATEST_ONLY):
            self._wake.set()

    def _pump(self) -> None:
        """Send the state when it changed, at most every ``state_interval`` seconds."""
        while not self._closed.is_set():
            self._wake.wait(self.state_interval)
            self._wake.clear()
            if self._closed.is_set():
                return
            self._push_state()
            time.sleep(self.state_interval)  # pace: a burst of events is one state message

    def _push_state(self, force: bool = False) -> None:
        with self._lock:
            peers = [p for p in self._peers if p.attached]
        if not peers and not force:
            return
        try:
            line = dump_line(self.state())
        except Exception as exc:  # never let a view of the session take the session down
            line = dump_line({"type": "error", "message": f"{type(exc).__name__}: {exc}"})
        if line == self._last_state and not force:
            return
        self._last_state = line
        for peer in peers:
            peer.send(line)

    # -- messages -----------------------------------------------------------------------------

    def handle(self, peer: _Peer, message: dict[str, Any]) -> None:
        command = message.get("cmd")
        if command == "hello":
            if message.get("mode") == "status":
                peer.send({"type": "status", "status": self.status()})
                peer.finish()
                return
            hello, state = self.hello(), dump_line(self.state())  # (outside the lock: the link has its own)
            with self._lock:  # no event slips between the history and the live stream
                peer.send(hello)
                peer.send(state)
                for item in self.history.items():
                    peer.send(item)
                peer.send({"type": "replayed"})  # the history is out: live from here
                peer.attached = True
                self._peers.append(peer)
            return
        if command == "detach":
            peer.close()
            return
        try:
            reply = apply_command(self.session, str(command), message)
        except FramedeckError as exc:
            reply = {"ok": False, "error": str(exc)}
        except Exception as exc:  # a bad command must not end the session
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        peer.send({"type": "reply", "id": message.get("id"), **reply})
        self.session.emit(ControlApplied(str(command), "attach"))
        self._wake.set()

    # -- what a console is told -----------------------------------------------------------------

    def hello(self) -> dict[str, Any]:
        s = self.session
        link = s.link
        w = link.watchdog if link is not None else None
        return {
            "type": "hello",
            "pid": os.getpid(),
            "job_name": self.job_name,
            "input": str(s.input_path),
            "output": str(s.output_path),
            "log": str(s.log_path),
            "device": s.options.device,
            "keep": bool(s.job_kwargs.get("keep")),
            "started": getattr(s, "started", None),  # for the time-and-money rows, where the session has them
            "price_per_hour": getattr(s, "price_per_hour", None),
            "output_folder": str(s.engine.output_folder) if s.engine.output_folder is not None else None,
            "watchdog": None if w is None else {
                "required": w.required, "check_interval": w.check_interval, "countdown": w.countdown,
                "live_refusal": link.live_refusal,
            },
        }

    def status(self) -> dict[str, Any]:
        return session_status(self.session, stage=self._stage, job_name=self.job_name)

    def state(self) -> dict[str, Any]:
        s = self.session
        current = s.engine.current
        done = s.done.is_set()
        return {
            "type": "state",
            "paused": s.pause.is_set(),
            "job_running": s.job_running,
            "done": done,
            "queue_done": s.engine.done.is_set(),
            "error_code": s.error_code,
            "watchdog": encode(s.link.view()) if s.link is not None else None,
            "clips": encode(s.engine.snapshot()),
            "current": encode(current.snapshot()) if current is not None else None,
            "running": encode([c.snapshot() for c in list(getattr(s.engine, "running", ()))]),  # --devices: several
            "summary": encode(s.summary()) if done else None,
            "upload_rate": getattr(s, "upload_rate", None),
            "check": encode(getattr(getattr(s, "checker", None), "last", None)),  # the output read back
            "status": self.status(),
        }

def listen(session: Any, job_name: str | None = None) -> SessionServer | None:
    """Open the session's socket for ``framedeck attach``/``status``; when that is not possible
    (no writable folder, a path too long) the session runs anyway, with a warning in its log."""
    server = SessionServer(session, job_name=job_name)
    try:
        path = server.start()
    except (OSError, FramedeckError) as exc:
        session.note("warning", f"framedeck attach and status are not available: {exc}")
        return None
    session.note("info", f"framedeck attach {os.getpid()} opens this console elsewhere (socket {path})")
    return server
