"""Keeps secrets out of every line, event and error the monitor produces."""

from __future__ import annotations

MASK = "***"


class Redactor:
    """Replaces every registered secret (and any text containing it) with ``***``."""

    def __init__(self, secrets: tuple[str, ...] | list[str] = ()) -> None:
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 4 and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)
