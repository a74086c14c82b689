"""Watchdog options shared by ``framedeck watch`` and ``framedeck tui``."""

from __future__ import annotations

import argparse


def add_watchdog_arguments(parser: argparse.ArgumentParser, *, require_confirm_help: str) -> None:
    """--shutdown, --confirm, --check-interval, --countdown | --require-confirm,
    --dry-run | --no-dry-run and --b2-key-file; the target and --sentinel stay with each command."""
    parser.add_argument("--shutdown", default="auto", help="auto, vastai, runpod, poweroff or command:CMD (auto)")
    parser.add_argument("--confirm", type=int, default=3, metavar="K", help="consecutive passing checks (3)")
    parser.add_argument("--check-interval", type=float, default=10.0, metavar="T", help="seconds between checks (10)")
    wait = parser.add_mutually_exclusive_group()
    wait.add_argument("--countdown", type=float, default=60.0, metavar="S", help="seconds to cancel before stopping (60)")
    wait.add_argument("--require-confirm", action="store_true", help=require_confirm_help)
    dry = parser.add_mutually_exclusive_group()
    dry.add_argument("--dry-run", dest="dry_run", action="store_true", default=True, help="write a sentinel instead of stopping (default)")
    dry.add_argument("--no-dry-run", dest="dry_run", action="store_false", help="really stop the machine")
    parser.add_argument("--b2-key-file", help="file with the B2 key id and key, mode 600")
