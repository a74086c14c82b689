"""The attach protocol's pieces: events through JSON and back, and what a late console replays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.events import JobStarted, LogRecord, PairDone, Stage, StageChanged, StageTimes
from monitor.events import Comparison, VerificationCheck, WatchStateChanged
from monitor.states import WatchState
from session.clips import Clip, ClipChanged, ClipState
from session.remote.history import History, SentEvent
from session.remote.protocol import decode, dump_line, encode, load_line
from tui.session import SessionSummary
from tui.watchdog_link import WatchdogView


def through_the_socket(value: object) -> object:
    return decode(load_line(dump_line({"value": encode(value)}))["value"])


@pytest.mark.parametrize("event", [
    StageChanged(Stage.INTERPOLATING, "95 pairs"),
    JobStarted("in.mp4", "out.mp4", 96, 54, 24.0, 48.0, 95, 192, "blend", "cpu", "fp32", 1, "libx264"),
    PairDone(4, 95, 0.01, 10, True, None, None, 0.3),
    StageTimes({"decode": 1.5, "model": 2.25}),
    LogRecord("warning", "disk nearly full", 1_700_000_000.5),
    WatchStateChanged(WatchState.WAITING, WatchState.VERIFYING, "1 file"),
    VerificationCheck(True, 1, 2, (Comparison("size", "10", "10", True), Comparison("sha1", "ab", "ab", True)),
                      "", 1_700_000_001.0),
    ClipChanged(Clip(Path("/in/a.mp4"), Path("/out/a.mp4"), ClipState.RUNNING, id=7, pairs_done=3, rate=2.5), 0),
    WatchdogView(state="countdown", target="file:///up", countdown=12.5, dry_run=True),
    SessionSummary(output="/out/a.mp4", error=None, log_path="/out/framedeck.log", model="model blend"),
])
def test_an_event_comes_back_equal(event: object) -> None:
    assert through_the_socket(event) == event


def test_only_framedeck_types_are_built() -> None:
    for name in ("os:system", "subprocess:Popen", "builtins:eval", "core.events"):
        with pytest.raises(ValueError):
            decode({"__type__": name})
    with pytest.raises(ValueError):
        decode({"__enum__": "signal:Signals", "value": 9})
    assert decode(json.loads('{"plain": [1, 2]}')) == {"plain": (1, 2)}


def test_a_late_console_replays_the_log_and_only_the_newest_progress() -> None:
    history = History(limit=5)

    def add(event: object) -> None:
        history.add(SentEvent(event, 0.0))

    add(StageChanged(Stage.INTERPOLATING))
    add(PairDone(0, 9, 0.1, 2, True, None, None, 0.1))
    add(LogRecord("info", "one", 1.0))
    add(PairDone(1, 9, 0.1, 4, True, None, None, 0.2))  # replaces pair 0, in its own place
    events = [item.event for item in history.items()]
    assert events == [StageChanged(Stage.INTERPOLATING), LogRecord("info", "one", 1.0),
                      PairDone(1, 9, 0.1, 4, True, None, None, 0.2)]
    for i in range(6):
        add(LogRecord("info", f"line {i}", 2.0 + i))
    messages = [item.event.message for item in history.items()]  # type: ignore[attr-defined]
    assert messages == [f"line {i}" for i in range(1, 6)]  # at most ``limit``, the oldest go
    item = history.items()[-1]
    assert item.render() is item.render()  # encoded once for every console


def test_the_attach_console_loads_no_model_code() -> None:
    """``framedeck attach`` only shows and sends keys: with the command and the screen loaded,
    no model, interpolator or pipeline module is, and not torch (the host-health sampler neither)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import sys, tui.cli, tui.commands.attach, tui.attach_app, tui.remote_session, tui.widgets.gpu_panel;"
        "tui.cli.build_parser();"
        "import core.host_health;"
        "print(sorted(m for m in sys.modules if m in ('core.job', 'core.model_runner', 'session.warm_model', 'torch')"
        " or m.startswith('core.interpolators')))"
    )
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert printed.stdout.strip() == "[]", printed.stdout + printed.stderr
