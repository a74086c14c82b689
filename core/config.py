"""The per-box config file: defaults a person sets once (upload target, shutdown action,
price per hour, model and weights).

Read from ``--config PATH``, else ``$XDG_CONFIG_HOME/framedeck/config.toml`` (``~/.config``
when XDG_CONFIG_HOME is unset or empty); a missing default file is no config. Command-line
flags win over the file. Every mistake (unreadable file, bad TOML, an unknown key, a value
of the wrong type) is one sentence (:class:`core.errors.OptionError`) that names the key,
never its value, so nothing secret is printed. B2 keys do not belong here: use the
environment or ``b2_key_file`` (a path, mode 600).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import OptionError

# key -> (the type it must have, words for it); the keys a person may set
KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "upload": (str, "a target such as b2://BUCKET/PREFIX or file:///PATH"),
    "shutdown": (str, "auto, vastai, runpod, poweroff or command:CMD"),
    "price_per_hour": ((int, float), "a number of money units per hour, 0 or more"),
    "model": (str, "auto, flow, blend, rife or torchscript"),
    "weights": (str, "a path to RIFE weights or a TorchScript file"),
    "b2_key_file": (str, "a path to a file with the B2 key id and key (mode 600)"),
}
SHUTDOWN_WORDS = ("auto", "vastai", "runpod", "poweroff")
PATH_KEYS = ("weights", "b2_key_file")  # ~ is expanded
SECRET_WORDS = ("key", "secret", "token", "password")  # values never shown for such names


@dataclass(frozen=True)
class Config:
    """The values read and where from (``path`` None: no file was read)."""

    path: Path | None
    values: dict[str, Any] = field(default_factory=dict)
    looked_at: Path | None = None  # the default path looked for, when none was found

    def describe(self) -> str:
        """One line for ``framedeck doctor``: the file and its settings (paths and targets only)."""
        if self.path is None:
            return f"none ({self.looked_at} does not exist)" if self.looked_at else "none"
        if not self.values:
            return f"{self.path} (no settings)"
        shown = ", ".join(f"{key}={show_value(key, value)}" for key, value in sorted(self.values.items()))
        return f"{self.path}: {shown}"


def show_value(key: str, value: object) -> str:
    """A value for people, hidden when its key names a secret."""
    if any(word in key for word in SECRET_WORDS) and key not in PATH_KEYS:
        return "(hidden)"
    return str(value)


def default_path(env: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/framedeck/config.toml``, else ``~/.config/framedeck/config.toml``."""
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and os.path.isabs(base) else Path(env.get("HOME") or Path.home()) / ".config"
    return root / "framedeck" / "config.toml"


def _toml_loads() -> Callable[[str], dict[str, Any]]:
    """tomllib (Python 3.11+), else tomli (a dependency on 3.10); OptionError if neither."""
    try:
        import tomllib  # novermin: Python 3.11+, tomli below

        return tomllib.loads
    except ImportError:
        pass
    try:
        import tomli

        return tomli.loads
    except ImportError:
        raise OptionError(
            "Reading the config file needs Python 3.11 or the tomli package (pip install tomli)."
        ) from None


def load_config(
    path: str | Path | None,
    env: Mapping[str, str] | None = None,
    loads: Callable[[str], dict[str, Any]] | None = None,
) -> Config:
    """Read ``path`` (``--config``; it must exist) or the default file (may be absent)."""
    env = os.environ if env is None else env
    explicit = path is not None
    file = Path(path).expanduser() if path is not None else default_path(env)
    if not file.exists():
        if explicit:
            raise OptionError(f"The config file {file} does not exist.")
        return Config(None, looked_at=file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise OptionError(f"The config file {file} cannot be read: {why}.") from None
    parse = loads or _toml_loads()
    try:
        data = parse(text)
    except Exception as exc:  # tomllib.TOMLDecodeError, with the line and column
        where = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OptionError(f"The config file {file} is not valid TOML ({where}).") from None
    return Config(file, _checked(file, data))


def _checked(file: Path, data: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in KEYS:
            known = ", ".join(KEYS)
            raise OptionError(f"The config file {file} has an unknown setting {key!r} (known: {known}).")
        kind, words = KEYS[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise OptionError(f"The config file {file} sets {key} to something that is not {words}.")
        if key == "price_per_hour" and not (0 <= value < float("inf")):
            raise OptionError(f"The config file {file} sets {key} to something that is not {words}.")
        if key == "shutdown" and value not in SHUTDOWN_WORDS and not (
            value.startswith("command:") and value[len("command:"):].strip()
        ):
            raise OptionError(f"The config file {file} sets {key} to something that is not {words}.")
        if key in PATH_KEYS:
            value = str(Path(value).expanduser())
        values[key] = float(value) if key == "price_per_hour" else value
    return values


# which command takes which setting, as its option's dest
COMMAND_SETTINGS: dict[str, tuple[str, ...]] = {
    "run": ("model", "weights"),
    "tui": ("upload", "shutdown", "price_per_hour", "model", "weights", "b2_key_file"),
    "watch": ("shutdown", "b2_key_file"),
}


def defaults_for(command: str, config: Config) -> dict[str, Any]:
    """The argparse defaults ``config`` gives ``command`` (flags on the command line win)."""
    return {key: config.values[key] for key in COMMAND_SETTINGS.get(command, ()) if key in config.values}
