"""``framedeck watch``: wait for a finished file, upload it (or wait for another tool to),
verify it K times, then stop the machine, or in a dry run write the sentinel."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

from tui.commands.watchdog_args import add_watchdog_arguments


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "watch",
        help="upload and verify a finished file, then stop the machine (dry run by default)",
        description=(
            "Wait for a finished file in --watch-dir, upload it to the target (or, with "
            "--verify-only, wait for another tool to upload it), verify it --confirm times, "
            "then stop this machine. Dry run by default: a sentinel JSON says what would run."
        ),
    )
    parser.add_argument("--watch-dir", required=True, help="folder the result appears in")
    parser.add_argument("--pattern", default="*", help="glob for file names to pick (default *)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--upload", metavar="TARGET", help="b2://BUCKET/PREFIX or file:///PATH")
    target.add_argument("--verify-only", metavar="TARGET", help="only verify; another tool uploads")
    add_watchdog_arguments(parser, require_confirm_help="ask a person before stopping")
    parser.add_argument("--sentinel", default="framedeck-stop-sentinel.json", help="dry-run sentinel path")
    parser.add_argument("--stable-checks", type=int, default=3, help="scans a file must stay unchanged (3)")
    parser.add_argument("--scan-interval", type=float, default=1.0, help="seconds between folder scans (1)")
    parser.add_argument("--upload-timeout", type=float, default=6 * 3600.0, help="overall upload deadline in seconds")
    parser.add_argument("--give-up-after", type=float, default=None, metavar="S", help="fail if not verified within S seconds (never)")
    parser.add_argument("--part-size", type=int, default=None, help="B2 large-file part size in bytes (B2's recommendation)")
    parser.set_defaults(handler=handle)


def handle(
    args: argparse.Namespace,
    *,
    env: Mapping[str, str] | None = None,
    api_factory: Callable[[], object] | None = None,
    runner: Callable | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    out: TextIO | None = None,
    ask: Callable[[str], str] | None = None,
    vast_url: str | None = None,
    runpod_url: str | None = None,
    use_watchfiles: bool = True,
) -> int:
    """Build the storage, the action and the watchdog from ``args`` and run the loop."""
    from monitor.errors import WatchError
    from monitor.finished_file import FinishedFileDetector
    from monitor.watch_printer import WatchPrinter
    from monitor.watch_runner import WatchfilesWaiter, run_watch
    from monitor.watchdog_setup import build_watchdog, check_watch_options

    env = os.environ if env is None else env
    out = out or sys.stdout
    folder = Path(args.watch_dir)
    if not folder.is_dir():
        raise WatchError(f"The watch folder {folder} does not exist or is not a folder.")
    check_watch_options(args.confirm, args.check_interval, args.countdown)
    if args.stable_checks < 2:
        raise WatchError("--stable-checks must be at least 2.")
    printer = WatchPrinter(out, clock)
    setup = build_watchdog(
        args.upload or args.verify_only,
        shutdown=args.shutdown,
        dry_run=args.dry_run,
        sentinel=Path(args.sentinel),
        env=env,
        confirm=args.confirm,
        check_interval=args.check_interval,
        countdown=args.countdown,
        require_confirm=args.require_confirm,
        verify_only=bool(args.verify_only),
        key_file=args.b2_key_file,
        on_event=printer,
        clock=clock,
        upload_timeout=args.upload_timeout,
        give_up_after=args.give_up_after,
        min_part_size=args.part_size,
        api_factory=api_factory,
        runner=runner,
        vast_url=vast_url,
        runpod_url=runpod_url,
    )
    watchdog, redactor = setup.watchdog, setup.redactor
    sentinel = watchdog.sentinel_path
    mode = "DRY RUN (sentinel " + str(sentinel) + ")" if args.dry_run else "LIVE: the machine will be stopped"
    printer.line(redactor(f"watching {folder} for {args.pattern}; target {watchdog.target}; {mode}"))
    printer.line(redactor(f"stop action: {setup.explanation}: {watchdog.action_description}"))
    detector = FinishedFileDetector(folder, args.pattern, args.stable_checks, exclude=(sentinel,))
    waiter = WatchfilesWaiter(folder, args.scan_interval) if use_watchfiles else None
    try:
        code = run_watch(
            watchdog,
            detector,
            scan_interval=args.scan_interval,
            sleep=sleep,
            wait_for_change=waiter,
            ask=ask or (_ask_terminal if args.require_confirm else None),
        )
    except KeyboardInterrupt:
        watchdog.cancel()
        printer.line("cancelled: the machine will not be stopped")
        return 130
    if code == 1:
        print(f"framedeck: {watchdog.message}", file=sys.stderr)
    return code


def _ask_terminal(prompt: str) -> str:
    try:
        return input(prompt)
    except EOFError:
        return ""
