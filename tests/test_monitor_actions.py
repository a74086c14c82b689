"""Stop actions against a loopback HTTP server playing vast.ai and RunPod; provider detection."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from monitor.actions import (
    CommandAction,
    PoweroffAction,
    RunPodAction,
    VastAiAction,
    build_action,
)
from monitor.errors import StopActionError
from monitor.states import WatchState
from monitor.storage_file import FileStorage
from monitor.watchdog import Watchdog
from tests.monitor_helpers import FakeClock, Recorder, RecordingRunner, drive, write_random

VAST_KEY = "vast-instance-key-0123456789"
RUNPOD_KEY = "rpa_SECRETSECRETSECRET"


class Provider:
    """A loopback server: records requests, answers from per-test handlers."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answer = lambda request: (200, {})
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                request = {
                    "method": self.command,
                    "path": urlparse(self.path).path,
                    "query": parse_qs(urlparse(self.path).query),
                    "auth": self.headers.get("Authorization"),
                    "body": body,
                }
                provider.requests.append(request)
                status, reply = provider.answer(request)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = _serve

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider():
    server = Provider()
    yield server
    server.close()


def live_watchdog(tmp_path: Path, action, recorder: Recorder, clock: FakeClock) -> Watchdog:
    (tmp_path / "remote").mkdir()
    watchdog = Watchdog(
        FileStorage(tmp_path / "remote", clock),
        action,
        sentinel_path=tmp_path / "s.json",
        confirm=2,
        check_interval=1,
        countdown=0,
        dry_run=False,
        on_event=recorder,
        clock=clock,
        expect=1,
        poll_interval=5,
        poll_timeout=60,
    )
    watchdog.file_ready(write_random(tmp_path / "out.mp4", 10_000))
    return watchdog


def test_vastai_stop_and_poll_through_the_rest_api(provider, tmp_path):
    polls = iter(["running", "running", "stopped"])

    def answer(request):
        if request["method"] == "PUT":
            return 200, {"success": True}
        return 200, {"instances": {"id": 4242, "actual_status": next(polls)}}

    provider.answer = answer
    action = VastAiAction("4242", VAST_KEY, base_url=provider.url)
    assert VAST_KEY not in action.describe() and "Bearer ***" in action.describe()
    clock, recorder = FakeClock(), Recorder()
    watchdog = live_watchdog(tmp_path, action, recorder, clock)
    drive(watchdog, clock)
    assert watchdog.state is WatchState.STOPPED
    assert "reports the instance stopped" in watchdog.message
    put = provider.requests[0]
    assert (put["method"], put["path"], put["body"]) == ("PUT", "/api/v0/instances/4242/", {"state": "stopped"})
    assert put["auth"] == f"Bearer {VAST_KEY}"
    assert [r["method"] for r in provider.requests] == ["PUT", "GET", "GET", "GET"]
    assert not any(VAST_KEY in text for text in recorder.texts())


def test_vastai_refusal_is_a_sentence_without_the_key(provider):
    provider.answer = lambda request: (401, {"error": "bad key " + VAST_KEY})
    with pytest.raises(StopActionError) as caught:
        VastAiAction("4242", VAST_KEY, base_url=provider.url).run()
    assert str(caught.value) == "The provider answered PUT with HTTP 401."


def test_vastai_instance_still_running_is_reported(provider, tmp_path):
    provider.answer = lambda request: (200, {"instances": {"actual_status": "running"}})
    clock, recorder = FakeClock(), Recorder()
    watchdog = live_watchdog(tmp_path, VastAiAction("7", VAST_KEY, base_url=provider.url), recorder, clock)
    drive(watchdog, clock, steps=400)
    assert watchdog.state is WatchState.FAILED and "did not stop" in watchdog.message


