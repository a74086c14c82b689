"""The device workers of a session and the one list of work they share.

One long-lived thread per device (started on first use, ended by :meth:`DeviceScheduler.close`)
takes tasks from one shared list: a whole clip, or a range of pairs of a clip shared out over
the devices (core/device_job.py makes both). The list is kept in the order the clips started,
so the oldest clip's tasks are taken first and it is finished first. A task is run by its
owner (``owner.run_task(worker, task)``), which returns False when the worker's device failed;
the owner has then called :meth:`DeviceScheduler.exclude`, the worker is left out for the rest
of the session and its thread ends. When no worker is left, the tasks still in the list go back
to their owners (``owner.drop(task, why)``).

:meth:`DeviceScheduler.wants_work` is what a session asks before it starts another clip: a
device is idle and no task is waiting for one.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Protocol

from core.events import WorkerRates

CLOSE_GRACE = 5.0  # seconds each worker thread gets to end when the session closes


class TaskOwner(Protocol):
    def run_task(self, worker: DeviceWorker, task: Task) -> bool: ...

    def drop(self, task: Task, why: str) -> None: ...


@dataclass(eq=False)
class Task:
    """A whole clip (``pairs`` None) or a range of its pairs, for any device."""

    owner: TaskOwner
    pairs: range | None
    order: int  # when its clip started: lower is taken first


@dataclass(eq=False)
class DeviceWorker:
    """One device's worker; ``pairs`` and ``rate`` over every clip of the session."""

    number: int
    device: str
    pairs: int = 0
    rate: float | None = None  # pairs per second of the task it runs now
    busy: bool = False
    thread: threading.Thread | None = None

    @property
    def label(self) -> str:
        return f"worker {self.number} ({self.device})"


class DeviceScheduler:
    """See the module docstring. ``excluded`` (worker number -> why) is shared with the pool."""

    def __init__(self, devices: list[str], excluded: dict[int, str]) -> None:
        self.workers = [DeviceWorker(n, d) for n, d in enumerate(devices)]
        self.excluded = excluded
        self.cond = threading.Condition()
        self.tasks: list[Task] = []
        self.closed = False
        self._orders = itertools.count()

    # -- for the owners ---------------------------------------------------------------------------

    def next_order(self) -> int:
        """The place of a clip starting now (its tasks go after every earlier clip's)."""
        return next(self._orders)

    def live(self) -> list[DeviceWorker]:
        """The workers not left out."""
        with self.cond:
            return [w for w in self.workers if w.number not in self.excluded]

    def submit(self, tasks: list[Task]) -> None:
        """Add ``tasks`` behind those of earlier clips; with no device left they are dropped."""
        with self.cond:
            live = [w for w in self.workers if w.number not in self.excluded]
            if live and not self.closed:
                for worker in live:
                    self._start(worker)
                for task in tasks:
                    self._insert(task, front=False)
                self.cond.notify_all()
                return
        for task in tasks:
            task.owner.drop(task, "no device is left")

    def give_back(self, task: Task) -> None:
        """A task a failed device did not finish: first among its clip's tasks."""
        with self.cond:
            if any(w.number not in self.excluded for w in self.workers) and not self.closed:
                self._insert(task, front=True)
                self.cond.notify_all()
                return
        task.owner.drop(task, "no device is left")

    def withdraw(self, owner: TaskOwner) -> int:
        """Remove ``owner``'s tasks that no worker has taken yet (a stopped clip); how many."""
        with self.cond:
            mine = [t for t in self.tasks if t.owner is owner]
            if mine:
                self.tasks = [t for t in self.tasks if t.owner is not owner]
                self.cond.notify_all()
        return len(mine)

    def exclude(self, worker: DeviceWorker, why: str) -> None:
        """Leave ``worker`` out for the rest of the session; with none left, drop what waits."""
        with self.cond:
            self.excluded[worker.number] = why
            worker.rate = None
            orphans: list[Task] = []
            if not any(w.number not in self.excluded for w in self.workers):
                orphans, self.tasks = self.tasks, []
            self.cond.notify_all()
        for task in orphans:
            task.owner.drop(task, "no device is left")

    def rates(self) -> WorkerRates:
        """Each device still in use: pairs done in this session and the rate of its task now."""
        with self.cond:
            return WorkerRates(tuple((w.device, w.pairs, w.rate) for w in self.workers
                                     if w.number not in self.excluded))

    # -- for the session ------------------------------------------------------------------------

    def wants_work(self) -> bool:
        """A device is idle and no task waits for one: time to start another clip."""
        with self.cond:
            idle = any(not w.busy for w in self.workers if w.number not in self.excluded)
            return idle and not self.tasks and not self.closed

    def wait_for_change(self, timeout: float) -> None:
        """Until a task is added, taken or finished, or ``timeout`` seconds."""
        with self.cond:
            self.cond.wait(timeout)

    def poke(self) -> None:
        """Wake whoever waits in :meth:`wait_for_change` (a clip ended)."""
        with self.cond:
            self.cond.notify_all()

    def close(self) -> None:
        """End every worker thread (after the task each is running)."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
            threads = [w.thread for w in self.workers if w.thread is not None]
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(CLOSE_GRACE)

    # -- the workers ------------------------------------------------------------------------------

    def _start(self, worker: DeviceWorker) -> None:
        if worker.thread is None:
            worker.thread = threading.Thread(target=self._loop, args=(worker,), name=f"framedeck-device-{worker.number}",
                                             daemon=True)
            worker.thread.start()

    def _insert(self, task: Task, *, front: bool) -> None:
        """Keep the list in clip order; ``front``: before the tasks of the same clip."""
        where = len(self.tasks)
        for i, other in enumerate(self.tasks):
            if other.order > task.order or (front and other.order == task.order):
                where = i
                break
        self.tasks.insert(where, task)

    def _take(self, worker: DeviceWorker) -> Task | None:
        with self.cond:
            while True:
                if self.closed or worker.number in self.excluded:
                    return None
                if self.tasks:
                    worker.busy = True
                    self.cond.notify_all()
                    return self.tasks.pop(0)
                self.cond.wait()

    def _loop(self, worker: DeviceWorker) -> None:
        while (task := self._take(worker)) is not None:
            goes_on = False
            try:
                goes_on = task.owner.run_task(worker, task)
            finally:
                with self.cond:
                    worker.busy, worker.rate = False, None
                    self.cond.notify_all()
            if not goes_on:
                return


def describe_rule(short_seconds: float) -> str:
    """The queue's rule, for the log and the README."""
    return (f"a clip under {short_seconds:g} s of input runs whole on one free device while other clips wait; "
            "a longer clip, and the last clip of the queue, is split into ranges at segment boundaries "
            "over every device; another clip starts whenever a device would otherwise idle")

