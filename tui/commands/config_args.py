"""``--config PATH`` and the config file's defaults for each sub-command (core/config.py)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from core.config import Config, defaults_for, load_config

CONFIG_HELP = "config file (default $XDG_CONFIG_HOME/framedeck/config.toml or ~/.config/framedeck/config.toml)"


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=CONFIG_HELP)


def read_config(argv: list[str] | None, env: Mapping[str, str] | None = None) -> Config:
    """The config file named by ``--config`` anywhere in ``argv``, else the default one."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(argv)
    return load_config(known.config, os.environ if env is None else env)


def apply_config(sub: argparse._SubParsersAction, config: Config) -> None:
    """Every sub-command takes ``--config``; the file's settings become its defaults."""
    for name, parser in sub.choices.items():
        add_config_argument(parser)
        defaults = defaults_for(name, config)
        if defaults:
            parser.set_defaults(**defaults)
