"""``framedeck attach`` and ``framedeck status``: a running session from another terminal.

A session (``tui``, ``tui --headless``, ``demo``) listens on a socket of its own (see
:mod:`session.remote`). ``attach`` opens the full console on it (q detaches, the session
goes on); ``status`` prints where it stands and exits. textual loads only for ``attach``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from core.errors import InputError
from core.rate import format_eta


def add_parser(sub: argparse._SubParsersAction) -> None:
    attach = sub.add_parser(
        "attach",
        help="open the console of a running session (e.g. from a new SSH login); q detaches",
        description=(
            "Open the full console of a running framedeck session: the same panels, the log so far "
            "and every key. q (or closing this terminal) detaches; the session goes on."
        ),
    )
    _add_target(attach)
    attach.set_defaults(handler=handle_attach)
    status = sub.add_parser("status", help="one screen on a running session: job, progress, ETA, watchdog, stop")
    _add_target(status)
    status.add_argument("--json", action="store_true", help="the same as one JSON object")
    status.set_defaults(handler=handle_status)


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pid", nargs="?", default=None, help="the session's process id (default: the only one running)")
    parser.add_argument("--socket", metavar="PATH", default=None, help="the session's socket, if not the usual place")


def handle_status(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from session.remote.client import fetch_status
    from session.remote.paths import choose_socket

    out = out or sys.stdout
    status = fetch_status(choose_socket(args.pid, socket_file=args.socket))
    if args.json:
        print(json.dumps(status, indent=2), file=out)
    else:
        print(status_text(status), file=out)
    return 0


def status_text(s: dict[str, Any]) -> str:
    """The one-screen summary, one fact a line."""
    stage = s["stage"] + (", PAUSED" if s.get("paused") else "")
    rate = f"  {s['pairs_per_second']:.2f} pairs/s" if s.get("pairs_per_second") else ""
    lines = [
        f"session   pid {s['pid']}",
        f"job       {s['job']}",
        f"stage     {stage}",
        f"progress  {s['pairs_done']}/{s['pairs_total'] or '?'} pairs ({s['percent']}%){rate}",
        f"time      elapsed {format_eta(s.get('elapsed_seconds'))}  ETA {format_eta(s.get('eta_seconds'))}",
    ]
    clips = s.get("clips") or {}
    if sum(clips.values()) > 1:
        lines.append("clips     " + ", ".join(f"{n} {state}" for state, n in clips.items()))
    w = s.get("watchdog")
    if w is None:
        lines.append("watchdog  none (no --upload): the machine is not stopped")
    else:
        dry = " (dry run)" if w["dry_run"] else " (LIVE stop)"
        checks = f", verified {w['verified']}/{w['required']}" if w["required"] else ""
        lines.append(f"watchdog  {w['state']}{checks}{dry} -> {w['target']}")
        if w["state"] == "awaiting confirmation":
            lines.append("stop      waits for a person: press s in the console")
        elif not w["finished"]:
            stop = s.get("stop_in_seconds")
            lines.append(f"stop in   {'about ' + format_eta(stop) if stop is not None else 'not known yet'}")
    if s.get("error"):
        lines.append(f"error     {s['error']}")
    lines.append(f"log       {s['log']}")
    return "\n".join(lines)


def handle_attach(args: argparse.Namespace) -> int:
    from tui.remote_session import RemoteSession

    session = RemoteSession.open(args.pid, socket_file=args.socket)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        session.close()
        raise InputError("framedeck attach needs a terminal; framedeck status prints a summary without one.")
    from core.host_health import HostSampler
    from core.telemetry import GpuTelemetry
    from tui.attach_app import AttachApp
    from tui.commands.console import _print_summary
    from tui.widgets.gpu_panel import sampler_for

    telemetry = GpuTelemetry()  # the same machine's GPUs, through NVML: no model, no torch here
    host = HostSampler()  # the same machine's CPU, RAM and the output's disk, as the session's screen
    host.watch(session.output_path)
    session.subscribe(host.on_event)
    app = AttachApp(session, sampler=sampler_for(telemetry, lambda: None, host), job_name=session.job_name,
                    handle_hangup=True)
    try:
        summary = app.run()
    finally:
        session.close()
        telemetry.close()
    if session.lost:
        print(f"framedeck: the session (pid {session.pid}) went away; its log is {session.log_path}.",
              file=sys.stderr)
        return 1
    if session.state_value("done") and summary is not None:
        _print_summary(summary, sys.stdout)
    else:
        print(f"Detached; session {session.pid} goes on (framedeck attach {session.pid} comes back).")
    return 0
