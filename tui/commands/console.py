"""``framedeck tui`` and ``framedeck demo``: the console over one job and its watchdog.

textual is imported only inside the handlers (through :mod:`tui.app`), so the headless
sub-commands never load it. Without a terminal (stdout not a tty) or with ``--headless``
the same session runs with plain progress lines instead of the screen.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from core.errors import EXIT_TERMINATED, InputError
from core.options import JobOptions
from tui.commands.console_extras import add_console_extras, upload_target
from tui.commands.devices_arg import device_pool
from tui.commands.job_args import add_job_arguments, job_options_from_args, plan_session
from tui.commands.preflight import check_console_paths
from tui.commands.watchdog_args import add_watchdog_arguments
from tui.progress_log import ProgressLog

if TYPE_CHECKING:
    from tui.session import ConsoleSession, SessionSummary
    from tui.watchdog_link import WatchdogLink

DEMO_CLIP = Path(__file__).resolve().parents[2] / "sample_media" / "sample.mp4"
DEMO_DIR = "framedeck-demo"


def add_parser(sub: argparse._SubParsersAction) -> None:
    tui = sub.add_parser(
        "tui",
        help="interpolate with the console: GPU, progress, log, upload-verify-stop watchdog",
        description=(
            "Run one job with the terminal console. With --upload the result is uploaded, "
            "verified K times and the machine stopped (a dry run by default)."
        ),
    )
    add_job_arguments(tui)
    tui.add_argument("--upload", metavar="TARGET", help="b2://BUCKET/PREFIX or file:///PATH (no upload without it)")
    add_watchdog_arguments(tui, require_confirm_help="stop only when a person presses s")
    tui.add_argument("--sentinel", default=None,
                     help="dry-run sentinel path (default OUTPUT.stop-sentinel.json, or OUTDIR/stop-sentinel.json)")
    tui.add_argument("--log-file", default=None, help="log file (default OUTPUT.framedeck.log, or OUTDIR/framedeck.log)")
    tui.add_argument("--headless", action="store_true", help="no screen: plain progress lines")
    add_console_extras(tui)
    tui.add_argument(
        "--keep-running-on-failure", action="store_true",
        help="with --upload: a failed clip keeps the machine up for a person to look (default: it does not block the stop)",
    )
    tui.set_defaults(handler=handle_tui)

    demo = sub.add_parser(
        "demo",
        help="the whole story on the bundled clip: interpolate, upload to a folder, verify, dry-run stop",
    )
    demo.add_argument("--dir", default=DEMO_DIR, help=f"folder for everything the demo writes (./{DEMO_DIR})")
    demo.add_argument("--headless", action="store_true", help="no screen: plain progress lines")
    demo.set_defaults(handler=handle_demo)


# -- building the watchdog -------------------------------------------------------------------


def build_link(
    target: str,
    *,
    shutdown: str,
    dry_run: bool,
    sentinel: Path,
    confirm: int,
    check_interval: float,
    countdown: float,
    require_confirm: bool,
    env: Mapping[str, str],
    b2_key_file: str | None = None,
    allow_live: bool = True,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
) -> WatchdogLink:
    """The watchdog for ``target`` (see :func:`monitor.watchdog_setup.build_watchdog`) wrapped
    for the console; ``allow_live`` False keeps it a dry run whatever the user presses."""
    from monitor.watchdog_setup import build_watchdog, live_stop_refusal
    from tui.watchdog_link import WatchdogLink

    setup = build_watchdog(
        target,
        shutdown=shutdown,
        dry_run=dry_run,
        sentinel=sentinel,
        env=env,
        confirm=confirm,
        check_interval=check_interval,
        countdown=countdown,
        require_confirm=require_confirm,
        key_file=b2_key_file,
        clock=clock,
        wall=wall,
        idle=None,  # the session says when no more outputs will come (producer_done)
    )
    refusal = ""
    if not allow_live:
        refusal = "this run is a dry run only"
    elif dry_run:  # can this machine be stopped for real, should the user turn dry-run off?
        refusal = live_stop_refusal(shutdown, env, setup.redactor)
    return WatchdogLink(setup.watchdog, live_allowed=not refusal, live_refusal=refusal)


# -- the handlers ------------------------------------------------------------------------------


def handle_tui(args: argparse.Namespace) -> int:
    from tui.session import ConsoleSession

    options = job_options_from_args(args)
    pool, devices_line, options = device_pool(args, options)
    plan = plan_session(args, options)
    queue, planned = plan.queue, plan.clips
    output = Path(args.output)
    log_path = Path(args.log_file or (output / "framedeck.log" if queue else f"{output}.framedeck.log")).absolute()
    sentinel = Path(args.sentinel or (output / "stop-sentinel.json" if queue else f"{output}.stop-sentinel.json"))
    link = None
    args.upload = upload_target(args.upload)
    if args.upload:
        link = build_link(
            args.upload,
            shutdown=args.shutdown,
            dry_run=args.dry_run,
            sentinel=sentinel,
            confirm=args.confirm,
            check_interval=args.check_interval,
            countdown=args.countdown,
            require_confirm=args.require_confirm,
            env=os.environ,
            b2_key_file=args.b2_key_file,
        )
    # one clip is checked whole before the screen opens; in a queue a bad clip fails alone
    single = planned[0] if not queue else None
    check_console_paths(
        Path(single[0]) if single else None, Path(single[1]) if single else None, options,
        log_path=log_path, sentinel=sentinel if args.upload else None,
    )
    first = planned[0] if planned else (Path(args.watch_input), output)
    session = ConsoleSession(
        str(first[0]),
        str(first[1]),
        options,
        log_path=log_path,
        link=link,
        # the preview tap rides on core.job.run_job; a job over several devices has none yet
        job_kwargs={"keep": args.keep, "restart": args.restart, **({"preview": _frame_tap()} if pool is None else {})},
        price_per_hour=args.price_per_hour,
        clips=[(str(a), str(b)) for a, b in planned],
        input_watcher=plan.watcher,
        idle=args.idle,
        keep_running_on_failure=args.keep_running_on_failure,
        skip_complete=queue and args.skip_complete,
        output_folder=output if queue else None,
        container=args.container,
        run_job=pool,
    )
    if devices_line:
        session.note("info", devices_line)
    try:
        return run_console(session, headless=args.headless)
    finally:
        if pool is not None:
            pool.close()


def handle_demo(args: argparse.Namespace) -> int:
    session = demo_session(Path(args.dir), DEMO_CLIP, os.environ)
    print(f"framedeck demo: writing into {session.log_path.parent}", flush=True)
    return run_console(session, headless=args.headless, job_name="demo: sample.mp4 x2, flow")


def demo_session(
    folder: Path,
    clip: Path,
    env: Mapping[str, str],
    *,
    options: JobOptions | None = None,
    countdown: float = 3.0,
    check_interval: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wall: Callable[[], float] = time.time,
) -> ConsoleSession:
    """The demo: ``clip`` x2 with the weight-free model, uploaded to ``folder/uploaded``,
    verified three times, then a dry-run stop that writes ``folder/stop-sentinel.json``."""
    from tui.session import ConsoleSession

    if not clip.is_file():
        raise InputError(
            f"The demo clip {clip} is missing; regenerate it with .venv/bin/python sample_media/generate.py."
        )
    options = options or JobOptions(factor=2, model="flow")
    options.validate()
    folder = folder.absolute()
    uploads = folder / "uploaded"
    uploads.mkdir(parents=True, exist_ok=True)
    output = folder / f"{clip.stem}_{f'{options.factor}x' if options.factor else 'interpolated'}.mp4"
    sentinel = folder / "stop-sentinel.json"
    for stale in (output, sentinel, uploads / output.name, folder / "framedeck.log"):
        stale.unlink(missing_ok=True)
    link = build_link(
        uploads.as_uri(),
        shutdown="auto",
        dry_run=True,
        sentinel=sentinel,
        confirm=3,
        check_interval=check_interval,
        countdown=countdown,
        require_confirm=False,
        env=env,
        allow_live=False,
        clock=clock,
        wall=wall,
    )
    return ConsoleSession(
        str(clip),
        str(output),
        options,
        log_path=folder / "framedeck.log",
        link=link,
        sleep=sleep,
        wall=wall,
        job_kwargs={"preview": _frame_tap()},
    )


# -- running -------------------------------------------------------------------------------------


def run_console(
    session: ConsoleSession,
    *,
    headless: bool = False,
    job_name: str | None = None,
    out: TextIO | None = None,
) -> int:
    """The screen when there is a terminal, else plain lines; then the summary and the exit code."""
    out = out or sys.stdout
    from session.remote.server import listen

    progress = ProgressLog(session.log_file.write, Path(session.output_path))
    session.subscribe(progress)
    terminated = threading.Event()
    server = listen(session, job_name)  # framedeck attach / status, from any terminal
    try:
        if headless or not (sys.stdin.isatty() and sys.stdout.isatty()):
            summary = run_headless(session, out, terminated)
        else:
            summary = run_screen(session, job_name, progress, terminated)
    finally:
        if server is not None:
            server.close()
    if terminated.is_set():
        session.note("warning", "ended by SIGTERM: the job was aborted and nothing was stopped")
    session.close()
    _print_summary(summary, out)
    return EXIT_TERMINATED if terminated.is_set() else exit_code(session, summary)


def run_screen(
    session: ConsoleSession,
    job_name: str | None,
    progress: ProgressLog | None = None,
    terminated: threading.Event | None = None,
) -> SessionSummary:
    from core.host_health import HostSampler
    from core.telemetry import GpuTelemetry, torch_memory_reader
    from tui.app import FramedeckApp
    from tui.hangup import exit_when_done
    from tui.widgets.gpu_panel import sampler_for

    terminated = terminated or threading.Event()

    def on_headless() -> None:
        """The terminal went away: keep logging progress, and make sure the process ends."""
        if progress is not None:
            session.subscribe(progress)

        def finish() -> int:
            session.note("warning", "the screen did not let go after the session ended; exiting")
            session.close()
            return EXIT_TERMINATED if terminated.is_set() else exit_code(session, session.summary())

        exit_when_done(session.done, finish)

    telemetry = GpuTelemetry()
    torch_reader = torch_memory_reader(session.options.device)  # the job's GPU, not device 0
    host = HostSampler()  # CPU, RAM, free disk where the output and its journal go
    host.watch(session.output_path)
    session.subscribe(host.on_event)
    app = FramedeckApp(
        session,
        sampler=sampler_for(telemetry, torch_reader, host),
        job_name=job_name,
        handle_hangup=True,
        on_headless=on_headless,
    )
    try:
        app.run()
        if app.terminated:
            terminated.set()
        if session.detached:  # the terminal went away: finish the job and the watchdog headless
            _wait_headless(session, terminated)
    finally:
        telemetry.close()
    return session.summary()


def _abort_session(session: ConsoleSession) -> None:
    """Cancel the job and stop driving the watchdog (the machine keeps running)."""
    session.cancel.set()
    session.pause.clear()
    session.quit.set()
    if session.link is not None:
        session.link.abandon()


def _on_sigterm(session: ConsoleSession, terminated: threading.Event, out: TextIO | None = None):
    """A SIGTERM handler that ends the session like an abort (nothing half-written is left)."""

    def handler(signum: int, frame: object) -> None:
        if terminated.is_set():
            return
        terminated.set()  # no log line here: the main thread may hold the log file's lock
        if out is not None:
            with contextlib.suppress(OSError):
                print("\nSIGTERM: aborting: the job stops after the current batch, nothing is stopped", file=out, flush=True)
        _abort_session(session)

    return handler


def _wait_headless(session: ConsoleSession, terminated: threading.Event) -> None:
    """Wait for the session; Ctrl-C (a terminal came back) or SIGTERM aborts the job and the stop."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm(session, terminated))
    try:
        while not session.done.wait(0.5):
            pass
    except KeyboardInterrupt:
        _abort_session(session)
        session.done.wait()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def run_headless(session: ConsoleSession, out: TextIO, terminated: threading.Event | None = None) -> SessionSummary:
    """Plain progress lines; the first Ctrl-C aborts the job and cancels the watchdog."""
    from monitor.watch_printer import WatchPrinter
    from tui.commands.run import ProgressPrinter

    progress = ProgressPrinter(out=out)
    progress.queue = len(session.engine.clips) > 1
    watch = WatchPrinter(out)

    def print_event(event: object) -> None:
        if type(event).__module__ == "monitor.events":
            watch(event)  # type: ignore[arg-type]
        else:
            progress(event)  # type: ignore[arg-type]

    session.subscribe(print_event)
    previous = None
    if threading.current_thread() is threading.main_thread():

        def on_sigint(signum: int, frame: object) -> None:
            print("\naborting: the job stops after the current batch, nothing is stopped", file=out, flush=True)
            session.cancel.set()
            session.quit.set()
            if session.link is not None:
                session.link.abandon()

        previous = signal.signal(signal.SIGINT, on_sigint)
        hangup = signal.signal(signal.SIGHUP, _on_hangup_headless)
        term = signal.signal(signal.SIGTERM, _on_sigterm(session, terminated or threading.Event(), out))
    try:
        return session.run()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
            signal.signal(signal.SIGHUP, hangup)
            signal.signal(signal.SIGTERM, term)


