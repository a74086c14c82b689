"""Stop actions: vast.ai, RunPod, poweroff, a custom command; and provider detection.

Each action has ``describe()`` (the exact action, secrets shown as ``***``), ``run()``
and ``poll()`` (see :mod:`monitor.action_base`). Commands go through an injected
runner and HTTP through an injectable base URL, so tests play the providers on a
loopback server and never run anything real.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from monitor.errors import StopActionError
from monitor.http_json import http_json
from monitor.redact import MASK

VAST_URL = "https://console.vast.ai"
RUNPOD_URL = "https://api.runpod.io"
VAST_KEY_VAR = "CONTAINER_API_KEY"
RUNPOD_KEY_VAR = "RUNPOD_API_KEY"


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    output: str


Runner = Callable[[list[str]], CommandResult]


def run_command(argv: list[str], timeout: float = 120.0) -> CommandResult:
    """The real runner: run ``argv`` (no shell), capture its output."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return CommandResult(127, f"{argv[0]}: command not found")
    except subprocess.TimeoutExpired:
        return CommandResult(124, f"{argv[0]} did not finish within {timeout:g} s")
    return CommandResult(done.returncode, (done.stdout + done.stderr).strip())


def _run_checked(runner: Runner, argv: list[str], shown: str) -> str:
    result = runner(argv)
    last = result.output.strip().splitlines()[-1] if result.output.strip() else ""
    if result.returncode != 0:
        raise StopActionError(f"{shown} exited with status {result.returncode}{': ' + last if last else ''}.")
    return f"{shown} exited 0{': ' + last if last else ''}"


class VastAiAction:
    """vast.ai: ``PUT /api/v0/instances/{id}/ {"state": "stopped"}`` with the instance key,
    or ``vastai stop instance ID`` when no key is available; polls ``actual_status``."""

    name = "vastai"

    def __init__(
        self,
        instance_id: str,
        api_key: str | None,
        *,
        base_url: str = VAST_URL,
        runner: Runner = run_command,
        use_cli: bool = False,
        timeout: float = 30.0,
    ) -> None:
        self.instance_id = instance_id
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.runner = runner
        self.use_cli = use_cli or not api_key
        self.timeout = timeout

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/v0/instances/{self.instance_id}/"

    def describe(self) -> str:
        if self.use_cli:
            return f"vastai stop instance {self.instance_id}"
        return f'PUT {self.url} {{"state": "stopped"}} (Authorization: Bearer {MASK})'

    def run(self) -> str:
        if self.use_cli:
            return _run_checked(self.runner, ["vastai", "stop", "instance", self.instance_id], self.describe())
        reply = http_json("PUT", self.url, {"state": "stopped"}, self._headers(), self.timeout)
        if isinstance(reply, dict) and reply.get("success") is False:
            raise StopActionError(f"vast.ai refused to stop instance {self.instance_id}.")
        return f"vast.ai accepted the stop of instance {self.instance_id}"

    def poll(self) -> bool | None:
        if not self.api_key:
            return None
        reply = http_json("GET", self.url, None, self._headers(), self.timeout)
        instance = reply.get("instances", reply) if isinstance(reply, dict) else {}
        if isinstance(instance, list):
            instance = instance[0] if instance else {}
        status = str(instance.get("actual_status") or "").lower()
        return status in ("stopped", "exited")

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


class RunPodAction:
    """RunPod: ``runpodctl stop pod ID`` where installed, else the GraphQL ``podStop``
    mutation; polls the pod's ``desiredStatus`` through GraphQL when a key is set."""

    name = "runpod"

    def __init__(
        self,
        pod_id: str,
        api_key: str | None,
        *,
        base_url: str = RUNPOD_URL,
        runner: Runner = run_command,
        use_cli: bool = False,
        timeout: float = 30.0,
    ) -> None:
        if not use_cli and not api_key:
            raise StopActionError("RunPod needs runpodctl or RUNPOD_API_KEY to stop the pod.")
        self.pod_id = pod_id
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.runner = runner
        self.use_cli = use_cli
        self.timeout = timeout

    def describe(self) -> str:
        if self.use_cli:
            return f"runpodctl stop pod {self.pod_id}"
        return (
            f"POST {self.base_url}/graphql?api_key={MASK} "
            f'mutation {{ podStop(input: {{podId: "{self.pod_id}"}}) {{ id desiredStatus }} }}'
        )

    def run(self) -> str:
        if self.use_cli:
            return _run_checked(self.runner, ["runpodctl", "stop", "pod", self.pod_id], self.describe())
        query = f'mutation {{ podStop(input: {{podId: "{self.pod_id}"}}) {{ id desiredStatus }} }}'
        data = self._graphql(query)
        status = (data.get("podStop") or {}).get("desiredStatus")
        return f"RunPod accepted the stop of pod {self.pod_id} (desiredStatus {status})"

    def poll(self) -> bool | None:
        if not self.api_key:
            return None
        data = self._graphql(f'query {{ pod(input: {{podId: "{self.pod_id}"}}) {{ id desiredStatus }} }}')
        status = str((data.get("pod") or {}).get("desiredStatus") or "").upper()
        return status in ("EXITED", "STOPPED", "TERMINATED")

    def _graphql(self, query: str) -> dict:
        url = f"{self.base_url}/graphql?api_key={self.api_key}"
        reply = http_json("POST", url, {"query": query}, None, self.timeout)
        if not isinstance(reply, dict) or reply.get("errors") or not isinstance(reply.get("data"), dict):
            raise StopActionError(f"RunPod's API refused the request for pod {self.pod_id}.")
        return reply["data"]


