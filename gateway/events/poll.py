"""Poll-based SET delivery (RFC 8936), the transmitter's side, as one unit of work.

A poll first settles what the receiver reports: acknowledged SETs (§2.4.2) are never
sent again, SETs it reports errors for (§2.4.4) are recorded as dead and not sent
again either. Then it hands out the oldest SETs still unacknowledged, signed now:
one handed out before but not acknowledged comes again, so nothing is lost when a
response never reaches the receiver (§2.5). A SET handed out stays ``pending`` (with
``delivered_at`` set) until it is acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Session

from gateway.events.config import PollRequest, PollResponse
from gateway.events.models import DeliveryState, EventStream, StreamStatus
from gateway.events.outbox import OUTBOX, settle_unwanted, short
from gateway.events.sets import sign
from gateway.keys import KeyRing

DEFAULT_MAX_EVENTS = 100


@dataclass(frozen=True)
class Settled:
    """What a poll's reports settled, for the metrics: the lag of each SET acknowledged
    (seconds from its creation), and how many were reported failed."""

    acknowledged: list[float] = field(default_factory=list)
    dead: int = 0


def settle_reports(
    session: Session, stream: EventStream, request: PollRequest, now: datetime
) -> Settled:
    """Apply the request's ``ack`` and ``setErrs`` to SETs handed out to this recipient."""
    mine = OUTBOX.c.recipient_id == stream.member_id
    handed_out = OUTBOX.c.state.in_([DeliveryState.pending, DeliveryState.delivered])
    lags: list[float] = []
    if request.ack:
        created = session.execute(
            update(OUTBOX)
            .where(mine, handed_out, OUTBOX.c.jti.in_(request.ack))
            .values(state=DeliveryState.acknowledged, last_error=None)
            .returning(OUTBOX.c.created_at)
        ).scalars()
        lags = [(now - at).total_seconds() for at in created]
    dead = 0
    for jti, error in request.setErrs.items():
        failed = session.execute(
            update(OUTBOX)
            .where(mine, handed_out, OUTBOX.c.jti == jti)
            .values(state=DeliveryState.dead, last_error=short(f"{error.err}: {error.description}"))
            .returning(OUTBOX.c.id)
        ).all()
        dead += len(failed)
    return Settled(lags, dead)


def hand_out(
    session: Session,
    stream: EventStream,
    request: PollRequest,
    *,
    issuer: str,
    keys: KeyRing,
    now: datetime,
) -> PollResponse:
    """The SETs due to the receiver, oldest first, at most ``maxEvents`` of them."""
    if stream.status != StreamStatus.enabled:  # paused holds, disabled holds nothing
        return PollResponse(sets={}, moreAvailable=False)
    settle_unwanted(session, stream, now=now)
    limit = DEFAULT_MAX_EVENTS if request.maxEvents is None else request.maxEvents
    rows = session.execute(
        select(OUTBOX)
        .where(
            OUTBOX.c.recipient_id == stream.member_id,
            OUTBOX.c.state == DeliveryState.pending,
        )
        .order_by(OUTBOX.c.id)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_([row.id for row in rows]))
            .values(attempts=OUTBOX.c.attempts + 1, delivered_at=now)
        )
    sets = {row.jti: sign(row, issuer=issuer, audience=stream.aud, keys=keys) for row in rows}
    return PollResponse(sets=sets, moreAvailable=more)


def poll(
    session: Session,
    stream: EventStream,
    request: PollRequest,
    *,
    issuer: str,
    keys: KeyRing,
    now: datetime,
) -> tuple[PollResponse, Settled]:
    settled = settle_reports(session, stream, request, now)
    return hand_out(session, stream, request, issuer=issuer, keys=keys, now=now), settled
