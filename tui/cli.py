"""The ``framedeck`` command: argument parsing and dispatch to the sub-commands.

Headless sub-commands (run, doctor, models, watch) never import textual; only
``tui`` and ``demo`` load the console, and only when they are run.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from core.config import Config
from core.errors import FramedeckError
from core.openmp import quiet_idle_threads
from tui.commands.config_args import add_config_argument, apply_config, read_config

# Each module defines add_parser(subparsers) and sets a ``handler(args) -> int`` default.
COMMAND_MODULES = [
    "tui.commands.run",
    "tui.commands.doctor",
    "tui.commands.models",
    "tui.commands.watch",
    "tui.commands.console",
    "tui.commands.attach",
]


def build_parser(config: Config | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="framedeck",
        description="In-process video frame interpolation with upload-verified shutdown.",
    )
    add_config_argument(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    apply_config(sub, config or Config(None))
    return parser


def main(argv: list[str] | None = None) -> int:
    quiet_idle_threads()  # before any command loads torch
    config_error: FramedeckError | None = None
    try:
        config = read_config(argv)
    except FramedeckError as exc:
        if "doctor" not in (sys.argv[1:] if argv is None else argv):
            print(f"framedeck: {exc}", file=sys.stderr)
            return exc.exit_code
        config, config_error = Config(None), exc  # doctor shows it among the rest, then fails
    parser = build_parser(config)
    args = parser.parse_args(argv)
    args.config_file, args.config_error = config, config_error
    try:
        return int(args.handler(args) or 0)
    except FramedeckError as exc:
        print(f"framedeck: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("framedeck: interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
