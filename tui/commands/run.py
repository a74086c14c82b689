"""``framedeck run``: the headless front end over the session engine (session/engine.py).

One input with ``-o FILE`` works as a single job; several inputs (or ``-o`` naming a folder)
run as a queue with one warm model, a summary table at the end and a non-zero exit when
any clip failed."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from core.errors import EXIT_TERMINATED
from core.events import (
    Event,
    JobFinished,
    JobStarted,
    LogRecord,
    ModelChosen,
    ModelFetch,
    PairDone,
    Stalled,
)
from core.rate import format_eta
from session.clips import ClipChanged, QueueClosed
from session.lines import describe
from tui.commands.devices_arg import device_pool
from tui.commands.job_args import add_job_arguments, job_options_from_args, plan_session


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="interpolate a video headless, with progress lines")
    add_job_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no notes or progress lines: warnings and the summary")
    parser.set_defaults(handler=handle)


class ProgressPrinter:
    """Turns core events into plain lines: at most one progress line per ``interval``."""

    def __init__(
        self,
        out: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 1.0,
        quiet: bool = False,
        notes: bool = False,
    ) -> None:
        self.out = out
        self.clock = clock
        self.interval = interval
        self.quiet = quiet
        self.notes = notes  # print info notes (until the first progress line)
        self.last_line = -float("inf")
        self.output_fps = 0.0
        self.progress_started = False  # info notes are printed until the first progress line
        self.queue = False  # print the session's clip lines (more than one clip)

    def __call__(self, event: Event) -> None:
        if isinstance(event, (ModelChosen, ModelFetch)):  # before the job: what runs and why
            self.line(event.line)
        elif isinstance(event, JobStarted):
            self.output_fps = event.output_fps
            self.line(
                f"{event.input} -> {event.output}: {event.width}x{event.height}, "
                f"{event.input_fps:.3f} -> {event.output_fps:.3f} fps, model {event.model} "
                f"on {event.device} ({event.precision}), batch {event.batch}, codec {event.codec}"
            )
        elif isinstance(event, PairDone):
            self.progress_started = True
            now = self.clock()
            if now - self.last_line >= self.interval or event.index + 1 >= event.total:
                self.last_line = now
                rate = f"{event.pairs_per_second:.2f}" if event.pairs_per_second else "-"
                self.line(
                    f"pairs {event.index + 1}/{event.total}  {rate} pairs/s  "
                    f"ETA {format_eta(event.eta_seconds)}  frames {event.frames_written}"
                )
        elif isinstance(event, Stalled):
            self.line(f"warning: the {event.stage} stage has made no progress for {event.seconds:.0f} s")
        elif isinstance(event, LogRecord) and event.level in ("warning", "error"):
            self.line(f"{event.level}: {event.message}", always=True)
        elif isinstance(event, LogRecord) and event.level == "info" and self.notes and not self.progress_started:
            self.line(f"note: {event.message}")
        elif isinstance(event, ClipChanged | QueueClosed) and self.queue:
            self.progress_started = isinstance(event, ClipChanged) and self.progress_started
            described = describe(event)
            if described is not None:
                level, text = described
                self.line(text if level == "info" else f"{level}: {text}", always=level != "info")

    def line(self, text: str, always: bool = False) -> None:
        """Print ``text``; --quiet keeps only warnings and errors (``always``)."""
        if always or not self.quiet:
            print(text, file=self.out or sys.stderr, flush=True)


def handle(args: argparse.Namespace) -> int:
    from session.engine import Session  # imported here so `framedeck --help` stays fast

    options = job_options_from_args(args)
    pool, devices_line, options = device_pool(args, options)
    plan = plan_session(args, options)
    queue = plan.queue
    cancel = threading.Event()
    terminated = threading.Event()
    printer = ProgressPrinter(quiet=args.quiet, notes=True)
    printer.queue = queue
    session = Session(
        options, plan.clips, on_event=printer, cancel=cancel, skip_complete=queue and args.skip_complete,
        output_folder=plan.output_folder, container=args.container,
        input_watcher=plan.watcher, idle=args.idle,
        job_kwargs={"keep": args.keep, "restart": args.restart}, run_job=pool,
    )
    if devices_line:
        printer(LogRecord("info", devices_line))
    previous = _install_sigint(cancel, keep=args.keep)
    previous_term = _install_sigterm(cancel, terminated)
    try:
        result = session.run()
    finally:
        if pool is not None:
            pool.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
    if not queue:  # one job, reported as before
        clip = result.clips[0]
        if clip.code:
            print(f"framedeck: {clip.message}", file=sys.stderr)
            return EXIT_TERMINATED if terminated.is_set() else clip.code
        assert session.last_result is not None
        print(summary(session.last_result))
        return 0
    print(result.table())
    return EXIT_TERMINATED if terminated.is_set() else result.exit_code


def summary(result: JobFinished) -> str:
    return (
        f"wrote {result.output}: {result.output_frames} frames ({result.duration:.3f} s) from "
        f"{result.input_frames} input frames, {result.interpolated_frames} interpolated, "
        f"in {result.seconds:.1f} s" + (f"; {result.model}" if result.model else "")
    )


def _install_sigint(cancel: threading.Event, keep: bool = True):
    """First Ctrl-C asks the job to stop cleanly; a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        return None
    progress = "the progress is kept for a resume" if keep else "the progress is removed (--no-keep)"

    def on_sigint(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        print(f"\nstopping after the current batch; {progress} (Ctrl-C again to interrupt)", file=sys.stderr)
        cancel.set()

    return signal.signal(signal.SIGINT, on_sigint)


def _install_sigterm(cancel: threading.Event, terminated: threading.Event):
    """SIGTERM (a provider taking the box back) stops the job like Ctrl-C; the exit status is 143."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigterm(signum: int, frame: object) -> None:
        terminated.set()
        cancel.set()

    return signal.signal(signal.SIGTERM, on_sigterm)