class PoweroffAction:
    """``poweroff``: the machine goes down, so its state cannot be polled afterwards."""

    name = "poweroff"

    def __init__(self, runner: Runner = run_command) -> None:
        self.runner = runner

    def describe(self) -> str:
        return "poweroff"

    def run(self) -> str:
        return _run_checked(self.runner, ["poweroff"], "poweroff")

    def poll(self) -> bool | None:
        return None


class CommandAction:
    """``command:CMD``: run the user's command (split like a shell would, no shell)."""

    name = "command"

    def __init__(self, command: str, runner: Runner = run_command) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:
            raise StopActionError(f"The stop command cannot be parsed: {exc}.") from None
        if not self.argv:
            raise StopActionError("The stop command after 'command:' is empty.")
        self.runner = runner

    def describe(self) -> str:
        return shlex.join(self.argv)

    def run(self) -> str:
        return _run_checked(self.runner, self.argv, self.describe())

    def poll(self) -> bool | None:
        return None


@dataclass(frozen=True)
class ActionChoice:
    action: VastAiAction | RunPodAction | PoweroffAction | CommandAction
    explanation: str  # which provider and why, one line
    secrets: tuple[str, ...]


def provider_secrets(env: Mapping[str, str]) -> tuple[str, ...]:
    """The providers' API keys set in ``env``: they must never appear in a line."""
    return tuple(key for key in (env.get(VAST_KEY_VAR), env.get(RUNPOD_KEY_VAR)) if key)


def build_action(
    spec: str,
    env: Mapping[str, str],
    *,
    dry_run: bool,
    runner: Runner = run_command,
    which: Callable[[str], str | None] = shutil.which,
    vast_url: str = VAST_URL,
    runpod_url: str = RUNPOD_URL,
) -> ActionChoice:
    """The stop action for ``--shutdown SPEC`` (auto|vastai|runpod|poweroff|command:CMD)."""
    vast_key = env.get(VAST_KEY_VAR) or None
    runpod_key = env.get(RUNPOD_KEY_VAR) or None
    secrets = provider_secrets(env)
    if spec == "auto":
        if env.get("CONTAINER_ID") and (vast_key or which("vastai")):
            spec, why = "vastai", "auto: vast.ai detected (CONTAINER_ID is set)"
        elif env.get("RUNPOD_POD_ID"):
            spec, why = "runpod", "auto: RunPod detected (RUNPOD_POD_ID is set)"
        elif dry_run:
            spec, why = "poweroff", "auto: no cloud provider detected; the dry run shows poweroff"
        else:
            raise StopActionError(
                "No cloud provider was detected (no CONTAINER_ID or RUNPOD_POD_ID); "
                "choose --shutdown poweroff or command:CMD explicitly."
            )
    else:
        why = f"--shutdown {spec.split(':', 1)[0]}"
    if spec == "vastai":
        instance = env.get("CONTAINER_ID")
        if not instance:
            raise StopActionError("vast.ai needs CONTAINER_ID in the environment to know which instance to stop.")
        use_cli = not vast_key
        if use_cli and not which("vastai"):
            raise StopActionError("vast.ai needs CONTAINER_API_KEY or the vastai CLI to stop the instance.")
        action = VastAiAction(instance, vast_key, base_url=vast_url, runner=runner, use_cli=use_cli)
        return ActionChoice(action, f"{why}; instance {instance}", secrets)
    if spec == "runpod":
        pod = env.get("RUNPOD_POD_ID")
        if not pod:
            raise StopActionError("RunPod needs RUNPOD_POD_ID in the environment to know which pod to stop.")
        use_cli = which("runpodctl") is not None
        action = RunPodAction(pod, runpod_key, base_url=runpod_url, runner=runner, use_cli=use_cli)
        return ActionChoice(action, f"{why}; pod {pod}", secrets)
    if spec == "poweroff":
        return ActionChoice(PoweroffAction(runner), why, secrets)
    if spec.startswith("command:"):
        return ActionChoice(CommandAction(spec[len("command:") :], runner), why, secrets)
    raise StopActionError(
        f"Unknown --shutdown value {spec!r}; use auto, vastai, runpod, poweroff or command:CMD."
    )
