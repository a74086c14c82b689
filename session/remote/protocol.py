"""The attach protocol: one JSON object per line, events as tagged dataclasses.

A dataclass becomes ``{"__type__": "module:Name", field: value, ...}``, an enum
``{"__enum__": "module:Name", "value": ...}`` and a path ``{"__path__": "..."}``; tuples and
lists become lists (decoded back to tuples: events are frozen). Decoding imports the named
module only from the packages below, so a line can name nothing else.

Client -> server: ``{"cmd": NAME, "id": N, ...}``. Server -> client: ``hello``, ``state``,
``event`` (the history, then ``replayed``, then live ones), ``reply``, ``status``,
``refused`` and ``bye`` (see :mod:`session.remote.server`).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from dataclasses import dataclass
from enum import Enum
from pathlib import PurePath
from typing import Any

DECODABLE = ("core.", "monitor.", "session.", "tui.watchdog_link", "tui.session")
MAX_LINE = 4 * 2**20  # bytes: a longer line is a broken peer, not a message


@dataclass(frozen=True)
class ControlApplied:
    """A key pressed on an attached console was applied (pause, dry-run...): the screens redraw
    the state that changed without an event of its own. Never logged, never sent."""

    action: str
    origin: str


def _name(kind: type) -> str:
    return f"{kind.__module__}:{kind.__qualname__}"


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data (see the module docstring)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {"__type__": _name(type(value))}
        for f in dataclasses.fields(value):
            data[f.name] = encode(getattr(value, f.name))
        return data
    if isinstance(value, Enum):
        return {"__enum__": _name(type(value)), "value": value.value}
    if isinstance(value, PurePath):
        return {"__path__": str(value)}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _lookup(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith(DECODABLE) or not qualname:
        raise ValueError(f"not a framedeck type: {name}")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    if not isinstance(found, type):
        raise ValueError(f"not a type: {name}")
    return found


def decode(data: Any) -> Any:
    """The inverse of :func:`encode`; ValueError for a type it may not build."""
    if isinstance(data, list):
        return tuple(decode(v) for v in data)
    if not isinstance(data, dict):
        return data
    if "__type__" in data:
        kind = _lookup(data["__type__"])
        if not dataclasses.is_dataclass(kind):
            raise ValueError(f"not a dataclass: {data['__type__']}")
        names = {f.name for f in dataclasses.fields(kind) if f.init}
        values = {k: decode(v) for k, v in data.items() if k in names}
        try:
            return kind(**values)
        except TypeError as exc:
            raise ValueError(f"{data['__type__']}: {exc}") from exc
    if "__enum__" in data:
        kind = _lookup(data["__enum__"])
        return kind(data["value"])
    if "__path__" in data:
        from pathlib import Path

        return Path(data["__path__"])
    return {k: decode(v) for k, v in data.items()}


def dump_line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def load_line(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("a message is a JSON object")
    return message
