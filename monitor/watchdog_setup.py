"""Build the watchdog for a target: the storage, the stop action and the secret redactor.

Both front ends (``framedeck watch`` and the console) go through :func:`build_watchdog`.
Every secret it can know of (the B2 key id and key from the environment or the key file,
``CONTAINER_API_KEY``, ``RUNPOD_API_KEY``) is registered with the redactor before the
storage is opened, so even an error raised while authorising comes out scrubbed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from core.errors import FramedeckError
from monitor.actions import (
    RUNPOD_URL,
    VAST_URL,
    Runner,
    build_action,
    provider_secrets,
    run_command,
)
from monitor.credentials import load_credentials
from monitor.errors import StopActionError, WatchError
from monitor.events import WatchEvent
from monitor.finished_file import FolderScanner
from monitor.open_writers import WriterProbe
from monitor.redact import Redactor
from monitor.state_store import StateStore
from monitor.targets import open_storage, parse_target
from monitor.watchdog import Watchdog


@dataclass(frozen=True)
class WatchdogSetup:
    """The watchdog, the redactor that holds every secret, and which stop action and why."""

    watchdog: Watchdog
    redactor: Redactor
    explanation: str  # the stop action's provider and why it was chosen, one line


def check_watch_options(
    confirm: int,
    check_interval: float,
    countdown: float,
    *,
    settle: float = 10.0,
    idle: float | None = 120.0,
    expect: int | None = None,
    check_interval_above_zero: bool = False,
) -> None:
    """WatchError with one sentence when a count or a timing is out of range: counts at least
    1, timings finite and not negative (``check_interval_above_zero``: the check interval above 0,
    as ``framedeck watch`` wants it; the console accepts 0 for back-to-back checks)."""
    if confirm < 1:
        raise WatchError("--confirm must be at least 1.")
    if expect is not None and expect < 1:
        raise WatchError("--expect must be at least 1.")
    check_seconds(
        {"--check-interval": check_interval, "--countdown": countdown, "--settle": settle, "--idle": idle}
    )
    if check_interval_above_zero and check_interval == 0:
        raise WatchError("--check-interval must be above 0: checks run back to back prove nothing.")


def check_seconds(timings: Mapping[str, float | None], *, above_zero: tuple[str, ...] = ()) -> None:
    """WatchError for the first timing that is nan, infinite or negative (or 0 when named in
    ``above_zero``); None values are unset options."""
    for name, value in timings.items():
        if value is None:
            continue
        if math.isnan(value):
            raise WatchError(f"{name} must be a number of seconds, not nan.")
        if value < 0:
            which = "--check-interval and --countdown" if name in ("--check-interval", "--countdown") else name
            raise WatchError(f"{which} cannot be negative.")
        if math.isinf(value):
            raise WatchError(f"{name} must be a finite number of seconds, not {value}.")
        if value == 0 and name in above_zero:
            raise WatchError(f"{name} must be above 0.")


def build_watchdog(
    target_url: str,
    *,
    shutdown: str,
    dry_run: bool,
    sentinel: Path,
    env: Mapping[str, str],
    confirm: int = 3,
    check_interval: float = 10.0,
    countdown: float = 60.0,
    require_confirm: bool = False,
    verify_only: bool = False,
    settle: float = 10.0,
    expect: int | None = None,
    done_file: Path | None = None,
    idle: float | None = 120.0,
    scanner: FolderScanner | None = None,
    state_store: StateStore | None = None,
    writer_probe: WriterProbe | None = None,
    verify_download: bool = False,
    key_file: str | None = None,
    on_event: Callable[[WatchEvent], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
    upload_timeout: float | None = 6 * 3600.0,
    give_up_after: float | None = None,
    min_part_size: int | None = None,
    api_factory: Callable[[], object] | None = None,
    runner: Runner | None = None,
    vast_url: str | None = None,
    runpod_url: str | None = None,
) -> WatchdogSetup:
    """Open ``target_url``, choose the ``shutdown`` action and wire both into a Watchdog.

    ``api_factory``, ``runner`` and the provider URLs are for tests (None: the real ones).
    Raises the FramedeckError of whatever is wrong (options, target, key, stop action),
    its sentence scrubbed of every secret.
    """
    check_watch_options(confirm, check_interval, countdown, settle=settle, idle=idle, expect=expect)
    redactor = Redactor(provider_secrets(env))
    try:
        credentials = None
        if parse_target(target_url).scheme == "b2":
            credentials = load_credentials(env, key_file)
            redactor.add(credentials.key_id)
            redactor.add(credentials.key)
        storage, secrets = open_storage(
            target_url,
            env,
            credentials=credentials,
            api_factory=api_factory,
            clock=clock,
            min_part_size=min_part_size,
        )
        for secret in secrets:
            redactor.add(secret)
        choice = build_action(
            shutdown,
            env,
            dry_run=dry_run,
            runner=runner or run_command,
            vast_url=vast_url or VAST_URL,
            runpod_url=runpod_url or RUNPOD_URL,
        )
    except FramedeckError as exc:
        raise type(exc)(redactor(str(exc))) from None
    for secret in choice.secrets:
        redactor.add(secret)
    watchdog = Watchdog(
        storage,  # type: ignore[arg-type]
        choice.action,
        sentinel_path=Path(sentinel).absolute(),
        verify_only=verify_only,
        confirm=confirm,
        check_interval=check_interval,
        countdown=countdown,
        require_confirm=require_confirm,
        dry_run=dry_run,
        settle=settle,
        expect=expect,
        done_file=done_file,
        idle=idle,
        scanner=scanner,
        state_store=state_store,
        writer_probe=writer_probe,
        verify_download=verify_download,
        clock=clock,
        wall=wall,
        upload_timeout=upload_timeout,
        give_up_after=give_up_after,
        redactor=redactor,
    )
    if on_event is not None:
        watchdog.on_event = on_event
    return WatchdogSetup(watchdog, redactor, choice.explanation)


def live_stop_refusal(shutdown: str, env: Mapping[str, str], redactor: Redactor) -> str:
    """Why ``shutdown`` could not stop this machine for real (scrubbed), or "" when it could."""
    try:
        build_action(shutdown, env, dry_run=False)
    except StopActionError as exc:
        return redactor(str(exc))
    return ""
