"""Helpers for the monitor tests: a fake clock, an event recorder, a B2 simulator account."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from b2sdk.v2 import B2Api, B2HttpApiConfig, InMemoryAccountInfo, RawSimulator

from monitor.actions import CommandResult

BUCKET = "framedeck-test"


class FakeClock:
    """A monotonic clock the test moves; ``sleep`` advances it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


class Recorder:
    """Collects every event the watchdog sends."""

    def __init__(self) -> None:
        self.events: list[object] = []

    def __call__(self, event: object) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def texts(self) -> list[str]:
        return [repr(e) for e in self.events]


class RecordingRunner:
    """The injected command runner: records argv, answers with a fixed result."""

    def __init__(self, returncode: int = 0, output: str = "ok") -> None:
        self.calls: list[list[str]] = []
        self.result = CommandResult(returncode, output)

    def __call__(self, argv: list[str]) -> CommandResult:
        self.calls.append(list(argv))
        return self.result


@dataclass
class SimAccount:
    api: B2Api
    simulator: RawSimulator
    key_id: str
    key: str

    def factory(self) -> B2Api:
        return self.api

    @property
    def env(self) -> dict[str, str]:
        return {"B2_APPLICATION_KEY_ID": self.key_id, "B2_APPLICATION_KEY": self.key}


def sim_account(bucket: str = BUCKET) -> SimAccount:
    """A B2Api over b2sdk's RawSimulator with one account and one private bucket."""
    api = B2Api(InMemoryAccountInfo(), api_config=B2HttpApiConfig(_raw_api_class=RawSimulator))
    simulator = api.session.raw_api
    key_id, key = simulator.create_account()
    api.authorize_account("production", key_id, key)
    api.create_bucket(bucket, "allPrivate")
    return SimAccount(api, simulator, key_id, key)


def write_random(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def drive(watchdog, clock: FakeClock, steps: int = 200, tick: float = 0.5) -> None:
    """Step the watchdog until it is finished or ``steps`` run out, moving the clock."""
    for _ in range(steps):
        if watchdog.finished:
            return
        watchdog.step()
        clock.sleep(tick)


def folder_watchdog(folder: Path, storage, clock: FakeClock, runner: RecordingRunner, **options):
    """A real Watchdog over ``folder`` (FolderScanner, /proc writer probe) with a fake clock.

    Defaults: K=2 checks 1 s apart, settle 4 s, no countdown, live stop through ``runner``.
    """
    from monitor.actions import CommandAction
    from monitor.finished_file import FolderScanner
    from monitor.open_writers import WriterProbe
    from monitor.watchdog import Watchdog

    settings = {
        "confirm": 2,
        "check_interval": 1.0,
        "countdown": 0.0,
        "settle": 4.0,
        "dry_run": False,
        "writer_probe": WriterProbe(),
        "wall": lambda: 1_700_000_000.0 + clock.now,
    }
    settings.update(options)
    pattern = settings.pop("pattern", "*.mp4")
    sentinel = settings.pop("sentinel_path", folder.parent / "sentinel.json")
    return Watchdog(
        storage,
        CommandAction("stop-the-box", runner),
        sentinel_path=sentinel,
        scanner=FolderScanner(folder, pattern, exclude=(sentinel,)),
        clock=clock,
        **settings,
    )


def step_for(watchdog, clock: FakeClock, seconds: float, tick: float = 0.1, each=None) -> None:
    """Step every ``tick`` s of fake time for ``seconds`` (or until finished); ``each(t)`` runs first."""
    elapsed = 0.0
    while elapsed < seconds - 1e-9 and not watchdog.finished:
        if each is not None:
            each(elapsed)
        watchdog.step()
        clock.sleep(tick)
        elapsed += tick
