"""The framedeck console: a Textual app over one :class:`tui.session.ConsoleSession`.

The session (job, then watchdog) runs in a thread worker of the group ``job``; GPU
telemetry is sampled in a thread worker of the group ``telemetry`` about once a second.
Core events reach the UI through a coalescing :class:`tui.messages.EventInbox`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Footer
from textual.worker import Worker

from core.errors import FramedeckError, JobAborted
from core.events import JobStarted, LogRecord, ModelChosen, PairDone, StageTimes
from monitor.events import (
    CountdownTick,
    StopOutcome,
    UploadFinished,
    UploadProgress,
    VerificationCheck,
    WatchStateChanged,
)
from session.clips import ClipChanged, ClipState, QueueClosed
from session.estimate import queue_eta, stop_eta
from session.lines import describe
from session.remote.protocol import ControlApplied
from tui.hangup import (
    ignore_further_hangups,
    silence_terminal,
    terminal_gone,
    unblock_screen_writer,
)
from tui.messages import EventInbox, EventsWaiting, SessionEnded
from tui.screens.confirm import ChoiceScreen, ConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.log_filter import LogFilterScreen
from tui.screens.path_prompt import PathPrompt
from tui.screens.preview import PreviewScreen
from tui.session import ConsoleSession, SessionSummary
from tui.widgets.gpu_panel import GpuPanel, GpuSampled, GpuState, rates_by_gpu
from tui.widgets.header import HeaderBar
from tui.widgets.job_panel import JobPanel, JobState
from tui.widgets.log_panel import LogPanel
from tui.widgets.outlook_rows import outlook_for
from tui.widgets.queue_panel import QueuePanel
from tui.widgets.watchdog_panel import WatchdogPanel

Sampler = Callable[[], GpuSampled]
DRAIN_INTERVAL = 0.5  # seconds: the screen follows the job at most twice a second (BENCHMARKS.md)
QUIET_EVENTS = (PairDone, LogRecord, StageTimes, UploadProgress)  # change no key: the footer stays
QUEUE_ACTIONS = ("skip_clip", "retry_clip", "move_clip", "select_clip", "add_clip")
COMPACT_HEIGHT = 32  # below this many rows the Queue panel takes the GPU panel's place
QUEUE_EVENTS = (ClipChanged, QueueClosed, PairDone)
WATCH_EVENTS = (WatchStateChanged, UploadProgress, UploadFinished, VerificationCheck, CountdownTick, StopOutcome,
                ControlApplied)  # a key pressed on an attached console (framedeck attach)


class FramedeckApp(App[SessionSummary]):
    """Header, GPU and job panels, log and watchdog panels, and the footer's keys."""

    CSS_PATH = "app.tcss"
    TITLE = "framedeck"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("a", "abort", "Abort"),
        Binding("p", "pause", "Pause"),
        Binding("p", "resume", "Resume"),  # the footer shows the one that applies
        Binding("d", "toggle_dry_run", "Dry-run"),
        Binding("d", "explain_dry_run", "Dry-run", show=False),  # d while dimmed: say why
        Binding("s", "stop_now", "Stop"),
        Binding("x", "cancel_countdown", "Cancel"),
        Binding("l", "focus_log", "Log"),
        Binding("n", "skip_clip", "Skip", show=False),
        Binding("r", "retry_clip", "Retry", show=False),
        Binding("left_square_bracket", "move_clip(-1)", "Move up", show=False, key_display="["),
        Binding("right_square_bracket", "move_clip(1)", "Move down", show=False, key_display="]"),
        Binding("k", "select_clip(-1)", "Select up", show=False),
        Binding("j", "select_clip(1)", "Select down", show=False),
        Binding("plus", "add_clip", "Add", show=False, key_display="+"),
        Binding("slash", "filter_log", "Filter", key_display="/"),
        Binding("v", "preview", "Preview", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(
        self,
        session: ConsoleSession,
        *,
        sampler: Sampler | None = None,
        gpu_interval: float | None = 1.0,
        env: Mapping[str, str] | None = None,
        job_name: str | None = None,
        handle_hangup: bool = False,
        on_headless: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.sampler = sampler
        self.gpu_interval = gpu_interval
        self.env = dict(os.environ if env is None else env)
        self.job_name = job_name or f"{Path(session.input_path).name} -> {Path(session.output_path).name}"
        self.handle_hangup = handle_hangup
        self.on_headless = on_headless  # called once the session goes on without the screen
        self.terminated = False  # SIGTERM ended the session
        self.inbox = EventInbox(self.post_message)
        self.job = JobState()
        self.gpu = GpuState()
        self.link = session.link
        self.worker: Worker[SessionSummary] | None = None
        self.summary: SessionSummary | None = None
        self._quit_question: ConfirmScreen | None = None  # up while it asks; gone once moot
        self.closing = False
        self._last_drain = 0.0
        self._drain_timer: Timer | None = None
        self.engine = session.engine
        self.has_queue = len(self.engine.clips) > 1 or self.engine.output_folder is not None
        if self.has_queue and job_name is None:
            where = self.engine.output_folder or self.engine.clips[0].output.parent
            self.job_name = f"{len(self.engine.clips)} clips -> {where}/"

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield HeaderBar(self.job_name, self.session.options.device, self.env, id="header")
        with Horizontal(id="top"):
            yield JobPanel(self.job, id="job")
            yield GpuPanel(self.gpu, id="gpu")
            if self.has_queue:
                yield QueuePanel(id="queue-side", classes="queue")
        if self.has_queue:
            with Horizontal(id="middle"):
                yield QueuePanel(max_rows=9, id="queue-row", classes="queue")
        with Horizontal(id="bottom"):
            yield LogPanel(str(self.session.log_path), id="log")
            yield WatchdogPanel(id="watchdog")
        yield Footer()

    def on_mount(self) -> None:
        header = self.query_one(HeaderBar)
        if self.link is not None:
            view = self.link.view()
            header.set_dry_run(view.dry_run)
            self.query_one(WatchdogPanel).show_view(view)
        self.session.subscribe(self.inbox.put)
        if self.has_queue:
            self._place_queue()
            self._show_queue()
        self.worker = self.run_session()
        if self.sampler is not None:
            self.sample_gpu()
            if self.gpu_interval:
                self.set_interval(self.gpu_interval, self.sample_gpu)
        if self.handle_hangup:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.hang_up)
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.terminate)
            self.set_interval(1.0, self._check_terminal)

    # -- workers -----------------------------------------------------------------------------

    @work(thread=True, group="job", exit_on_error=False)
    def run_session(self) -> SessionSummary:
        summary = self.session.run()
        self.post_message(SessionEnded(summary))
        return summary

    @work(thread=True, group="telemetry", exclusive=True, exit_on_error=False)
    def sample_gpu(self) -> None:
        assert self.sampler is not None
        self.post_message(self.sampler())

    # -- incoming messages -------------------------------------------------------------------

    @property
    def showing(self) -> bool:
        """False while the app shuts down (no screen left to draw on)."""
        return bool(self.screen_stack) and self.is_running

    def on_events_waiting(self, _: EventsWaiting) -> None:
        """Drain the inbox at most every DRAIN_INTERVAL; what arrives meanwhile coalesces."""
        if not self.showing or self._drain_timer is not None:
            return
        wait = self._last_drain + DRAIN_INTERVAL - time.monotonic()
        if wait > 0:
            self._drain_timer = self.set_timer(wait, self._drain)
        else:
            self._drain()

    def _drain(self) -> None:
        self._drain_timer = None
        self._last_drain = time.monotonic()
        if not self.showing:
            return
        job_changed = watchdog_changed = queue_changed = keys_changed = False
        log = self.query_one(LogPanel)
        for event in self.inbox.drain():
            keys_changed = keys_changed or not isinstance(event, QUIET_EVENTS)
            if isinstance(event, WATCH_EVENTS):
                watchdog_changed = True
            if isinstance(event, LogRecord):
                log.add(event)
            elif (line := describe(event)) is not None:  # the lines the log file gets
                log.add(LogRecord(line[0], line[1], self.session.event_time(event)))
            if isinstance(event, JobStarted):
                self.query_one(HeaderBar).set_device(event.device)
                paused = self.job.paused
                self.job.__init__()  # a new clip: the panel starts over
                self.job.paused = paused
            if isinstance(event, ModelChosen):
                self.query_one(HeaderBar).set_model(f"{event.title} {event.precision} ({event.reason})")
            queue_changed = queue_changed or isinstance(event, QUEUE_EVENTS)
            job_changed = self.job.apply(event) or job_changed
        if self.job.paused != self.session.pause.is_set():  # paused or resumed on another console
            self.job.paused, job_changed = self.session.pause.is_set(), True
        if job_changed:
            self._show_outlook()
        if watchdog_changed and self.link is not None:
            self._show_watchdog()
        if (queue_changed or watchdog_changed) and self.has_queue:
            self._show_queue()
        if keys_changed:  # the footer recomposes itself: only when a key may have changed
            self.refresh_bindings()

    def on_gpu_sampled(self, message: GpuSampled) -> None:
        if not self.showing:
            return
        self.gpu.apply(message)
        self.gpu.rates = rates_by_gpu(self.job.workers)
        self.query_one(GpuPanel).show()
        self.job.written_bytes = message.host.written_bytes if message.host is not None else None
        self._show_outlook()  # the clock and the cost move on between job events

    def _show_outlook(self) -> None:
        """The job panel with time and money (tui/widgets/outlook_rows.py) brought up to now."""
        estimate = self.gpu.host.output_estimate if self.gpu.host is not None else None
        self.job.outlook = outlook_for(self.session, self.job.eta, estimate)
        self.job.has_watchdog = self.link is not None
        last = self.session.checker.last
        self.job.check = last.short() if last is not None and self.job.finished else None
        self.query_one(JobPanel).show()

    def on_session_ended(self, message: SessionEnded) -> None:
        if self._drain_timer is not None:  # the job's last events are shown before its end
            self._drain_timer.stop()
        self._drain()
        self.summary = message.summary  # type: ignore[assignment]
        if self.showing:
            self.refresh_bindings()
            if self._quit_question is not None and self.screen is self._quit_question:
                self._quit_question.dismiss(False)  # nothing is left to abort: the question is moot
            if not self.closing:
                if self.summary.error is None:
                    outcome = "finished"
                elif self.session.error_code == JobAborted.exit_code:
                    outcome = "was aborted (nothing written to the output)"
                else:
                    outcome = "failed"
                self.notify(f"The job {outcome} and the watchdog is done; q quits.", timeout=30)

    # -- keys ----------------------------------------------------------------------------------

    @property
    def job_active(self) -> bool:
        return self.session.job_running

    @property
    def countdown_active(self) -> bool:
        return self.link is not None and self.link.view().countdown is not None

    @property
    def watchdog_busy(self) -> bool:
        """Uploading, verifying, counting down or stopping: quitting would cut that short."""
        if self.link is None:
            return False
        view = self.link.view()
        return not view.finished and view.state not in ("idle", "waiting for output")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """None dims a key that does not apply now (it stays in the footer)."""
        if self.closing and action not in ("quit", "help", "focus_log", "filter_log"):
            return None
        if action == "resume":  # shown instead of Pause while paused
            return bool(self.job_active and self.session.pause.is_set())
        if action == "pause" and self.job_active and self.session.pause.is_set():
            return False
        if action in ("abort", "pause"):
            return True if self.job_active else None
        if action == "toggle_dry_run":
            return True if self.link is not None and self.link.view().can_toggle_dry_run else None
        if action == "explain_dry_run":
            return self.link is not None and not self.link.view().can_toggle_dry_run
        if action == "stop_now":
            return True if self.link is not None and self.link.view().can_stop_now else None
        if action == "cancel_countdown":
            return True if self.countdown_active else None
        if action in QUEUE_ACTIONS:
            return self._queue_action_applies(action, parameters)
        return True

    async def action_quit(self) -> None:
        if self.closing:
            return
        if self.job_active or self.watchdog_busy:
            what = "the job" if self.job_active else f"the watchdog ({self.link.view().state})"  # type: ignore[union-attr]
            self._quit_question = ConfirmScreen(
                f"Quit? This aborts {what} and keeps the machine running.", "Quit", "Stay"
            )
            self.push_screen(self._quit_question, self._quit_confirmed)
            return
        await self.shut_down()

    async def _quit_confirmed(self, yes: bool | None) -> None:
        self._quit_question = None
        if yes:
            await self.shut_down()

    async def shut_down(self) -> None:
        """Cancel the job and the watchdog driver, wait for the worker, then exit."""
        self.closing = True
        self.refresh_bindings()
        self.session.cancel.set()
        self.session.pause.clear()
        self.session.quit.set()
        if self.link is not None:
            self.link.abandon()
        await asyncio.get_running_loop().run_in_executor(None, self.session.done.wait)
        self.exit(self.session.summary())

    def action_abort(self) -> None:
        if not self.job_active:
            return
        if self.session.job_kwargs.get("keep"):  # a journaled job: ask whether to keep its progress
            self.push_screen(
                ChoiceScreen(
                    "Abort the job? Its finished segments can be kept: running the same command "
                    "again resumes from them.",
                    [("y", "Abort, keep", "keep"), ("d", "Abort, discard", "discard"), ("n", "Continue", None)],
                ),
                self._abort_chosen,
            )
            return
        self.push_screen(
            ConfirmScreen("Abort the job? Nothing is written to the output.", "Abort", "Continue"),
            self._abort_confirmed,
        )

    def _abort_chosen(self, choice: str | None) -> None:
        if choice is not None and self.job_active:
            self.session.discard_progress = choice == "discard"
            self._abort_confirmed(True)

    def _abort_confirmed(self, yes: bool | None) -> None:
        if yes and self.job_active:
            self.session.note("warning", "abort requested from the console")
            self.session.cancel.set()
            self.session.pause.clear()

    def action_pause(self) -> None:
        if not self.job_active:
            return
        if self.session.pause.is_set():
            self.session.pause.clear()
            self.session.note("info", "resumed")
        else:
            self.session.pause.set()
            self.session.note("info", "paused between batches (p resumes)")
        self.job.paused = self.session.pause.is_set()
        self.query_one(JobPanel).show()
        self.refresh_bindings()

    def action_resume(self) -> None:
        if self.job_active and self.session.pause.is_set():
            self.action_pause()

    def action_toggle_dry_run(self) -> None:
        if self.link is None:
            return
        if self.link.view().dry_run:
            self.push_screen(
                ConfirmScreen(
                    "Turn dry-run off? The machine will really be stopped after verification.",
                    "Go live",
                    "Keep dry-run",
                ),
                self._live_confirmed,
            )
        else:
            self._set_dry_run(True)

    def action_explain_dry_run(self) -> None:
        """d pressed while the dry-run key is dimmed: one sentence on why it cannot change."""
        if self.link is None:
            return
        view = self.link.view()
        if view.dry_run and not view.live_allowed:
            why = f"Dry-run stays on: {self.link.live_refusal.rstrip('.')}."
        elif view.finished:
            why = "The watchdog has finished; dry-run no longer matters."
        else:
            why = "The stop has begun; dry-run can no longer change."
        self.notify(why, severity="warning")

    def _live_confirmed(self, yes: bool | None) -> None:
        if yes:
            self._set_dry_run(False)

    def _set_dry_run(self, dry_run: bool) -> None:
        assert self.link is not None
        if not self.link.set_dry_run(dry_run):
            self.notify(f"Dry-run stays on: {self.link.live_refusal}", severity="warning")
        self._show_watchdog()

    def action_stop_now(self) -> None:
        if self.link is None or not self.link.view().can_stop_now:
            return
        dry = self.link.view().dry_run
        question = "Stop the machine now?" + (" (dry run: only the sentinel is written)" if dry else "")
        self.push_screen(ConfirmScreen(question, "Stop", "Not yet"), self._stop_confirmed)

    def _stop_confirmed(self, yes: bool | None) -> None:
        if yes and self.link is not None:
            self.link.stop_now()
            self._show_watchdog()

    def action_cancel_countdown(self) -> None:
        if self.link is not None and self.countdown_active:
            self.link.cancel_countdown()
            self._show_watchdog()

    def action_focus_log(self) -> None:
        self.query_one(LogPanel).focus()

    def action_filter_log(self) -> None:
        log = self.query_one(LogPanel)

        def apply(text: str | None) -> None:
            if text is not None:
                log.set_filter(text)

        self.push_screen(LogFilterScreen(log.filter), apply)

    def action_preview(self) -> None:
        self.push_screen(PreviewScreen(self.session.job_kwargs.get("preview")))  # type: ignore[arg-type]

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def _show_watchdog(self) -> None:
        assert self.link is not None
        view = self.link.view()
        self.query_one(WatchdogPanel).show_view(view)
        self.query_one(HeaderBar).set_dry_run(view.dry_run)
        self.refresh_bindings()

    # -- the queue -------------------------------------------------------------------------------

    def _queue_panels(self) -> list[QueuePanel]:
        return list(self.query(QueuePanel))

    def _place_queue(self) -> None:
        """Compact screens: the queue beside the job instead of the GPU panel; else a row."""
        compact = self.size.height < COMPACT_HEIGHT
        self.query_one(GpuPanel).display = not compact
        self.query_one("#queue-side").display = compact
        self.query_one("#middle").display = not compact

    def on_resize(self) -> None:
        if self.has_queue:
            self._place_queue()

    def _show_queue(self) -> None:
        clips = self.engine.snapshot()
        eta = queue_eta(clips)
        stop_at = None
        if self.link is not None and eta is not None:
            w = self.link.watchdog
            wait = stop_eta(eta, confirm=w.required, check_interval=w.check_interval, countdown=w.countdown)
            stop_at = self.session.wall() + wait if wait is not None else None
        for panel in self._queue_panels():
            panel.selected = self.queue_selected
            panel.show(clips, eta, stop_at)
        self.queue_selected = self._queue_panels()[0].selected

    queue_selected = 0

    def _selected(self) -> object | None:
        clips = self.engine.snapshot()
        return clips[self.queue_selected] if 0 <= self.queue_selected < len(clips) else None

    def _queue_action_applies(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.has_queue:
            return False
        clip = self._selected()
        state = getattr(clip, "state", None)
        if action == "skip_clip":
            return True if self.engine.current is not None else None
        if action == "retry_clip":
            return True if state in (ClipState.FAILED, ClipState.SKIPPED) else None
        if action == "move_clip":
            return True if state is ClipState.WAITING else None
        if action == "add_clip":
            return True if self.engine.output_folder is not None and not self.engine.done.is_set() else None
        return True

    def action_select_clip(self, delta: int) -> None:
        count = len(self.engine.clips)
        self.queue_selected = max(0, min(count - 1, self.queue_selected + delta))
        self._show_queue()
        self.refresh_bindings()

    def action_skip_clip(self) -> None:
        clip = self.engine.current
        if clip is None:
            return
        self.push_screen(
            ConfirmScreen(f"Skip {clip.input.name}? Its output is not written; the queue goes on.", "Skip", "Continue"),
            lambda yes: self._skip_confirmed(yes, clip.id),
        )

    def _skip_confirmed(self, yes: bool | None, clip_id: int) -> None:
        if yes:
            self.engine.skip(clip_id)

    def action_retry_clip(self) -> None:
        clip = self._selected()
        if clip is not None and self.engine.retry(clip.id):  # type: ignore[attr-defined]
            self.session.note("info", f"retrying {clip.input.name}")  # type: ignore[attr-defined]
            self.queue_selected = len(self.engine.clips) - 1
            self._show_queue()

    def action_move_clip(self, delta: int) -> None:
        clip = self._selected()
        if clip is not None and self.engine.move(clip.id, delta):  # type: ignore[attr-defined]
            self.queue_selected += delta
            self._show_queue()
            self.refresh_bindings()

    def action_add_clip(self) -> None:
        if self.engine.output_folder is None:
            return
        self.push_screen(PathPrompt("Add a video to the queue (Enter adds, escape cancels):"), self._add_path)

    def _add_path(self, path: str | None) -> None:
        if not path:
            return
        try:
            clip = self.engine.add_input(path)
        except FramedeckError as exc:
            self.notify(str(exc), severity="error")
            return
        self.session.note("info", f"added {clip.input} -> {clip.output}")

    def on_unmount(self) -> None:
        """However the app ends (except a hang-up), the job and the watchdog driver end too."""
        if self.handle_hangup and not self.closing and not self.session.detached and terminal_gone(0):
            self._go_headless()  # the app failed because the terminal vanished: a hang-up too
        if not self.session.detached:
            self.session.cancel.set()
            self.session.pause.clear()
            self.session.quit.set()

    # -- the terminal going away -----------------------------------------------------------------

    def hang_up(self) -> None:
        """SIGHUP: leave the screen, keep the job and the watchdog running headless."""
        if self.session.detached:
            return
        self._go_headless()
        self.closing = True
        self.exit(self.session.summary())

    def _go_headless(self) -> None:
        silence_terminal()
        ignore_further_hangups()
        unblock_screen_writer(self._driver)
        self.session.detach()
        if self.on_headless is not None:
            self.on_headless()

    def terminate(self) -> None:
        """SIGTERM: end like an abort (job cancelled, watchdog abandoned, machine kept), then leave
        the screen so the terminal is restored."""
        if self.terminated:
            return
        self.terminated = True
        self.session.note("warning", "SIGTERM: aborting the job and the watchdog; nothing is stopped")
        self.run_worker(self.shut_down(), group="quit", exclusive=True)

    def _check_terminal(self) -> None:
        """The terminal can vanish without a SIGHUP reaching us; treat that as a hang-up."""
        if terminal_gone(0):
            self.hang_up()
