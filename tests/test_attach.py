"""``framedeck attach`` and ``framedeck status``: a session seen from another process.

A real ``framedeck tui --headless`` runs in a subprocess (held mid-job by an injected hang);
the real console attaches through its socket in ``run_test`` and pauses, resumes and
aborts it. In-process tests cover the socket's rules (another uid is refused, a dead
session's socket is removed) and a remote key reaching the local console.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.errors import InputError
from sample_media.generate import write_clip
from session.clips import ClipState
from session.remote.client import fetch_status
from session.remote.paths import peer_uid, private_folder, socket_folder, socket_path
from session.remote.server import SessionServer
from tests.conftest import ROOT
from tests.scripted_job import ScriptedJob
from tests.tui_pilot import NO_TMUX_ENV, enter_path, make_app, make_session, screen_text, wait_for
from tui.attach_app import AttachApp
from tui.cli import main
from tui.commands.attach import status_text
from tui.remote_session import RemoteSession
from tui.screens.confirm import ChoiceScreen
from tui.widgets.log_panel import LogPanel

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="Unix sockets only")


async def until(condition, limit: float, what: str, proc: subprocess.Popen | None = None) -> None:
    """Poll ``condition`` without blocking the event loop; a safety net, not a timing assertion."""
    end = time.monotonic() + limit
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the session exited early ({proc.returncode}) waiting for {what}")
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def log_text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def test_attach_pauses_resumes_and_aborts_a_headless_session(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", 96, 54, 24, 4.0, audio=False)  # 96 frames, 95 pairs
    output, log = tmp_path / "out.mp4", tmp_path / "session.log"
    env = {**os.environ, "FRAMEDECK_INJECT": "hang@pair=5,seconds=300"}  # held at pair 5 until aborted
    command = [
        sys.executable, "-m", "tui.cli", "tui", str(clip), "-o", str(output), "--model", "blend",
        "--device", "cpu", "--batch", "1", "--headless", "--log-file", str(log), "--stall-timeout", "600",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    sock = socket_path(proc.pid)
    watcher: RemoteSession | None = None
    try:
        await until(lambda: sock.exists() and "stage interpolating" in log_text(log), 120, "the job", proc)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700

        printed = subprocess.run(
            [sys.executable, "-m", "tui.cli", "status", "--json"], capture_output=True, text=True,
            cwd=ROOT, timeout=60, check=True,
        ).stdout
        status = json.loads(printed)
        assert status["pid"] == proc.pid and status["running"] and not status["paused"]
        assert status["stage"] == "interpolating" and status["pairs_total"] == 95
        assert status["job"] == "clip.mp4 -> out.mp4" and status["watchdog"] is None

        watcher = RemoteSession.open(str(proc.pid))  # a second console, reading the same state
        threading.Thread(target=watcher.run, daemon=True).start()
        session = RemoteSession.open(str(proc.pid))
        app = AttachApp(session, env=NO_TMUX_ENV)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.job.stage == "interpolating" and app.job.total == 95)
            history = [r.message for r in app.query_one(LogPanel).records]
            assert any(m.startswith("stage interpolating") for m in history)  # the log so far
            assert any(m.startswith("job ") for m in history)

            await pilot.press("p")
            await wait_for(pilot, lambda: "paused between batches (p resumes) (attached console)" in log_text(log))
            await wait_for(pilot, lambda: app.job.paused and "PAUSED" in screen_text(app))
            await until(lambda: watcher.pause.is_set(), 30, "the other console to see the pause")
            assert fetch_status(sock)["paused"] is True

            await pilot.press("p")  # the footer's Resume
            await wait_for(pilot, lambda: "resumed (attached console)" in log_text(log))
            await wait_for(pilot, lambda: not app.job.paused and not session.pause.is_set())
            await until(lambda: not watcher.pause.is_set(), 30, "the other console to see the resume")

            await pilot.press("a")
            assert isinstance(app.screen, ChoiceScreen)  # asked here, on the console where a was pressed
            assert watcher.job_running  # nothing happened before the answer
            await pilot.press("y")  # abort, keep the progress
            await wait_for(pilot, lambda: app.summary is not None, 120)
            assert app.job.stage == "aborted"
            assert "run the same command to resume" in (app.summary.error or "")  # kept
            await pilot.press("q")
            await wait_for(pilot, lambda: not app.is_running)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if watcher is not None:
            watcher.close()
    assert proc.returncode == 130, proc.stdout.read().decode()[-2000:] if proc.stdout else ""
    text = log.read_text()
    assert "abort requested from an attached console" in text
    assert not output.exists()
    assert not sock.exists()  # the session removed its socket when it ended
    assert watcher.done.is_set() and not watcher.lost, (watcher.lost, watcher._state)
    assert watcher.state_value("summary").error == app.summary.error


async def test_q_detaches_and_leaves_the_session_running(tmp_path: Path) -> None:
    job = ScriptedJob(pairs=3)
    local = make_session(tmp_path, job)
    server = SessionServer(local, tmp_path / "s.sock")
    server.start()
    worker = threading.Thread(target=local.run, daemon=True)
    worker.start()
    try:
        session = RemoteSession.open(socket_file=str(tmp_path / "s.sock"))
        app = AttachApp(session, env=NO_TMUX_ENV)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.job.stage == "interpolating")
            await pilot.press("q")  # no question: detaching never stops anything
            await wait_for(pilot, lambda: not app.is_running)
        assert session.detached and not session.lost
        assert not local.cancel.is_set() and not local.done.is_set()
        job.release(3)
        worker.join(30)
        assert local.error is None and local.result is not None  # it finished on its own
    finally:
        local.cancel.set()
        server.close()


async def test_a_key_on_an_attached_console_reaches_the_local_console(tmp_path: Path) -> None:
    job = ScriptedJob(pairs=4)
    local = make_session(tmp_path, job)
    app = make_app(local)
    server = SessionServer(local, tmp_path / "s.sock")
    server.start()
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: job.started.is_set())
            remote = RemoteSession.open(socket_file=str(tmp_path / "s.sock"))
            threading.Thread(target=remote.run, daemon=True).start()
            remote.pause.set()
            await wait_for(pilot, lambda: local.pause.is_set() and app.job.paused)
            assert "PAUSED" in screen_text(app)
            remote.pause.clear()
            await wait_for(pilot, lambda: not app.job.paused)
            job.release(4)
            await wait_for(pilot, lambda: app.summary is not None)
            await until(lambda: remote.done.is_set(), 30, "the attached console to see the end")
            assert remote.state_value("summary").error is None
            remote.close()
            await pilot.press("q")
    finally:
        server.close()


def test_another_users_connection_is_refused(tmp_path: Path) -> None:
    session = make_session(tmp_path, ScriptedJob(pairs=2))
    path = socket_folder() / "refuse.sock"
    mine = SessionServer(session, path)  # the real SO_PEERCRED check lets this user in
    mine.start()
    try:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(str(path))
        assert peer_uid(probe) == (os.getuid() if hasattr(socket, "SO_PEERCRED") else None)
        probe.close()
        assert fetch_status(path)["pid"] == os.getpid()
    finally:
        mine.close()
    other = SessionServer(session, path, peer_uid=lambda sock: os.getuid() + 1)  # as if uid+1 connected
    other.start()
    try:
        with pytest.raises(InputError, match="refused this connection"):
            fetch_status(path)
        with pytest.raises(InputError, match="refused this connection"):
            RemoteSession.open(socket_file=str(path))
    finally:
        other.close()
    session.close()
    assert f"refused a connection to the session's socket from uid {os.getuid() + 1}" in (
        tmp_path / "framedeck.log"
    ).read_text()
    assert not path.exists()


def test_a_dead_sessions_socket_is_removed_and_status_says_none_runs(capsys: pytest.CaptureFixture[str]) -> None:
    folder = private_folder(socket_folder())
    stale = folder / "999999.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(stale))  # what a killed session leaves: the file, nobody listening
    dead.close()
    assert stale.exists()
    assert main(["status"]) == 2
    assert not stale.exists()
    err = capsys.readouterr().err
    assert err.startswith("framedeck: No framedeck session is running") and err.count("\n") == 1
    assert main(["attach", "4242"]) == 2
    assert "No framedeck session with pid 4242 is running." in capsys.readouterr().err


def test_status_text_says_job_progress_eta_watchdog_and_stop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = ScriptedJob(pairs=8)
    session = make_session(tmp_path, job)
    server = SessionServer(session, socket_folder() / f"{os.getpid()}.sock")
    server.start()
    worker = threading.Thread(target=session.run, daemon=True)
    worker.start()
    try:
        job.release(5)
        deadline = time.monotonic() + 30
        while job.emitted_pairs < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert main(["status"]) == 0
        text = capsys.readouterr().out
        assert "job       in.mp4 -> out.mp4" in text
        assert "progress  5/8 pairs (62%)  2.00 pairs/s" in text
        assert "ETA 0:01" in text or "ETA 0:02" in text
        assert "watchdog  none" in text
        assert len(text.splitlines()) <= 12
    finally:
        session.cancel.set()
        job.release(10)
        worker.join(30)
        server.close()


async def test_watchdog_keys_from_an_attached_console(tmp_path: Path) -> None:
    """d (asks, then goes live; d again back to dry run), x cancels the countdown, s stops:
    each asked on the attached console and applied in the session's process."""
    from tests.test_tui_watchdog import ManualClock, finished_job, link_for
    from tui.screens.confirm import ConfirmScreen

    clock = ManualClock()
    link = link_for(tmp_path, clock, shutdown="command:true")
    finished_job(tmp_path)  # the output file the watchdog uploads once the job ends
    job = ScriptedJob(pairs=2)
    local = make_session(tmp_path, job, link=link, sleep=clock.sleep)
    server = SessionServer(local, tmp_path / "s.sock")
    server.start()
    worker = threading.Thread(target=local.run, daemon=True)
    worker.start()
    try:
        session = RemoteSession.open(socket_file=str(tmp_path / "s.sock"))
        app = AttachApp(session, env=NO_TMUX_ENV)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: job.started.is_set() and "DRY RUN" in screen_text(app))
            await pilot.press("d")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await wait_for(pilot, lambda: link.watchdog.dry_run is False and session.link.view().dry_run is False)
            await wait_for(pilot, lambda: "DRY RUN" not in screen_text(app))
            await pilot.press("d")  # back to a dry run: no question
            assert not isinstance(app.screen, ConfirmScreen)
            await wait_for(pilot, lambda: link.watchdog.dry_run is True and "DRY RUN" in screen_text(app))
            job.release(2)
            await wait_for(pilot, lambda: app.countdown_active)
            status = fetch_status(tmp_path / "s.sock")
            assert status["watchdog"]["state"] == "countdown" and status["stop_in_seconds"] == 30.0
            text = status_text(status)
            assert "watchdog  countdown, verified 2/2 (dry run) -> file://" in text and "stop in   about 0:30" in text
            await pilot.press("x")
            await wait_for(pilot, lambda: link.view().state == "verified" and not app.countdown_active)
            await pilot.press("s")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await wait_for(pilot, lambda: app.summary is not None)
            assert link.view().state == "stopped"
            await pilot.press("q")
    finally:
        local.cancel.set()
        worker.join(30)
        server.close()
    assert (tmp_path / "sentinel.json").exists()  # a dry run: the sentinel, nothing stopped
    log = (tmp_path / "framedeck.log").read_text()
    assert "LIVE STOP armed" in log and "dry run on" in log and "countdown cancelled" in log


