"""The interface of a stop action: describe it exactly, run it, ask whether it worked."""

from __future__ import annotations

from typing import Protocol


class StopAction(Protocol):
    """Stops this machine. ``describe()`` shows the exact action with secrets redacted."""

    name: str  # "vastai", "runpod", "poweroff", "command"

    def describe(self) -> str:
        """The exact action, e.g. ``PUT https://.../instances/123/ {"state": "stopped"}``."""
        ...

    def run(self) -> str:
        """Act; return a one-line result, raise StopActionError when it failed."""
        ...

    def poll(self) -> bool | None:
        """True when the provider reports the instance stopped, False when not yet,
        None when this action cannot tell (poweroff, custom commands)."""
        ...
