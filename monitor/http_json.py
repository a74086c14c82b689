"""A tiny JSON-over-HTTP call (urllib) for the providers' stop APIs."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from monitor.errors import StopActionError


def http_json(
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Any:
    """Send ``body`` as JSON and return the decoded reply; StopActionError on any failure.

    The error text names the method and status only: URLs and headers may hold keys.
    """
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            raw = reply.read()
    except urllib.error.HTTPError as exc:
        raise StopActionError(f"The provider answered {method} with HTTP {exc.code}.") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StopActionError(f"The provider could not be reached ({type(reason).__name__}).") from None
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise StopActionError(f"The provider's reply to {method} was not JSON.") from None