def test_framedeck_attach_in_a_terminal_q_detaches_and_a_closed_terminal_too(tmp_path: Path) -> None:
    """The real command on a pty: q detaches (it says so), closing the terminal or SIGTERM ends
    the attach process; the session runs on through all three."""
    import pty

    from tests.test_tui_sighup import drain, take_controlling_terminal, wait_until

    clip = write_clip(tmp_path / "clip.mp4", 96, 54, 24, 4.0, audio=False)
    log = tmp_path / "session.log"
    env = {**os.environ, "FRAMEDECK_INJECT": "hang@pair=5,seconds=300"}
    session = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "tui", str(clip), "-o", str(tmp_path / "out.mp4"), "--model", "blend",
         "--device", "cpu", "--headless", "--log-file", str(log), "--stall-timeout", "600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=env,
    )
    sock = socket_path(session.pid)
    try:
        wait_until(lambda: sock.exists() and "stage interpolating" in log_text(log), 120, "the job", session)
        for leave in ("q", "close the terminal", "SIGTERM"):
            master, slave = pty.openpty()
            console = subprocess.Popen(
                [sys.executable, "-m", "tui.cli", "attach", str(session.pid)], stdin=slave, stdout=slave,
                stderr=slave, cwd=ROOT, env={**os.environ, "TERM": "xterm-256color"}, start_new_session=True,
                preexec_fn=take_controlling_terminal,
            )
            os.close(slave)
            screen = bytearray()
            reader = threading.Thread(target=drain, args=(master, screen), daemon=True)
            reader.start()
            try:
                wait_until(lambda s=screen: b"Detach" in s and b"interpolating" in s, 60, "the console", console)
                if leave == "q":
                    os.write(master, b"q")
                    console.wait(timeout=60)
                    reader.join(timeout=10)
                    assert console.returncode == 0
                    assert f"Detached; session {session.pid} goes on".encode() in bytes(screen[-3000:])
                elif leave == "SIGTERM":
                    console.terminate()
                    console.wait(timeout=60)
                    reader.join(timeout=10)
                    assert f"Detached; session {session.pid} goes on".encode() in bytes(screen[-3000:])
                else:
                    os.close(master)
                    master = -1
                    console.wait(timeout=60)  # it ends by itself
            finally:
                if console.poll() is None:
                    console.kill()
                    console.wait()
                if master >= 0:
                    os.close(master)
            status = fetch_status(sock)
            assert status["running"] and status["stage"] == "interpolating", status
        assert "abort requested" not in log_text(log) and "SIGTERM" not in log_text(log)
    finally:
        session.terminate()
        session.wait(timeout=60)


