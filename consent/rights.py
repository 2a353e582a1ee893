"""Data-subject requests: export (access and portability) and erasure, with deadlines.

The rights served here are PIPL Art. 45 (access, copy and transfer of one's personal
information) and Art. 47 (deletion), GDPR Art. 15 (access), Art. 17 (erasure), Art. 19
(every recipient is told of an erasure) and Art. 20 (portability, in a structured,
machine-readable format). A request is received, then either completed or refused;
a refusal always states its reason (GDPR Art. 12(4); PIPL Art. 50: a rejection is
explained). Both final states are final: asking again makes a new request.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from consent.canonical import event_fields, terms, timestamp
from consent.errors import InvalidTransition, RecordRefused
from consent.receipts import receipt_id
from consent.records import History

EXPORT_FORMAT = "accord-rights-export/1"
# GDPR Art. 12(3): answer "without undue delay and in any event within one month of
# receipt"; PIPL Art. 50 asks for prompt handling and GB/T 35273-2020 §8.7 sets 30 days.
# One month read as 30 days: never later than either.
DEADLINE = timedelta(days=30)
REASON_LENGTH = 500
DAY = timedelta(days=1)


class RequestKind(StrEnum):
    export = "export"  # PIPL Art. 45; GDPR Arts. 15 and 20
    erasure = "erasure"  # PIPL Art. 47; GDPR Arts. 17 and 19


class RequestState(StrEnum):
    received = "received"
    completed = "completed"
    refused = "refused"


# The lifecycle: the states each state may move to. Completed and refused are final.
TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    RequestState.received: frozenset({RequestState.completed, RequestState.refused}),
    RequestState.completed: frozenset(),
    RequestState.refused: frozenset(),
}


@dataclass(frozen=True)
class RightsRequest:
    """One request of a person, relayed by a member platform. ``completed_at`` is when
    it was answered: completed, or refused."""

    id: str
    kind: RequestKind
    received_at: datetime
    due_at: datetime
    state: RequestState = RequestState.received
    reason: str | None = None
    completed_at: datetime | None = None

    @classmethod
    def receive(cls, request_id: str, kind: RequestKind, at: datetime) -> RightsRequest:
        """A new request, due one :data:`DEADLINE` after it arrived."""
        return cls(request_id, kind, received_at=at, due_at=at + DEADLINE)

    @property
    def open(self) -> bool:
        return self.state is RequestState.received

    def overdue(self, now: datetime) -> bool:
        """Still unanswered after its deadline."""
        return self.open and now > self.due_at

    def days_left(self, now: datetime) -> int:
        """Whole days (rounded up) until the deadline; 0 once answered or overdue."""
        if not self.open or now >= self.due_at:
            return 0
        return math.ceil((self.due_at - now) / DAY)

    def complete(self, at: datetime | None = None) -> RightsRequest:
        self._move(RequestState.completed)
        return replace(self, state=RequestState.completed, completed_at=at or _now())

    def refuse(self, reason: str, at: datetime | None = None) -> RightsRequest:
        """Refuse with a reason the person is shown (GDPR Art. 12(4); PIPL Art. 50)."""
        self._move(RequestState.refused)
        text = reason.strip()
        if not text:
            raise RecordRefused("a refusal must state its reason (GDPR Art. 12(4))")
        if len(text) > REASON_LENGTH:
            raise RecordRefused(f"a refusal's reason is at most {REASON_LENGTH} characters")
        return replace(self, state=RequestState.refused, reason=text, completed_at=at or _now())

    def _move(self, to: RequestState) -> None:
        if to not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"a {self.state.value} request cannot become {to.value}")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LinkedAccount:
    """An account of the person at a member platform, as the platform names it."""

    platform: str  # the platform's name
    account_id: str
    linked_at: datetime


@dataclass(frozen=True)
class Pseudonym:
    """A pairwise subject issued for the person in one sector (OIDC Core §8.1)."""

    sector: str
    sub: str


@dataclass(frozen=True)
class Authorization:
    """A sign-in or data authorisation the person gave a member (an OAuth grant)."""

    member: str  # the member's name
    scope: str
    granted_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None


@dataclass(frozen=True)
class SignIn:
    """A session at the gateway, opened through one member platform."""

    platform: str
    signed_in_at: datetime
    expires_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class PendingLink:
    """A platform account proven for a link the person has not confirmed yet."""

    platform: str
    account_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Read:
    """An entry of the access log: a member read some of the person's data."""

    reader: str  # the member's name
    purpose: str
    categories: tuple[str, ...]
    what: str  # how: "userinfo", "token_exchange", ...
    at: datetime


