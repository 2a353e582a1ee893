"""Consent records and events for tests, valid unless told otherwise."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from consent.records import (
    Actor,
    ConsentEvent,
    ConsentRecord,
    EventType,
    History,
    NoticeRef,
    Recipient,
)
from consent.taxonomy import LawfulBasis, RecipientKind

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
BRAND_A = Recipient("brand-a", RecipientKind.brand, "Aurora Cosmetics", "dpo@aurora.example")
BRAND_B = Recipient("brand-b", RecipientKind.brand, "Borealis Sports", "dpo@borealis.example")
PLATFORM = Recipient("platform-1", RecipientKind.platform, "Redleaf", "dpo@redleaf.example")
NOTICE = NoticeRef("brand-view", 1, "sha256:" + "ab" * 32, "zh-CN")
VIEW = frozenset(
    {"user.interest.beauty", "user.demographic.city_tier", "user.content_quality.overall"}
)


def record(**overrides: Any) -> ConsentRecord:
    values: dict[str, Any] = {
        "record_id": str(uuid.uuid4()),
        "receipt_id": str(uuid.uuid4()),
        "person_id": "person-1",
        "recipient": BRAND_A,
        "purpose": "marketing.brand_view",
        "categories": VIEW,
        "lawful_basis": LawfulBasis.consent,
        "separate": True,
        "sensitive": False,
        "notice": NOTICE,
        "valid_from": T0,
        "valid_until": T0 + timedelta(days=365),
        "language": "zh-CN",
        "jurisdiction": "CN",
        "storage_location": "CN",
        "retention_days": 90,
        "withdrawal_method": "https://accord.example/consents",
        "standard_version": "1.0.0",
    }
    values.update(overrides)
    return ConsentRecord(**values)


def event(
    rec: ConsentRecord, seq: int, kind: EventType, at: datetime, **overrides: Any
) -> ConsentEvent:
    actor = {
        EventType.revoked: Actor.operator,
        EventType.expired: Actor.system,
        EventType.invalidated: Actor.system,
    }.get(kind, Actor.person)
    values: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "record_id": rec.record_id,
        "seq": seq,
        "type": kind,
        "at": at,
        "actor": actor,
        "method": "consent_center",
    }
    values.update(overrides)
    return ConsentEvent(**values)


def granted(rec: ConsentRecord | None = None, at: datetime = T0) -> History:
    rec = rec or record()
    return History(rec, (event(rec, 0, EventType.given, at),))


def then(history: History, kind: EventType, at: datetime, **overrides: Any) -> History:
    return history.append(event(history.record, len(history.events), kind, at, **overrides))


def moved(rec: ConsentRecord, **overrides: Any) -> ConsentRecord:
    return replace(rec, **overrides)