def test_a_console_that_went_on_headless_can_still_be_attached(tmp_path: Path) -> None:
    """``framedeck tui`` whose terminal closed (tmux kill-session) keeps its socket: status
    sees it and an attached console's abort ends it."""
    from tests.test_tui_sighup import start_console, wait_until

    proc, master, _screen, _clip, output, log = start_console(tmp_path, [], "hang@pair=5,seconds=300")
    sock = socket_path(proc.pid)
    try:
        wait_until(lambda: sock.exists() and "stage interpolating" in log_text(log), 120, "the job", proc)
        os.close(master)  # the terminal is gone; the session goes on headless
        master = -1
        wait_until(lambda: "the terminal went away" in log_text(log), 60, "the hang-up", proc)
        assert fetch_status(sock)["running"] is True
        remote = RemoteSession.open(str(proc.pid))
        threading.Thread(target=remote.run, daemon=True).start()
        remote.discard_progress = True
        remote.cancel.set()  # what the abort question's "discard" answer sends
        proc.wait(timeout=120)
        assert remote.done.wait(30) and not remote.lost
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if master >= 0:
            os.close(master)
    text = log.read_text()
    assert proc.returncode == 130, text[-2000:]
    assert "progress discarded" in text and not output.exists()
    assert not sock.exists()


