"""Shapes of consent requests and answers on the wire. Rules beyond shape live in the
consent core; these only bound sizes and forbid unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from consent.records import History

Key = Field(min_length=1, max_length=120, pattern=r"^[a-z0-9_.\-]+$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoticeCited(Strict):
    id: str = Key
    version: int = Field(ge=1)


class Collected(Strict):
    """How the platform collected the person's choice (evidence; the IP is hashed)."""

    actor: Literal["person", "guardian"] = "person"
    method: str = Field(default="platform_ui", min_length=1, max_length=64)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)


class ConsentIn(Strict):
    """A consent a platform collected in its own UI, for itself as recipient."""

    account_id: str = Field(min_length=1, max_length=255, description="the platform's user id")
    purpose: str = Key
    categories: list[str] = Field(min_length=1, max_length=200)
    notice: NoticeCited
    valid_until: datetime | None = None
    separate: bool = True
    guardian_ref: str | None = Field(default=None, min_length=1, max_length=255)
    minor_under_14: bool = False
    collected: Collected = Collected()


MAX_BATCH = 1000


class ConsentBatchIn(Strict):
    """Many consents the platform collected, recorded in one call (e.g. a backlog)."""

    consents: list[ConsentIn] = Field(min_length=1, max_length=MAX_BATCH)


class WithdrawIn(Strict):
    collected: Collected = Collected()


class RevokeIn(Strict):
    reason: str = Field(min_length=1, max_length=300)


class EventOut(BaseModel):
    seq: int
    type: str
    at: datetime
    actor: str
    method: str
    valid_until: datetime | None = None
    reason: str | None = None


class ConsentOut(BaseModel):
    record_id: str
    receipt_id: str
    subject: str
    account_id: str | None = None
    recipient: dict[str, str]
    purpose: str
    categories: list[str]
    lawful_basis: str
    separate: bool
    sensitive: bool
    guardian: bool
    notice: dict[str, str | int]
    valid_from: datetime
    valid_until: datetime
    state: str
    state_dpv: str
    events: list[EventOut]


def consent_out(
    history: History, subject: str, account_id: str | None, now: datetime
) -> ConsentOut:
    record = history.record
    recipient = record.to
    state = history.state_at(now)
    return ConsentOut(
        record_id=record.record_id,
        receipt_id=record.receipt_id,
        subject=subject,
        account_id=account_id,
        recipient={
            "id": recipient.id,
            "kind": recipient.kind.value,
            "name": recipient.name,
            "contact": recipient.contact,
        },
        purpose=record.purpose,
        categories=sorted(record.categories),
        lawful_basis=record.lawful_basis.value,
        separate=record.separate,
        sensitive=record.sensitive,
        guardian=record.guardian_ref is not None,
        notice={
            "id": record.notice.id,
            "version": record.notice.version,
            "text_hash": record.notice.text_hash,
            "language": record.notice.language,
        },
        valid_from=record.valid_from,
        valid_until=history.valid_until_at(now),
        state=state.value if state else "none",
        state_dpv=state.dpv if state else "",
        events=[
            EventOut(
                seq=e.seq,
                type=e.type.value,
                at=e.at,
                actor=e.actor.value,
                method=e.method,
                valid_until=e.valid_until,
                reason=e.reason,
            )
            for e in history.events
        ],
    )


class ConsentList(BaseModel):
    consents: list[ConsentOut]


class BatchItem(BaseModel):
    """One consent of a batch: recorded (status 201, the consent) or refused (the
    error's status and its problem document, as the single call would answer)."""

    index: int
    status: int
    consent: ConsentOut | None = None
    error: dict[str, Any] | None = None


class ConsentBatchOut(BaseModel):
    recorded: int
    refused: int
    results: list[BatchItem]


class Eligible(BaseModel):
    account_id: str
    subject: str
    record_id: str
    categories: list[str]
    valid_until: datetime


class EligibleList(BaseModel):
    purpose: str
    accounts: list[Eligible]
    next_cursor: str | None = None


class DecisionIn(Strict):
    account_id: str | None = Field(default=None, min_length=1, max_length=255)
    sub: str | None = Field(default=None, min_length=1, max_length=64)
    purpose: str = Key
    categories: list[str] = Field(min_length=1, max_length=200)


class DecisionOut(BaseModel):
    allowed: bool
    granted_by: dict[str, str]
    denied: dict[str, str]
    reasons: list[str]
    explanation: list[str]


class NoticeIn(Strict):
    text: str = Field(min_length=1, max_length=200_000)
    language: str = Field(min_length=2, max_length=16, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]+)*$")


class NoticeOut(BaseModel):
    notice_id: str
    version: int
    language: str
    text_hash: str
    published_at: datetime
    text: str | None = None
    invalidated: int | None = None
