"""A session in another process, shaped like :class:`tui.session.ConsoleSession` so that
:class:`tui.app.FramedeckApp` can show it unchanged (``framedeck attach``).

It only shows and sends keys: events and state snapshots come over the session's socket
(:mod:`session.remote`); the Events the app sets (pause, cancel) and the link's and the
queue's controls become commands. Nothing of the job runs here.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from core.errors import FramedeckError
from session.clips import Clip
from session.remote.client import Connection
from session.remote.paths import choose_socket
from session.remote.protocol import ControlApplied, decode
from tui.session import SessionSummary
from tui.watchdog_link import WatchdogView

Listener = Callable[[object], None]
REPLY_TIMEOUT = 10.0


class RemoteFlag:
    """A threading.Event look-alike: reads the session's state, ``set``/``clear`` send commands."""

    def __init__(self, read: Callable[[], bool], on_set: Callable[[], None], on_clear: Callable[[], None]) -> None:
        self._read, self._on_set, self._on_clear = read, on_set, on_clear

    def is_set(self) -> bool:
        return self._read()

    def set(self) -> None:
        self._on_set()

    def clear(self) -> None:
        self._on_clear()


class RemoteLink:
    """The watchdog's controls and view (see :class:`tui.watchdog_link.WatchdogLink`)."""

    def __init__(self, session: RemoteSession, info: dict[str, Any]) -> None:
        self.session = session
        self.live_refusal = info.get("live_refusal") or "a live stop is not available here"
        # what the queue panel's stop estimate reads from the watchdog
        self.watchdog = SimpleNamespace(
            required=info["required"], check_interval=info["check_interval"], countdown=info["countdown"]
        )

    def view(self) -> WatchdogView:
        return self.session.state_value("watchdog") or WatchdogView(state="idle", target="")

    @property
    def live_allowed(self) -> bool:
        return self.view().live_allowed

    @property
    def finished(self) -> bool:
        return self.view().finished

    def set_dry_run(self, dry_run: bool) -> bool:
        if not dry_run and not self.live_allowed:
            return False
        if not self.session.command("dry_run", value=dry_run):
            return False
        self.session.update_state(watchdog=replace(self.view(), dry_run=dry_run))  # shown at once
        return True

    def stop_now(self) -> bool:
        return self.session.command("stop_now")

    def cancel_countdown(self) -> bool:
        return self.session.command("cancel_countdown")

    def abandon(self) -> None:
        """Quitting an attached console leaves the watchdog alone."""


class RemoteEngine:
    """The queue (see :class:`session.engine.Session`): read from the state, changed by commands."""

    def __init__(self, session: RemoteSession, output_folder: str | None) -> None:
        self.session = session
        self.output_folder = Path(output_folder) if output_folder else None
        self.done = RemoteFlag(lambda: bool(session.state_value("queue_done")), lambda: None, lambda: None)

    @property
    def clips(self) -> list[Clip]:
        return list(self.session.state_value("clips") or ())

    @property
    def current(self) -> Clip | None:
        return self.session.state_value("current")

    @property
    def running(self) -> list[Clip]:
        """Every running clip, oldest first (several with --devices)."""
        return list(self.session.state_value("running") or ())

    def snapshot(self) -> list[Clip]:
        return [clip.snapshot() for clip in self.clips]

    def skip(self, clip_id: int | None = None) -> bool:
        return self.session.command("skip", clip=clip_id)

    def retry(self, clip_id: int) -> bool:
        return self.session.command("retry", clip=clip_id)

    def move(self, clip_id: int, delta: int) -> bool:
        return self.session.command("move", clip=clip_id, delta=delta)

    def add_input(self, source: str | Path) -> Clip:
        reply = self.session.request("add", path=str(Path(source).expanduser().absolute()))
        if not reply.get("ok"):
            raise FramedeckError(reply.get("error") or f"{source} was not added.")
        return decode(reply["clip"])


