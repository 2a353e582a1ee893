"""What a consent change tells its recipient: one SET per event (RFC 8417), queued in
the same transaction as the change (the events outbox delivers it)."""

from __future__ import annotations

from typing import Any

from consent.records import Actor, ConsentEvent, EventType, History, replay
from gateway.events import types
from gateway.events.outbox import Announcement

EVENT_TYPES = {
    EventType.given: types.CONSENT_GRANTED,
    EventType.renewed: types.CONSENT_SCOPE_CHANGED,
    EventType.withdrawn: types.CONSENT_WITHDRAWN,
    EventType.revoked: types.CONSENT_WITHDRAWN,
    EventType.expired: types.CONSENT_WITHDRAWN,
    EventType.invalidated: types.CONSENT_WITHDRAWN,
}
# CAEP's initiating_entity values (OpenID CAEP 1.0 §2).
INITIATOR = {
    Actor.person: "user",
    Actor.guardian: "user",
    Actor.recipient: "admin",
    Actor.operator: "admin",
    Actor.system: "policy",
}


def subject(issuer: str, principal: str) -> dict[str, Any]:
    """The person as the recipient knows them: its pairwise ``sub`` at our issuer."""
    return {"format": "iss_sub", "iss": issuer, "sub": principal}


def announcement(
    issuer: str,
    history: History,
    event: ConsentEvent,
    principal: str,
    account_id: str | None = None,
) -> Announcement:
    """The SET telling the record's recipient of ``event``."""
    record = history.record
    state = replay((*history.events, event))
    payload: dict[str, Any] = {
        "record_id": record.record_id,
        "purpose": record.purpose,
        "categories": sorted(record.categories),
        "state": state.value,
        "event": event.type.value,
        "event_timestamp": int(event.at.timestamp()),
        "initiating_entity": INITIATOR[event.actor],
        "valid_until": int((event.valid_until or history.valid_until_at(event.at)).timestamp()),
    }
    if event.reason:
        payload["reason_admin"] = {"en": event.reason}
    if account_id is not None:  # a platform also gets its own user id for the person
        payload["platform_user_id"] = account_id
    return Announcement(
        recipient_id=record.to.id,
        event_type=EVENT_TYPES[event.type],
        subject=subject(issuer, principal),
        event=payload,
        txn=event.event_id,
    )
