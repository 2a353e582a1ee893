"""The canonical form of a consent event: the document a log leaf commits to.

One event of one record, with the record's terms as they were agreed, as a JSON
object serialised by :func:`consent.ledger.canonical_json`. The person appears only
as ``principal``, the pseudonym the recipient knows them by (their pairwise subject),
never the internal person id, so a receipt that carries this document discloses
nothing the recipient does not already hold.

The leaf is ``SHA-256(0x00 || SHA-256(salt || document))`` (RFC 9162 leaf hash over
the :func:`consent.ledger.event_commitment`); erasure deletes the event and its salt,
and the leaf stays, unlinkable.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from consent.ledger import SALT_SIZE, canonical_json, event_commitment
from consent.records import ConsentEvent, ConsentRecord

DOCUMENT_VERSION = "accord-consent-event/1"


def timestamp(at: datetime) -> str:
    """RFC 3339 in UTC with microseconds: one spelling per instant."""
    if at.tzinfo is None:
        raise ValueError("naive datetime: use aware UTC datetimes")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def terms(record: ConsentRecord) -> dict[str, Any]:
    """The terms of a record as agreed: what every rendering of it (the committed
    document, the person's export) states the same way."""
    recipient = record.to
    return {
        "schema_version": record.schema_version,
        "record_id": record.record_id,
        "receipt_id": record.receipt_id,
        "recipient": {
            "id": recipient.id,
            "kind": recipient.kind.value,
            "name": recipient.name,
            "contact": recipient.contact,
        },
        "purpose": record.purpose,
        "categories": sorted(record.categories),
        "lawful_basis": record.lawful_basis.value,
        "consent_type": record.consent_type,
        "separate": record.separate,
        "sensitive": record.sensitive,
        "notice": {
            "id": record.notice.id,
            "version": record.notice.version,
            "text_hash": record.notice.text_hash,
            "language": record.notice.language,
        },
        "language": record.language,
        "jurisdiction": record.jurisdiction,
        "storage_location": record.storage_location,
        "retention_days": record.retention_days,
        "withdrawal_method": record.withdrawal_method,
        "valid_from": timestamp(record.valid_from),
        "valid_until": timestamp(record.valid_until),
        "standard_version": record.standard_version,
    }


def event_fields(event: ConsentEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "seq": event.seq,
        "type": event.type.value,
        "at": timestamp(event.at),
        "actor": event.actor.value,
        "method": event.method,
        "ip_hash": event.ip_hash,
        "user_agent": event.user_agent,
        "valid_until": timestamp(event.valid_until) if event.valid_until else None,
        "reason": event.reason,
    }


def event_document(record: ConsentRecord, event: ConsentEvent, principal: str) -> dict[str, Any]:
    """The event and the record's terms, as committed in the log. The guardian appears
    only as whether there is one: the reference stays out of every receipt."""
    if event.record_id != record.record_id:
        raise ValueError("the event belongs to another record")
    if record.recipient is None:
        raise ValueError("a committed record names its recipient")
    return {
        "version": DOCUMENT_VERSION,
        "record": {
            **terms(record),
            "principal": principal,
            "guardian": record.guardian_ref is not None,
        },
        "event": event_fields(event),
    }


def canonical_event(record: ConsentRecord, event: ConsentEvent, principal: str) -> bytes:
    return canonical_json(event_document(record, event, principal))


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_SIZE)


def commit(record: ConsentRecord, event: ConsentEvent, principal: str, salt: bytes) -> bytes:
    """The 32-byte leaf data for ``event``."""
    return event_commitment(salt, canonical_event(record, event, principal))
