"""The transactional outbox: a change and the SETs announcing it commit together.

:func:`emit` only inserts a row in the caller's transaction; the dispatcher (push) or
the poll endpoint sends it later, signed then. A row waits while its recipient has no
stream, so a recipient that sets up its stream late still gets every event.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlmodel import Session

from gateway.db import core, utcnow
from gateway.events.models import DeliveryState, EventStream, SecurityEvent, StreamStatus
from gateway.events.types import MANDATORY, is_wanted

OUTBOX = core(SecurityEvent)
MAX_EVENT_BYTES = 16_384  # one SET stays small: it names the change, never a profile
ERROR_LENGTH = 200


def new_jti() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Announcement:
    """One SET to queue: for whom, what type, about whom, and the event's members."""

    recipient_id: str
    event_type: str
    subject: dict[str, Any]
    event: dict[str, Any]
    txn: str | None = None  # RFC 8417 §2.2: one value per underlying change


def emit(
    session: Session,
    *,
    recipient_id: str,
    event_type: str,
    subject: dict[str, Any],
    event: dict[str, Any],
    txn: str | None = None,
) -> str:
    """Queue one SET for a recipient (member id) in the caller's transaction; returns its jti. Never commits."""  # noqa: E501
    return emit_many(session, [Announcement(recipient_id, event_type, subject, event, txn)])[0]


def emit_many(session: Session, announcements: Sequence[Announcement]) -> list[str]:
    """Queue SETs in the caller's transaction (one statement); their jtis. Never commits."""
    now = utcnow()
    rows = [
        {
            "jti": new_jti(),
            "recipient_id": a.recipient_id,
            "event_type": a.event_type,
            "claims": _claims(a),
            "state": DeliveryState.pending,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for a in announcements
    ]
    if rows:
        session.execute(insert(OUTBOX), rows)
    return [str(row["jti"]) for row in rows]


def _claims(a: Announcement) -> dict[str, Any]:
    # RFC 9493 §3: a subject identifier is an object with a "format" member.
    if not isinstance(a.subject.get("format"), str):
        raise ValueError("subject must be a subject identifier with a format (RFC 9493)")
    if "://" not in a.event_type and not a.event_type.startswith("urn:"):
        raise ValueError("event_type must be a URI (RFC 8417 §2.2)")
    claims: dict[str, Any] = {"sub_id": a.subject, "events": {a.event_type: a.event}}
    if a.txn is not None:
        claims["txn"] = a.txn
    if len(json.dumps(claims)) > MAX_EVENT_BYTES:
        raise ValueError(f"a SET payload must stay under {MAX_EVENT_BYTES} bytes")
    return claims


def short(error: str) -> str:
    """An error for ``last_error``: one line, bounded."""
    line = " ".join(error.split())
    return line if len(line) <= ERROR_LENGTH else line[: ERROR_LENGTH - 1] + "…"


def settle_unwanted(
    session: Session, stream: EventStream, *, now: datetime, disabled: bool | None = None
) -> int:
    """Mark the recipient's pending SETs the stream does not take as ``not_requested``.

    A disabled stream holds nothing (SSF 1.0 §8.1.2) except what must always arrive:
    its erasure requests wait until it is enabled again (GDPR Art. 19)."""
    pending = session.execute(
        select(OUTBOX.c.id, OUTBOX.c.event_type).where(
            OUTBOX.c.recipient_id == stream.member_id,
            OUTBOX.c.state == DeliveryState.pending,
        )
    ).all()
    if disabled is None:
        disabled = stream.status == StreamStatus.disabled
    unwanted = [
        row.id
        for row in pending
        if not is_wanted(row.event_type, stream.events_delivered)
        or (disabled and row.event_type not in MANDATORY)
    ]
    if unwanted:
        reason = "stream disabled" if disabled else "event type not requested by the stream"
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(unwanted), OUTBOX.c.state == DeliveryState.pending)
            .values(state=DeliveryState.not_requested, last_error=reason, delivered_at=now)
        )
    return len(unwanted)


def summary(session: Session, recipient_id: str, *, limit: int = 100) -> dict[str, Any]:
    """Counts by state, the oldest pending SET, and the dead-lettered jtis."""
    counts = dict.fromkeys(DeliveryState, 0)
    for state, count in session.execute(
        select(OUTBOX.c.state, func.count())
        .where(OUTBOX.c.recipient_id == recipient_id)
        .group_by(OUTBOX.c.state)
    ).all():
        counts[DeliveryState(state)] = count
    oldest = session.execute(
        select(OUTBOX)
        .where(OUTBOX.c.recipient_id == recipient_id, OUTBOX.c.state == DeliveryState.pending)
        .order_by(OUTBOX.c.id)
        .limit(1)
    ).first()
    dead = session.execute(
        select(OUTBOX.c.jti, OUTBOX.c.event_type, OUTBOX.c.attempts, OUTBOX.c.last_error)
        .where(OUTBOX.c.recipient_id == recipient_id, OUTBOX.c.state == DeliveryState.dead)
        .order_by(OUTBOX.c.id)
        .limit(limit)
    ).all()
    return {
        "counts": {state.value: n for state, n in counts.items()},
        "oldest_pending": _describe(oldest) if oldest is not None else None,
        "dead": [dict(row._mapping) for row in dead],
    }


def _describe(row: Any) -> dict[str, Any]:
    return {
        "jti": row.jti,
        "event_type": row.event_type,
        "created_at": row.created_at,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "last_error": row.last_error,
    }
