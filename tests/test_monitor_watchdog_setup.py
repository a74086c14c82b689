"""monitor.watchdog_setup: one builder for ``framedeck watch`` and the console, secrets scrubbed
from the first call on, including errors raised while the storage is being opened."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.errors import CredentialsError, WatchError
from monitor.redact import MASK
from monitor.watchdog_setup import build_watchdog, check_watch_options, live_stop_refusal
from tests.monitor_helpers import BUCKET, FakeClock, sim_account

KEY_ID = "0051a2b3c4d5e6f0000000001"
KEY = "K005-very-secret-application-key"
VAST_KEY = "vast-secret-api-key-123456"
RUNPOD_KEY = "runpod-secret-api-key-654321"
SECRETS = (KEY_ID, KEY, VAST_KEY, RUNPOD_KEY)


@pytest.fixture
def leaky_open_storage(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """open_storage fails with every secret in its sentence, as a careless backend might."""
    calls: list[dict] = []

    def fail(url: str, env, **kwargs) -> tuple[object, tuple[str, ...]]:
        calls.append(kwargs)
        raise CredentialsError(f"B2 refused {KEY_ID}:{KEY} (provider keys {VAST_KEY}, {RUNPOD_KEY}).")

    monkeypatch.setattr("monitor.watchdog_setup.open_storage", fail)
    return calls


def key_file(folder: Path) -> Path:
    path = folder / "b2.key"
    path.write_text(f"{KEY_ID}\n{KEY}\n")
    os.chmod(path, 0o600)
    return path


def assert_scrubbed(text: str) -> None:
    assert "B2 refused" in text and MASK in text, text
    for secret in SECRETS:
        assert secret not in text, text


@pytest.mark.parametrize("keys_from", ["environment", "key file"])
def test_open_storage_error_is_scrubbed_through_framedeck_watch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, leaky_open_storage, keys_from: str
) -> None:
    from tui.cli import main

    monkeypatch.delenv("FRAMEDECK_B2_KEY_FILE", raising=False)
    monkeypatch.setenv("CONTAINER_API_KEY", VAST_KEY)
    monkeypatch.setenv("RUNPOD_API_KEY", RUNPOD_KEY)
    argv = ["watch", "--watch-dir", str(tmp_path), "--upload", f"b2://{BUCKET}/out"]
    if keys_from == "environment":
        monkeypatch.setenv("B2_APPLICATION_KEY_ID", KEY_ID)
        monkeypatch.setenv("B2_APPLICATION_KEY", KEY)
    else:
        monkeypatch.delenv("B2_APPLICATION_KEY_ID", raising=False)
        monkeypatch.delenv("B2_APPLICATION_KEY", raising=False)
        argv += ["--b2-key-file", str(key_file(tmp_path))]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == CredentialsError.exit_code
    assert_scrubbed(captured.err)
    assert not any(secret in captured.out for secret in SECRETS)
    assert leaky_open_storage[0]["credentials"].key == KEY  # loaded once, before opening


@pytest.mark.parametrize("keys_from", ["environment", "key file"])
def test_open_storage_error_is_scrubbed_through_the_console_builder(
    tmp_path: Path, leaky_open_storage, keys_from: str
) -> None:
    from tui.commands.console import build_link

    env = {"CONTAINER_API_KEY": VAST_KEY, "RUNPOD_API_KEY": RUNPOD_KEY}
    path = None
    if keys_from == "environment":
        env |= {"B2_APPLICATION_KEY_ID": KEY_ID, "B2_APPLICATION_KEY": KEY}
    else:
        path = str(key_file(tmp_path))
    with pytest.raises(CredentialsError) as raised:
        build_link(
            f"b2://{BUCKET}/out", shutdown="auto", dry_run=True, sentinel=tmp_path / "s.json", confirm=3,
            check_interval=1.0, countdown=5.0, require_confirm=False, env=env, b2_key_file=path,
        )
    assert_scrubbed(str(raised.value))


def test_b2_target_registers_every_secret_and_wires_the_watchdog(tmp_path: Path) -> None:
    account = sim_account()
    env = {**account.env, "CONTAINER_API_KEY": VAST_KEY}
    events: list[object] = []
    setup = build_watchdog(
        f"b2://{BUCKET}/renders", shutdown="poweroff", dry_run=True, sentinel=tmp_path / "s.json", env=env,
        confirm=2, verify_only=True, on_event=events.append, clock=FakeClock(), api_factory=account.factory,
    )
    assert set(setup.redactor.secrets) == {account.key_id, account.key, VAST_KEY}
    watchdog = setup.watchdog
    assert watchdog.target == f"b2://{BUCKET}/renders/"
    assert watchdog.required == 2 and watchdog.verify_only and watchdog.dry_run
    assert watchdog.sentinel_path == (tmp_path / "s.json").absolute()
    assert watchdog.on_event == events.append and setup.explanation == "--shutdown poweroff"


def test_file_target_needs_no_b2_key_and_keeps_the_default_event_sink(tmp_path: Path) -> None:
    setup = build_watchdog(
        tmp_path.as_uri(), shutdown="command:echo stop", dry_run=False, sentinel=Path("s.json"), env={},
    )
    assert setup.redactor.secrets == ()
    assert setup.watchdog.action_description == "echo stop" and not setup.watchdog.dry_run
    assert setup.watchdog.sentinel_path.is_absolute()


@pytest.mark.parametrize(
    ("confirm", "interval", "countdown", "sentence"),
    [
        (0, 1.0, 1.0, "--confirm must be at least 1."),
        (1, -1.0, 1.0, "--check-interval and --countdown cannot be negative."),
        (1, 1.0, -0.5, "--check-interval and --countdown cannot be negative."),
    ],
)
def test_out_of_range_options_are_refused_before_anything_opens(
    tmp_path: Path, leaky_open_storage, confirm: int, interval: float, countdown: float, sentence: str
) -> None:
    with pytest.raises(WatchError, match=sentence):
        check_watch_options(confirm, interval, countdown)
    with pytest.raises(WatchError, match=sentence):
        build_watchdog(
            f"b2://{BUCKET}/x", shutdown="poweroff", dry_run=True, sentinel=tmp_path / "s", env={},
            confirm=confirm, check_interval=interval, countdown=countdown,
        )
    assert leaky_open_storage == []


def test_live_stop_refusal_is_scrubbed_and_empty_when_possible() -> None:
    from monitor.redact import Redactor

    assert live_stop_refusal("poweroff", {}, Redactor()) == ""
    refusal = live_stop_refusal("auto", {}, Redactor())
    assert "No cloud provider was detected" in refusal
    scrubbed = live_stop_refusal("command:", {}, Redactor(["command"]))
    assert "command" not in scrubbed and MASK in scrubbed