def _on_hangup_headless(signum: int, frame: object) -> None:
    """An SSH drop while printing plain lines: keep going, write only to the log file."""
    from tui.hangup import silence_terminal

    silence_terminal()


def exit_code(session: ConsoleSession, summary: SessionSummary) -> int:
    if summary.error is not None:
        return session.error_code
    if summary.watchdog_state == "failed":
        return 1
    return 0


def _print_summary(summary: SessionSummary, out: TextIO) -> None:
    lines = [summary.table] if summary.table else []
    if summary.error:
        lines.append(f"framedeck: {summary.error}")
    if summary.output:
        lines.append(f"output:   {summary.output}")
    if summary.model:
        lines.append(f"model:    {summary.model.removeprefix('model ')}")
    if summary.uploaded:
        lines.append(f"uploaded: {summary.uploaded}")
    if summary.watchdog_state:
        lines.append(f"watchdog: {summary.watchdog_state}")
    if summary.sentinel:
        lines.append(f"sentinel: {summary.sentinel} (dry run: nothing was stopped)")
    lines.append(f"log:      {summary.log_path}")
    with contextlib.suppress(OSError):  # the terminal is gone; everything is in the log file
        print("\n".join(lines), file=out, flush=True)


def _frame_tap() -> object:
    """The preview's tap on the job (imported here: PyAV and numpy only when a job runs)."""
    from core.preview import FrameTap

    return FrameTap()
