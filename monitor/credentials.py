"""B2 keys from the environment or from a key file only its owner can read."""

from __future__ import annotations

import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from monitor.errors import CredentialsError

KEY_ID_VAR = "B2_APPLICATION_KEY_ID"
KEY_VAR = "B2_APPLICATION_KEY"
KEY_FILE_VAR = "FRAMEDECK_B2_KEY_FILE"


@dataclass(frozen=True)
class B2Credentials:
    """An application key; ``repr`` never shows the key itself."""

    key_id: str
    key: str = field(repr=False)
    source: str = ""

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.key,)


def load_credentials(env: Mapping[str, str], key_file: str | Path | None = None) -> B2Credentials:
    """The key file (argument or FRAMEDECK_B2_KEY_FILE) if given, else the environment."""
    key_file = key_file or env.get(KEY_FILE_VAR)
    if key_file:
        return read_key_file(Path(key_file))
    key_id, key = env.get(KEY_ID_VAR, "").strip(), env.get(KEY_VAR, "").strip()
    if key_id and key:
        return B2Credentials(key_id, key, "environment")
    raise CredentialsError(
        f"No B2 key: set {KEY_ID_VAR} and {KEY_VAR}, or pass --b2-key-file with a file only you can read."
    )


def read_key_file(path: Path) -> B2Credentials:
    """Read ``KEY_ID``/``KEY`` from ``path``; refuse a file other users can access.

    Accepted forms: ``B2_APPLICATION_KEY_ID=...`` and ``B2_APPLICATION_KEY=...`` lines,
    or the key id on the first line and the key on the second.
    """
    try:
        info = path.stat()
    except OSError as exc:
        raise CredentialsError(f"The key file {path} cannot be read: {exc.strerror or exc}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise CredentialsError(f"The key file {path} is not a regular file.")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise CredentialsError(
            f"The key file {path} is accessible by other users (mode {mode:04o}); "
            f"run 'chmod 600 {path}' so only you can read it."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable text"
        raise CredentialsError(f"The key file {path} cannot be read: {reason}.") from None
    values: dict[str, str] = {}
    plain: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if sep and name.strip().removeprefix("export ").strip() in (KEY_ID_VAR, KEY_VAR):
            values[name.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
        else:
            plain.append(line)
    key_id = values.get(KEY_ID_VAR) or (plain[0] if len(plain) >= 2 else "")
    key = values.get(KEY_VAR) or (plain[1] if len(plain) >= 2 else "")
    if not key_id or not key:
        raise CredentialsError(
            f"The key file {path} holds no key id and key "
            f"(expected {KEY_ID_VAR}=... and {KEY_VAR}=... lines, or two lines)."
        )
    return B2Credentials(key_id, key, f"key file {path}")


