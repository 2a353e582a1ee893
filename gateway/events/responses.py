"""How the gateway reads a receiver's answer to a pushed SET (RFC 8935 §2.2–§2.4).

202 Accepted means the receiver took responsibility for the SET (§2.2); any 2xx is
taken the same way, since some receivers answer 200 or 204. A 400 is the receiver
refusing this SET for good, with an ``err`` code from §2.4 (``invalid_key``,
``invalid_audience`` …): sending it again would be refused again, so it is dead at
once. Anything else (5xx, 429, other statuses, no answer) may pass, so it is retried.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from gateway.events.outbox import short


@dataclass(frozen=True)
class Outcome:
    delivered: bool = False
    permanent: bool = False
    error: str | None = None
    retry_after: float | None = None

    @classmethod
    def retry(cls, error: str, retry_after: float | None = None) -> Outcome:
        return cls(error=short(error), retry_after=retry_after)


def judge(response: httpx.Response) -> Outcome:
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(delivered=True)
    if status == 400:
        return Outcome(permanent=True, error=short(_refusal(response)))
    return Outcome.retry(f"HTTP {status}", _retry_after(response))


def _refusal(response: httpx.Response) -> str:
    """``err: description`` from the RFC 8935 §2.3 error body, or the bare status."""
    try:
        body = response.json()
    except ValueError:
        return "HTTP 400"
    if not isinstance(body, dict) or not isinstance(body.get("err"), str):
        return "HTTP 400"
    description = body.get("description")
    err = body["err"][:64]
    return f"{err}: {description}" if isinstance(description, str) and description else err


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (RFC 9110 §10.2.3); an HTTP date is ignored."""
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 86_400 else None
