"""The keys of an attached console, applied in the session's process."""

from __future__ import annotations

from typing import Any


def apply_command(s: Any, command: str, message: dict[str, Any]) -> tuple[bool, str | None]:
    """One command from an attached console applied to the session ``s`` (a ConsoleSession),
    as the local console's keys do it: (done, the sentence why not)."""
    link = s.link
    if command == "note":
        text = str(message.get("message", ""))
        text = text.replace("from the console", "from an attached console") if "from the console" in text \
            else f"{text} (attached console)"
        s.note(str(message.get("level", "info")), text)
        return True, None
    if command in ("pause", "resume", "abort"):
        if not s.job_running:
            return False, "No job is running."
        if command == "pause":
            s.pause.set()
        elif command == "resume":
            s.pause.clear()
        else:
            s.discard_progress = bool(message.get("discard"))
            s.cancel.set()
            s.pause.clear()
        return True, None
    if command in ("dry_run", "stop_now", "cancel_countdown"):
        if link is None:
            return False, "This session has no watchdog."
        if command == "dry_run":
            ok = link.set_dry_run(bool(message.get("value")))
            return ok, None if ok else f"Dry-run stays on: {link.live_refusal}"
        if command == "stop_now":
            return (link.stop_now(), None) if link.view().can_stop_now else (False, "The machine cannot be stopped now.")
        return link.cancel_countdown(), None
    engine = s.engine
    if command == "skip":
        return engine.skip(message.get("clip")), None
    if command == "retry":
        return engine.retry(int(message["clip"])), None
    if command == "move":
        return engine.move(int(message["clip"]), int(message["delta"])), None
    if command == "add":
        engine.add_input(str(message["path"]))
        return True, None
    return False, f"Unknown command {command!r}."
