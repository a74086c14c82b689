"""``framedeck watch``: upload every finished file in a folder (or wait for another tool to),
verify each K times, and once the work is over stop the machine, or in a dry run write the
sentinel. See README "Upload, verify, then stop the machine"."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TextIO

from tui.commands.watchdog_args import add_watchdog_arguments


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "watch",
        help="upload and verify every finished file, then stop the machine (dry run by default)",
        description=(
            "Upload each finished file in --watch-dir to the target (or, with --verify-only, wait "
            "for another tool to upload it) and verify it --confirm times. A file is finished once "
            "it has not changed for --settle seconds and no process writes it. The machine is "
            "stopped only when every file seen is verified and unchanged and the work is over "
            "(--expect N files, --done-file PATH, or --idle seconds without news). Dry run by "
            "default: a sentinel JSON says what would run."
        ),
    )
    parser.add_argument("--watch-dir", required=True, help="folder the results appear in")
    parser.add_argument("--pattern", default="*", help="glob for file names to pick (default *)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--upload", metavar="TARGET", help="b2://BUCKET/PREFIX or file:///PATH")
    target.add_argument("--verify-only", metavar="TARGET", help="only verify; another tool uploads")
    add_watchdog_arguments(parser, require_confirm_help="ask a person before stopping")
    parser.add_argument("--settle", type=float, default=10.0, metavar="S",
                        help="seconds a file must stay unchanged to count as finished (10)")
    parser.add_argument("--expect", type=int, default=None, metavar="N",
                        help="the work is over once N files are verified")
    parser.add_argument("--done-file", default=None, metavar="PATH", help="the work is over once PATH exists")
    parser.add_argument("--idle", type=float, default=120.0, metavar="S",
                        help="the work is over after S seconds without a new or changed file (120)")
    parser.add_argument("--state", default=None, metavar="PATH",
                        help="restart memory of verified files (default WATCH_DIR/.framedeck-watch-state.json)")
    parser.add_argument("--verify-download", action="store_true",
                        help="read each upload back once and compare its SHA-1 before the checks count")
    parser.add_argument("--sentinel", default="framedeck-stop-sentinel.json", help="dry-run sentinel path")
    parser.add_argument("--scan-interval", type=float, default=1.0, metavar="S",
                        help="most seconds between looks at the folder while waiting (1)")
    parser.add_argument("--upload-timeout", type=float, default=6 * 3600.0, metavar="S",
                        help="overall upload deadline in seconds (6 h)")
    parser.add_argument("--give-up-after", type=float, default=None, metavar="S",
                        help="fail if a file is not verified within S seconds (never)")
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
    from monitor.finished_file import FolderScanner
    from monitor.open_writers import WriterProbe
    from monitor.state_store import STATE_NAME, StateStore
    from monitor.watch_printer import WatchPrinter
    from monitor.watch_runner import WatchfilesWaiter
    from monitor.watchdog_setup import build_watchdog, check_seconds, check_watch_options
    from session.engine import Session

    env = os.environ if env is None else env
    out = out or sys.stdout
    check_watch_options(
        args.confirm, args.check_interval, args.countdown, settle=args.settle, idle=args.idle,
        expect=args.expect, check_interval_above_zero=True,
    )
    check_seconds(
        {"--scan-interval": args.scan_interval, "--upload-timeout": args.upload_timeout,
         "--give-up-after": args.give_up_after},
        above_zero=("--scan-interval", "--upload-timeout", "--give-up-after"),
    )
    if args.part_size is not None and args.part_size < 1:
        raise WatchError("--part-size must be a positive number of bytes.")
    folder = Path(args.watch_dir).absolute()
    if not folder.is_dir():
        raise WatchError(f"The watch folder {folder} does not exist or is not a folder.")
    state_path = Path(args.state).absolute() if args.state else folder / STATE_NAME
    done_file = Path(args.done_file).absolute() if args.done_file else None
    sentinel = Path(args.sentinel).absolute()
    printer = WatchPrinter(out, clock)
    setup = build_watchdog(
        args.upload or args.verify_only,
        shutdown=args.shutdown,
        dry_run=args.dry_run,
        sentinel=sentinel,
        env=env,
        confirm=args.confirm,
        check_interval=args.check_interval,
        countdown=args.countdown,
        require_confirm=args.require_confirm,
        verify_only=bool(args.verify_only),
        settle=args.settle,
        expect=args.expect,
        done_file=done_file,
        idle=args.idle,
        scanner=FolderScanner(folder, args.pattern, exclude=tuple(p for p in (sentinel, state_path, done_file) if p)),
        state_store=StateStore(state_path),
        writer_probe=WriterProbe(),
        verify_download=args.verify_download,
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
    mode = f"DRY RUN (sentinel {sentinel})" if args.dry_run else "LIVE: the machine will be stopped"
    printer.line(redactor(f"watching {folder} for {args.pattern}; target {watchdog.target}; {mode}"))
    printer.line(redactor(f"stop action: {setup.explanation}: {watchdog.action_description}"))
    printer.line(
        f"a file is finished after {args.settle:g} s unchanged; the work is over when "
        + _work_over(args, done_file)
        + f"; state file {state_path}"
    )
    waiter = WatchfilesWaiter(folder, args.scan_interval) if use_watchfiles else None
    try:
        with _signals_cancel(watchdog):
            session = Session(
                watchdog=watchdog,
                producer=False,
                scan_interval=args.scan_interval,
                sleep=sleep,
                wait_for_change=waiter,
                ask=ask or (_ask_terminal if args.require_confirm else None),
            )
            session.run()
            code = session.watch_code
    except KeyboardInterrupt:
        printer.line(watchdog.interrupt("interrupted (Ctrl-C)"))
        return 130
    if code == 1:
        print(f"framedeck: {watchdog.message}", file=sys.stderr)
    return code


def _work_over(args: argparse.Namespace, done_file: Path | None) -> str:
    rules = []
    if args.expect:
        rules.append(f"{args.expect} files are verified")
    if done_file:
        rules.append(f"{done_file} exists")
    rules.append(f"nothing is new or changed for {args.idle:g} s after the last verification")
    return " or ".join(rules)


@contextlib.contextmanager
def _signals_cancel(watchdog) -> Iterator[None]:
    """SIGTERM and SIGHUP tell the watchdog (it cancels, or says the stop was already sent).
    A signal that was ignored when framedeck started (``nohup``) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: object) -> None:
        watchdog.signal_received(signal.Signals(signum).name)

    wanted = [sig for sig in (signal.SIGTERM, signal.SIGHUP) if signal.getsignal(sig) is not signal.SIG_IGN]
    previous = {sig: signal.signal(sig, on_signal) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ask_terminal(prompt: str) -> str:
    try:
        return input(prompt)
    except EOFError:
        return ""