@dataclass(frozen=True)
class HeldValue:
    """A profile attribute the gateway keeps: one platform's value of one category."""

    platform: str  # the platform's name
    category: str
    value: Any
    observed_at: datetime
    kept_until: datetime  # deleted then, or sooner when no consent needs it


def receipt_path(record_id: str, seq: int) -> str:
    """Where the signed receipt of one event is served (to the record's recipient)."""
    return f"/v1/consents/{record_id}/receipts/{seq}"


def export_document(
    *,
    generated_at: datetime,
    accounts: Sequence[LinkedAccount],
    subjects: Sequence[Pseudonym],
    consents: Sequence[History],
    requests: Sequence[RightsRequest],
    authorizations: Sequence[Authorization] = (),
    sessions: Sequence[SignIn] = (),
    pending_links: Sequence[PendingLink] = (),
    access_log: Sequence[Read] = (),
    attributes: Sequence[HeldValue] = (),
    minor_under_14: bool = False,
    known_since: datetime | None = None,
) -> dict[str, Any]:
    """The person's data in a structured, machine-readable form (GDPR Art. 20(1);
    PIPL Art. 45). The internal person id is never written: the person appears only
    under the identifiers members know them by.

    ``access_log`` lists every read of the person's data by a member, latest first.
    ``attributes`` lists every profile value platforms pushed and the gateway keeps.
    """
    return {
        "format": EXPORT_FORMAT,
        "generated_at": timestamp(generated_at),
        "person": {
            "known_since": timestamp(known_since) if known_since else None,
            "minor_under_14": minor_under_14,  # as a platform asserted it (PIPL Art. 31)
        },
        "accounts": [
            {
                "platform": a.platform,
                "account_id": a.account_id,
                "linked_at": timestamp(a.linked_at),
            }
            for a in accounts
        ],
        "subjects": [{"sector": s.sector, "sub": s.sub} for s in subjects],
        "consents": [_consent(h, generated_at) for h in consents],
        "receipts": [
            {
                "receipt_id": receipt_id(h.record, e),
                "record_id": h.record.record_id,
                "seq": e.seq,
                "path": receipt_path(h.record.record_id, e.seq),
            }
            for h in consents
            for e in h.events
        ],
        "authorizations": [
            {
                "member": a.member,
                "scope": a.scope,
                "granted_at": timestamp(a.granted_at),
                "revoked_at": timestamp(a.revoked_at) if a.revoked_at else None,
                "revoked_reason": a.revoked_reason,
            }
            for a in authorizations
        ],
        "sessions": [
            {
                "platform": s.platform,
                "signed_in_at": timestamp(s.signed_in_at),
                "expires_at": timestamp(s.expires_at),
                "ended_at": timestamp(s.ended_at) if s.ended_at else None,
            }
            for s in sessions
        ],
        "pending_links": [
            {
                "platform": p.platform,
                "account_id": p.account_id,
                "expires_at": timestamp(p.expires_at),
            }
            for p in pending_links
        ],
        "access_log": [
            {
                "reader": r.reader,
                "purpose": r.purpose,
                "categories": list(r.categories),
                "what": r.what,
                "at": timestamp(r.at),
            }
            for r in access_log
        ],
        "attributes": [
            {
                "platform": a.platform,
                "category": a.category,
                "value": a.value,
                "observed_at": timestamp(a.observed_at),
                "kept_until": timestamp(a.kept_until),
            }
            for a in attributes
        ],
        "requests": [_request(r) for r in requests],
    }


def _consent(history: History, now: datetime) -> dict[str, Any]:
    state = history.state_at(now)
    return {
        **terms(history.record),
        "guardian_ref": history.record.guardian_ref,
        "valid_until": timestamp(history.valid_until_at(now)),  # after any renewal
        "state": state.value if state else None,
        "events": [event_fields(e) for e in history.events],
    }


def _request(request: RightsRequest) -> dict[str, Any]:
    return {
        "request_id": request.id,
        "kind": request.kind.value,
        "state": request.state.value,
        "received_at": timestamp(request.received_at),
        "due_at": timestamp(request.due_at),
        "completed_at": timestamp(request.completed_at) if request.completed_at else None,
        "reason": request.reason,
    }
