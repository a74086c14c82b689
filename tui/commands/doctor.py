"""``framedeck doctor``: print what this machine offers a job."""

from __future__ import annotations

import argparse
import sys

from core.config import Config
from core.doctor import DoctorRow, broken_required, collect_report, format_report


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "doctor", help="check python, torch, CUDA, NVML, encoders and free disk on this machine"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Print the report; exit 1 when something framedeck cannot run without is broken."""
    rows = collect_report()
    config = getattr(args, "config_file", None) or Config(None)
    error = getattr(args, "config_error", None)
    rows.append(DoctorRow("config file", str(error) if error else config.describe(), error is None))
    print(format_report(rows))
    if error is not None:
        print(f"framedeck: {error}", file=sys.stderr)
        return error.exit_code
    broken = broken_required(rows)
    if broken:
        names = ", ".join(row.label for row in broken)
        print(f"framedeck: cannot run here: {names} broken (see above).", file=sys.stderr)
        return 1
    return 0
