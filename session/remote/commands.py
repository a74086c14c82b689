"""The keys of an attached console, applied in the session's process."""

from __future__ import annotations

from typing import Any

from session.remote.protocol import encode


def _reply(ok: bool, error: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"ok": bool(ok), "error": None if ok else error, **extra}


def apply_command(s: Any, command: str, message: dict[str, Any]) -> dict[str, Any]:
    """One command from an attached console applied to the session ``s`` (a ConsoleSession),
    as the local console's keys do it; the reply: ``ok``, and ``error`` (one sentence) if not."""
    link = s.link
    if command == "note":
        text = str(message.get("message", ""))
        text = text.replace("from the console", "from an attached console") if "from the console" in text \
            else f"{text} (attached console)"
        s.note(str(message.get("level", "info")), text)
        return _reply(True)
    if command in ("pause", "resume", "abort"):
        if not s.job_running:
            return _reply(False, "No job is running.")
        if command == "pause":
            s.pause.set()
        elif command == "resume":
            s.pause.clear()
        else:
            s.discard_progress = bool(message.get("discard"))
            s.cancel.set()
            s.pause.clear()
        return _reply(True)
    if command in ("dry_run", "stop_now", "cancel_countdown"):
        if link is None:
            return _reply(False, "This session has no watchdog.")
        if command == "dry_run":
            return _reply(link.set_dry_run(bool(message.get("value"))), f"Dry-run stays on: {link.live_refusal}")
        if command == "stop_now":
            if not link.view().can_stop_now:
                return _reply(False, "The machine cannot be stopped now.")
            return _reply(link.stop_now(), "The machine cannot be stopped now.")
        return _reply(link.cancel_countdown(), "No countdown is running.")
    engine = s.engine
    if command == "skip":
        return _reply(engine.skip(message.get("clip")), "That clip is not running.")
    if command == "retry":
        return _reply(engine.retry(int(message["clip"])), "Only a failed or skipped clip can be retried.")
    if command == "move":
        return _reply(engine.move(int(message["clip"]), int(message["delta"])), "That clip cannot move there.")
    if command == "add":
        clip = engine.add_input(str(message["path"]))  # FramedeckError: its sentence is the reply
        return _reply(True, clip=encode(clip.snapshot()))
    return _reply(False, f"Unknown command {command!r}.")
