"""The job panel: stage, progress, speed (output frames and pairs per second) beside the
output rate, elapsed and ETA (both left frozen while paused), batch, OOM back-offs, stalls."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from core.events import (
    BatchChanged,
    JobFailed,
    JobFinished,
    JobStarted,
    OomBackoff,
    PairDone,
    Stage,
    StageChanged,
    Stalled,
    WorkerRates,
)
from core.rate import format_eta
from session.outlook import Outlook
from tui.widgets.bars import bar, seconds_text
from tui.widgets.outlook_rows import outlook_rows, output_row


@dataclass
class JobState:
    """What the job panel shows, folded from core events."""

    stage: str = "starting"
    detail: str = ""
    done: int = 0
    total: int = 0
    last_pair_seconds: float | None = None
    pairs_per_second: float | None = None
    output_fps: float | None = None  # the target rate of the output video
    frames_per_pair: float | None = None  # output frames made per input pair
    elapsed: float | None = None
    eta: float | None = None
    batch: int | None = None
    oom_backoffs: int = 0
    stalled: str = ""
    paused: bool = False
    finished: bool = False
    failed: str = ""
    frames_written: int | None = None  # output frames encoded so far
    expected_frames: int | None = None
    written_bytes: int | None = None  # the journal (or output) on disk, from the host sampler
    outlook: Outlook | None = None  # time and money (tui/widgets/outlook_rows.py)
    has_watchdog: bool = False
    check: tuple[str, str] | None = None  # the output check's (level, line) at the end
    workers: WorkerRates | None = None  # a job on several devices: each worker's pairs and rate

    def apply(self, event: object) -> bool:
        """Fold ``event`` in; True when the panel changed."""
        if isinstance(event, StageChanged):
            self.stage = event.stage.value
            self.detail = event.detail
            if event.stage in (Stage.DONE, Stage.ABORTED, Stage.FAILED):
                self.stalled = ""
        elif isinstance(event, JobStarted):
            self.total = event.total_pairs
            self.output_fps = event.output_fps
            if event.total_pairs:
                self.frames_per_pair = event.total_output_frames / event.total_pairs
            self.batch = event.batch
            self.expected_frames = event.total_output_frames
        elif isinstance(event, PairDone):
            self.frames_written = event.frames_written
            self.done = event.index + 1 if event.index + 1 > self.done else self.done
            self.total = event.total
            self.last_pair_seconds = event.seconds
            self.pairs_per_second = event.pairs_per_second
            self.eta = event.eta_seconds
            self.elapsed = event.elapsed
            self.stalled = ""
        elif isinstance(event, WorkerRates):
            self.workers = event
        elif isinstance(event, BatchChanged):
            self.batch = event.batch
        elif isinstance(event, OomBackoff):
            self.oom_backoffs += 1
            self.batch = event.new_batch
        elif isinstance(event, Stalled):
            self.stalled = f"{event.stage} stalled for {event.seconds:.0f} s"
        elif isinstance(event, JobFinished):
            self.finished = True
            self.done = max(self.done, event.pairs)
            self.elapsed = event.seconds
            self.eta = 0.0
            self.frames_written = event.output_frames
        elif isinstance(event, JobFailed):
            self.failed = event.message
        else:
            return False
        return True

    @property
    def active(self) -> bool:
        return not (self.finished or self.failed)

    @property
    def frames_per_second(self) -> float | None:
        """Processing speed in output frames per second (not the output's frame rate)."""
        if not self.pairs_per_second or not self.frames_per_pair:
            return None
        return self.pairs_per_second * self.frames_per_pair


class JobPanel(Static):
    """Renders a :class:`JobState`."""

    BORDER_TITLE = "Job"

    def __init__(self, state: JobState, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.state = state

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        """Redraw from the state."""
        s = self.state
        width = max(10, self.content_region.width or self.size.width or 40)
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, ratio=1)
        stage = Text(s.stage, style="bold")
        if s.paused and s.active:
            stage.append("  PAUSED", style="bold black on yellow")
        table.add_row("stage", stage)
        fraction = s.done / s.total if s.total else None
        pct = f" {fraction * 100:3.0f}%" if fraction is not None else "    "
        progress = bar(fraction, max(4, width - 13 - len(pct)), style="cyan")
        progress.append(pct)
        table.add_row("progress", progress)
        last = f"{s.last_pair_seconds:.2f} s" if s.last_pair_seconds is not None else "-"
        per_second = f"{s.pairs_per_second:.2f}/s" if s.pairs_per_second else "-/s"
        table.add_row("pairs", f"{s.done}/{s.total or '?'}  {per_second}  last {last}")
        speed = f"{s.frames_per_second:.1f} fps" if s.frames_per_second else "- fps"
        target = f"  (output {s.output_fps:g} fps)" if s.output_fps else ""
        frozen = s.paused and s.active
        table.add_row("speed", Text(speed + target, style="dim" if frozen else ""))
        times = f"elapsed {seconds_text(s.elapsed)}  ETA {format_eta(s.eta)}"
        table.add_row("time", Text(times + ("  held" if frozen else ""), style="dim" if frozen else ""))
        backoffs = Text(f"OOM back-offs {s.oom_backoffs}", style="yellow" if s.oom_backoffs else "")
        table.add_row("batch", Text(f"{s.batch or '-'}  ").append_text(backoffs))
        for label, row in outlook_rows(s.outlook, s.has_watchdog, width - 9):
            table.add_row(label, row)
        output = output_row(s.frames_written, s.expected_frames, s.written_bytes)
        if output is not None:
            table.add_row(*output)
        if s.check is not None:
            table.add_row("check", Text(s.check[1],
                                        style="yellow" if s.check[0] == "warning" else "green"))
        if s.workers is not None:
            table.add_row("devices", Text(s.workers.line, overflow="ellipsis"))
        if s.stalled:
            table.add_row("warning", Text(s.stalled, style="bold red"))
        failure = s.failed or (s.detail if s.stage in ("failed", "aborted") else "")
        self.update(Group(table, Text(failure, style="red")) if failure else table)

    def on_resize(self) -> None:
        self.show()
