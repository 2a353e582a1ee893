"""The SETs an example app receives, and the push stream that brings them.

At start-up each app creates its SSF stream at the gateway (or, when one exists from an
earlier run, replaces it: a new run has a new receiver secret), pointing at its
``/accord/events`` endpoint, and asks for a verification SET so the events page shows
the pipe working. ``sdk.set_receiver`` verifies each pushed SET; :class:`Inbox` keeps
the latest ones for the ``/events`` page, newest first.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from examples.pages import e, table
from sdk import AccordError, AsyncBrandClient, AsyncPlatformClient, ConflictError, SecurityEvent

log = logging.getLogger("examples.inbox")

KEPT = 500  # SETs shown on the events page; older ones fall off
PREFIXES = (
    "https://schemas.accord.dev/secevent/",
    "https://schemas.openid.net/secevent/caep/event-type/",
    "https://schemas.openid.net/secevent/ssf/event-type/",
)
SUMMARY = ("purpose", "state", "platform_user_id", "initiating_entity", "record_id")
MAX_SUMMARY = 240
RETRY_EVERY = 2.0  # seconds between attempts to set the stream up


def short_type(event_type: str) -> str:
    for prefix in PREFIXES:
        if event_type.startswith(prefix):
            return event_type.removeprefix(prefix)
    return event_type


def summary(payload: Mapping[str, Any]) -> str:
    """A payload in one bounded line: the members a person reading the page cares for."""
    parts = [f"{k}={payload[k]}" for k in SUMMARY if k in payload]
    categories = payload.get("categories")
    if isinstance(categories, list):
        parts.append(f"categories={len(categories)}")
    if "state" in payload and "purpose" not in payload:  # a verification SET echoes state
        parts = [f"state={payload['state']}"]
    text = ", ".join(parts) or ", ".join(sorted(payload)) or "(empty)"
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"


def subject(event: SecurityEvent) -> str:
    sub_id = event.sub_id
    if isinstance(sub_id.get("sub"), str):
        return str(sub_id["sub"])
    user = sub_id.get("user")
    if isinstance(user, dict) and isinstance(user.get("sub"), str):
        return str(user["sub"])
    return str(sub_id.get("id", sub_id.get("format", "")))


@dataclass(frozen=True)
class Received:
    event: SecurityEvent
    at: datetime


class Inbox:
    def __init__(self, limit: int = KEPT) -> None:
        self._items: deque[Received] = deque(maxlen=limit)

    def add(self, event: SecurityEvent) -> None:
        self._items.appendleft(Received(event, datetime.now(UTC)))

    def latest(self) -> list[Received]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def html(self, label: Callable[[SecurityEvent], str] | None = None) -> str:
        """The events table (``#events``), one ``tr.event`` per SET, newest first."""
        rows = []
        for n, item in enumerate(self.latest()):
            event = item.event
            issued = datetime.fromtimestamp(event.iat, UTC).isoformat(timespec="seconds")
            named = label(event) if label else ""
            extra = f' <span class="muted">({e(named)})</span>' if named else ""
            rows.append(
                f'<tr class="event" id="event-{n}" data-type="{e(short_type(event.event_type))}">'
                f'<td class="type"><code>{e(short_type(event.event_type))}</code></td>'
                f'<td class="subject"><code>{e(subject(event))}</code>{extra}</td>'
                f'<td class="time"><time datetime="{e(issued)}">{e(issued)}</time></td>'
                f'<td class="payload">{e(summary(event.payload))}</td></tr>'
            )
        if not rows:
            return '<p id="no-events">No security events received yet.</p>'
        return table("events", ["Type", "Subject", "Issued", "Payload"], rows)


class Stream:
    """This app's push stream at the gateway: set up in the background, retried until
    the gateway answers; ``ready`` once the gateway will push to us."""

    def __init__(self, client: AsyncPlatformClient | AsyncBrandClient, endpoint: str) -> None:
        self.client = client
        self.endpoint = endpoint
        self.authorization = "Bearer " + secrets.token_urlsafe(32)  # our receiver's secret
        self.ready = asyncio.Event()
        self.problem: str | None = "connecting to the gateway"
        self.stream_id: str | None = None

    async def connect(self) -> None:
        """Create or replace the stream and ask for a verification SET (idempotent)."""
        existing = await self.client.stream()
        if existing is None:
            try:
                created = await self.client.create_stream(
                    endpoint_url=self.endpoint,
                    authorization_header=self.authorization,
                    description="demo alliance app",
                )
            except ConflictError:  # another run made one meanwhile: replace it below
                existing = await self.client.stream()
                if existing is None:
                    raise
            else:
                stream_id = created.stream_id
        if existing is not None:
            replaced = await self.client.replace_stream(
                existing.stream_id,
                endpoint_url=self.endpoint,
                authorization_header=self.authorization,
                description="demo alliance app",
            )
            stream_id = replaced.stream_id
        await self.client.set_stream_status(stream_id, "enabled")
        started = datetime.now(UTC).isoformat(timespec="seconds")
        await self.client.verify_stream(stream_id, f"app started {started}")
        self.stream_id = stream_id

    async def keep_trying(self, attempts: int | None = None) -> None:
        tried = 0
        while attempts is None or tried < attempts:
            tried += 1
            try:
                await self.connect()
            except AccordError as exc:
                self.problem = f"the gateway refused or did not answer: {exc}"
                log.warning("stream setup failed (retrying): %s", exc)
                await asyncio.sleep(RETRY_EVERY)
                continue
            self.problem = None
            self.ready.set()
            return
