"""Where a session's socket lives, whose it is, and which sockets are live.

One socket per session process, ``<pid>.sock``, in ``$XDG_RUNTIME_DIR/framedeck/`` (or
``~/.cache/framedeck/sessions/`` without one). The folder is the user's alone (0700) and
the socket 0600; the server also checks each peer's uid (SO_PEERCRED). A socket nobody
listens on any more (its process died) is stale and removed when it is found.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import struct
from collections.abc import Mapping
from pathlib import Path

from core.errors import InputError

SUFFIX = ".sock"
MAX_SOCKET_PATH = 107  # bytes in sockaddr_un.sun_path, less the terminating NUL


def socket_folder(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "framedeck"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".cache" / "framedeck" / "sessions"


def socket_path(pid: int, env: Mapping[str, str] | None = None) -> Path:
    return socket_folder(env) / f"{pid}{SUFFIX}"


def private_folder(folder: Path) -> Path:
    """Create ``folder`` (0700) or check that an existing one is this user's alone."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid():
        raise InputError(f"{folder} belongs to another user; sessions cannot listen there.")
    if stat.S_IMODE(info.st_mode) & 0o077:
        folder.chmod(0o700)
    return folder


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux SO_PEERCRED), or None
    where the system does not say (the 0700 folder and 0600 socket still keep others out)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    return uid


def is_live(path: Path, timeout: float = 2.0) -> bool:
    """True when a process listens on ``path``; a socket file nobody listens on is removed."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(timeout)
    try:
        probe.connect(str(path))
        return True
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOTSOCK) and _is_socket(path):
            with contextlib.suppress(OSError):
                path.unlink()  # its session died without cleaning up
        return False
    finally:
        probe.close()


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.lstat().st_mode)
    except OSError:
        return False


def live_sessions(folder: Path) -> list[tuple[int, Path]]:
    """(pid, socket) of every session listening in ``folder``; stale sockets are removed."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        stem = path.name[: -len(SUFFIX)]
        if stem.isdigit() and is_live(path):
            found.append((int(stem), path))
    return found


def choose_socket(target: str | None = None, *, socket_file: str | None = None,
                  env: Mapping[str, str] | None = None) -> Path:
    """The socket to open: ``--socket PATH``, a pid, or the only session running; one sentence
    (InputError) when there is none, or several and none was named."""
    if socket_file:
        path = Path(socket_file).expanduser()
        if not is_live(path):
            raise InputError(f"No framedeck session listens on {path}.")
        return path
    folder = socket_folder(env)
    if target:
        path = folder / f"{target}{SUFFIX}" if target.isdigit() else Path(target).expanduser()
        if not is_live(path):
            what = f"with pid {target}" if target.isdigit() else f"on {path}"
            raise InputError(f"No framedeck session {what} is running.")
        return path
    sessions = live_sessions(folder)
    if not sessions:
        raise InputError(f"No framedeck session is running (none listens in {folder}).")
    if len(sessions) > 1:
        pids = ", ".join(str(pid) for pid, _ in sessions)
        raise InputError(f"{len(sessions)} framedeck sessions are running (pids {pids}); name one by its pid.")
    return sessions[0][1]