class RemoteSession:
    """See the module docstring. Build it with :meth:`open`; :meth:`run` (a worker thread)
    reads the session's messages until it is over, the connection closes or :meth:`detach`."""

    def __init__(self, connection: Connection, hello: dict[str, Any], state: dict[str, Any],
                 wall: Callable[[], float] = time.time) -> None:
        self.connection = connection
        self.pid = int(hello["pid"])
        self.job_name = hello.get("job_name")
        self.input_path = hello["input"]
        self.output_path = hello["output"]
        self.log_path = Path(hello["log"])
        self.options = SimpleNamespace(device=hello["device"])
        self.job_kwargs = {"keep": bool(hello.get("keep")), "preview": None}  # frames stay in the session
        self.wall = wall
        self.started = hello.get("started") or wall()
        self.price_per_hour = hello.get("price_per_hour")
        self.checker = SimpleNamespace()
        self._state: dict[str, Any] = {}
        self._state_lock = threading.Lock()
        self._apply_state(state)
        self.link = RemoteLink(self, hello["watchdog"]) if hello.get("watchdog") else None
        self.engine = RemoteEngine(self, hello.get("output_folder"))
        self.pause = RemoteFlag(lambda: bool(self.state_value("paused")),
                                lambda: self._optimistic("pause", paused=True),
                                lambda: self._optimistic("resume", paused=False))
        self.cancel = RemoteFlag(lambda: False, self._abort, lambda: None)
        self.quit = threading.Event()  # the app's "stop driving the watchdog": not ours to do
        self.done = threading.Event()  # run() returned: the session ended or we left it
        self.discard_progress = False  # set by the abort question before cancel.set()
        self.detached = False
        self.lost = False  # the connection closed before the session ended
        self._listeners: list[Listener] = []
        self._times: OrderedDict[int, float] = OrderedDict()
        self._replies: dict[int, tuple[threading.Event, dict[str, Any]]] = {}
        self._next_id = 0
        self._id_lock = threading.Lock()

    @classmethod
    def open(cls, target: str | None = None, *, socket_file: str | None = None, env: Any = None) -> RemoteSession:
        """Connect to the session ``target`` (a pid, a socket path, or the only one running)."""
        connection = Connection(choose_socket(target, socket_file=socket_file, env=env))
        try:
            hello = connection.expect("hello")
            state = connection.expect("state")
        except FramedeckError:
            connection.close()
            raise
        connection.stream()
        return cls(connection, hello, state)

    # -- state --------------------------------------------------------------------------------

    def _apply_state(self, message: dict[str, Any]) -> bool:
        decoded = {k: decode(v) for k, v in message.items() if k != "type"}
        with self._state_lock:  # the status figures change all the time; the screen has its own
            changed = {**decoded, "status": None} != {**self._state, "status": None}
            self._state = decoded
        self.checker.last = decoded.get("check")  # the checker's last result, as the console reads it
        return changed

    def state_value(self, key: str) -> Any:
        with self._state_lock:
            return self._state.get(key)

    @property
    def job_running(self) -> bool:
        return bool(self.state_value("job_running")) and not self.state_value("done") and not self.done.is_set()

    @property
    def upload_rate(self) -> float | None:
        return self.state_value("upload_rate")

    @property
    def error_code(self) -> int:
        return int(self.state_value("error_code") or 0)

    @property
    def error(self) -> str | None:
        summary = self.state_value("summary")
        return summary.error if summary is not None else None

    def summary(self) -> SessionSummary:
        """The session's own summary once it ended; before that, where it stands."""
        ended = self.state_value("summary")
        if ended is not None:
            return ended
        error = "The session's process went away." if self.lost else None
        return SessionSummary(output=None, error=error, log_path=str(self.log_path), detached=self.detached)

    # -- listeners and the log -------------------------------------------------------------------

    def subscribe(self, listener: Listener, *, lasting: bool = False) -> None:
        self._listeners.append(listener)

    def _deliver(self, event: object) -> None:
        for listener in list(self._listeners):
            listener(event)

    def event_time(self, event: object) -> float:
        """When the session emitted ``event`` (its log line's time), not when it got here."""
        return self._times.pop(id(event), None) or self.wall()

    def note(self, level: str, message: str) -> None:
        """A line the console writes: the session's log gets it, marked as from here."""
        self.connection.send({"cmd": "note", "level": level, "message": message})

    # -- commands -----------------------------------------------------------------------------------

    def request(self, name: str, timeout: float = REPLY_TIMEOUT, **args: Any) -> dict[str, Any]:
        """Send a command and wait for its reply (from the reading thread)."""
        if self.done.is_set():  # nothing reads replies any more
            return {"ok": False, "error": "The session has ended or this console left it."}
        with self._id_lock:
            self._next_id += 1
            ident = self._next_id
        arrived: threading.Event = threading.Event()
        self._replies[ident] = (arrived, {})
        if not self.connection.send({"cmd": name, "id": ident, **args}):
            self._replies.pop(ident, None)
            return {"ok": False, "error": "The session is gone."}
        if not arrived.wait(timeout):
            self._replies.pop(ident, None)
            return {"ok": False, "error": f"The session did not answer within {timeout:g} s."}
        return self._replies.pop(ident)[1]

    def command(self, name: str, **args: Any) -> bool:
        return bool(self.request(name, **args).get("ok"))

    def update_state(self, **state: Any) -> None:
        """Show the effect of a command at once; the session's next state confirms it."""
        with self._state_lock:
            self._state.update(state)

    def _optimistic(self, name: str, **state: Any) -> None:
        """Send ``name`` and show its effect at once (the next state confirms it)."""
        if self.detached or self.done.is_set():
            return
        self.update_state(**state)
        self.connection.send({"cmd": name})

    def _abort(self) -> None:
        if self.detached or self.done.is_set():
            return  # only a key answered on this console aborts, never this console ending
        self.connection.send({"cmd": "abort", "discard": self.discard_progress})

    # -- the connection -----------------------------------------------------------------------------

    def run(self) -> SessionSummary:
        """Read until the session is over, the connection closes, or :meth:`detach` (worker thread)."""
        try:
            while not self.detached:
                message = self.connection.read()
                if message is None:
                    self.lost = not self.detached and self.state_value("summary") is None
                    break
                kind = message.get("type")
                if kind == "event":
                    self._event(message)
                elif kind == "state":
                    try:
                        changed = self._apply_state(message)
                    except (ValueError, ImportError, AttributeError):
                        continue  # a state this version cannot read: the next one may do
                    if changed:
                        self._deliver(ControlApplied("state", "session"))
                    if self.state_value("done"):
                        break
                elif kind == "reply":
                    waiting = self._replies.get(message.get("id"))  # type: ignore[arg-type]
                    if waiting is not None:
                        waiting[1].update(message)
                        waiting[0].set()
                elif kind == "replayed" and self.state_value("done"):
                    break  # attached to a session that had already ended: its history is shown
                elif kind == "bye":
                    break
            return self.summary()
        finally:
            for arrived, _ in list(self._replies.values()):
                arrived.set()  # nobody waits for an answer that cannot come
            self.done.set()

    def _event(self, message: dict[str, Any]) -> None:
        try:
            event = decode(message["event"])
        except (ValueError, KeyError, ImportError, AttributeError):
            return  # a kind of event this version does not know
        self._times[id(event)] = float(message.get("time") or self.wall())
        while len(self._times) > 10000:
            self._times.popitem(last=False)
        self._deliver(event)

    def detach(self) -> None:
        """Leave the session running; :meth:`run` returns."""
        self.detached = True
        with contextlib.suppress(Exception):
            self.connection.send({"cmd": "detach"})
        self.connection.close()

    def close(self) -> None:
        self.connection.close()