async def test_attaching_to_a_session_that_has_ended_shows_how_it_ended(tmp_path: Path) -> None:
    job = ScriptedJob(pairs=3, gated=False)
    local = make_session(tmp_path, job)
    server = SessionServer(local, tmp_path / "s.sock")
    server.start()
    local.run()  # over, but its screen (and so its socket) is still open
    try:
        session = RemoteSession.open(socket_file=str(tmp_path / "s.sock"))
        app = AttachApp(session, env=NO_TMUX_ENV)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.summary is not None)
            assert app.job.finished and app.job.done == 3 and app.job.stage == "done"
            assert not app.job_active
            notices = lambda: [n.message for n in app._notifications]  # noqa: E731
            await wait_for(pilot, lambda: "The job finished and the watchdog is done; q quits." in notices())
            await pilot.press("q")
            await wait_for(pilot, lambda: not app.is_running)
        assert app.return_value is not None and app.return_value.error is None
    finally:
        server.close()


async def test_queue_keys_from_an_attached_console(tmp_path: Path) -> None:
    """+ adds a file (a wrong path is refused in its sentence), n skips the running clip after
    asking: on the attached console, applied to the session's queue."""
    from core.options import JobOptions
    from tests.test_tui_queue import QueueJob
    from tui.screens.confirm import ConfirmScreen
    from tui.screens.path_prompt import PathPrompt
    from tui.session import ConsoleSession

    out = tmp_path / "out"
    out.mkdir()
    names = ["a.mp4", "b.mp4"]
    job = QueueJob(pairs=4)
    local = ConsoleSession(
        names[0], str(out / names[0]), JobOptions(), log_path=tmp_path / "framedeck.log", run_job=job,
        sleep=lambda s: None, clips=[(str(tmp_path / n), str(out / n)) for n in names], output_folder=out,
    )
    extra = tmp_path / "f.mov"
    extra.write_bytes(b"not read: the clip is only queued")
    server = SessionServer(local, tmp_path / "s.sock")
    server.start()
    worker = threading.Thread(target=local.run, daemon=True)
    worker.start()
    try:
        session = RemoteSession.open(socket_file=str(tmp_path / "s.sock"))
        app = AttachApp(session, env=NO_TMUX_ENV)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.has_queue and app.engine.current is not None)
            await pilot.press("plus")
            await wait_for(pilot, lambda: isinstance(app.screen, PathPrompt))
            await enter_path(pilot, tmp_path / "missing.mp4")
            notices = lambda: [n.message for n in app._notifications]  # noqa: E731
            await wait_for(pilot, lambda: any("does not exist" in n for n in notices()))
            await pilot.press("plus")
            await wait_for(pilot, lambda: isinstance(app.screen, PathPrompt))
            await enter_path(pilot, extra)
            await wait_for(pilot, lambda: local.engine.clips[-1].input == extra)
            assert local.engine.clips[-1].output == out / "f.mov"
            await wait_for(pilot, lambda: len(app.engine.clips) == 3)  # the attached queue shows it
            running = local.engine.current
            assert running is not None
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert local.engine.current is running  # nothing before the answer
            await pilot.press("y")
            await wait_for(pilot, lambda: running.state is ClipState.SKIPPED)
            await pilot.press("q")
    finally:
        local.cancel.set()
        job.release(100)
        worker.join(30)
        server.close()
    log = (tmp_path / "framedeck.log").read_text()
    assert f"added {extra} -> {out / 'f.mov'} (attached console)" in log
    assert "at the user's request" in log