def test_runpod_graphql_stop_and_poll(provider, tmp_path):
    def answer(request):
        query = request["body"]["query"]
        if query.startswith("mutation"):
            return 200, {"data": {"podStop": {"id": "pod9", "desiredStatus": "EXITED"}}}
        return 200, {"data": {"pod": {"id": "pod9", "desiredStatus": "EXITED"}}}

    provider.answer = answer
    action = RunPodAction("pod9", RUNPOD_KEY, base_url=provider.url)
    assert RUNPOD_KEY not in action.describe() and "api_key=***" in action.describe()
    clock, recorder = FakeClock(), Recorder()
    watchdog = live_watchdog(tmp_path, action, recorder, clock)
    drive(watchdog, clock)
    assert watchdog.state is WatchState.STOPPED
    first = provider.requests[0]
    assert first["path"] == "/graphql" and first["query"]["api_key"] == [RUNPOD_KEY]
    assert 'podStop(input: {podId: "pod9"})' in first["body"]["query"]
    assert 'pod(input: {podId: "pod9"})' in provider.requests[1]["body"]["query"]
    assert not any(RUNPOD_KEY in text for text in recorder.texts())


def test_runpod_graphql_errors_fail_the_stop(provider, tmp_path):
    provider.answer = lambda request: (200, {"errors": [{"message": "pod not found"}]})
    clock, recorder = FakeClock(), Recorder()
    action = RunPodAction("pod9", RUNPOD_KEY, base_url=provider.url)
    watchdog = live_watchdog(tmp_path, action, recorder, clock)
    drive(watchdog, clock)
    assert watchdog.state is WatchState.FAILED and "refused" in watchdog.message


def test_runpodctl_and_vastai_cli_go_through_the_runner(provider):
    runner = RecordingRunner(0, "pod stopped")
    provider.answer = lambda request: (200, {"data": {"pod": {"desiredStatus": "RUNNING"}}})
    action = RunPodAction("pod9", RUNPOD_KEY, base_url=provider.url, runner=runner, use_cli=True)
    assert action.describe() == "runpodctl stop pod pod9"
    assert "pod stopped" in action.run()
    assert runner.calls == [["runpodctl", "stop", "pod", "pod9"]]
    assert action.poll() is False  # GraphQL still says RUNNING
    cli = VastAiAction("55", None, runner=runner)
    cli.run()
    assert runner.calls[-1] == ["vastai", "stop", "instance", "55"] and cli.poll() is None


def test_auto_detection_names_the_provider():
    which_none = lambda name: None  # noqa: E731
    vast = build_action("auto", {"CONTAINER_ID": "12", "CONTAINER_API_KEY": VAST_KEY}, dry_run=False, which=which_none)
    assert isinstance(vast.action, VastAiAction) and "vast.ai detected" in vast.explanation
    assert vast.secrets == (VAST_KEY,)
    runpod = build_action(
        "auto", {"RUNPOD_POD_ID": "p1", "RUNPOD_API_KEY": RUNPOD_KEY}, dry_run=False, which=lambda n: "/usr/bin/runpodctl"
    )
    assert isinstance(runpod.action, RunPodAction) and runpod.action.describe() == "runpodctl stop pod p1"
    fallback = build_action("auto", {}, dry_run=True, which=which_none)
    assert isinstance(fallback.action, PoweroffAction) and "no cloud provider" in fallback.explanation
    with pytest.raises(StopActionError, match="No cloud provider was detected"):
        build_action("auto", {}, dry_run=False, which=which_none)
    custom = build_action("command:systemctl poweroff -i", {}, dry_run=False)
    assert isinstance(custom.action, CommandAction) and custom.action.argv == ["systemctl", "poweroff", "-i"]
    with pytest.raises(StopActionError, match="Unknown --shutdown"):
        build_action("halt-everything", {}, dry_run=True)
    with pytest.raises(StopActionError, match="CONTAINER_ID"):
        build_action("vastai", {}, dry_run=True, which=which_none)
    with pytest.raises(StopActionError, match="empty"):
        build_action("command:", {}, dry_run=True)
