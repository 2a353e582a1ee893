"""Consent records and their events, shaped after ISO/IEC TS 27560 with W3C DPV states.

A record says what a person agreed to: recipient × purpose × categories, under which
notice, for how long. Events (given, renewed, withdrawn, revoked, expired,
invalidated) are appended, never updated; a record's state at any time is derived
by replaying them through :data:`TRANSITIONS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from consent.errors import (
    InvalidTransition,
    InvalidValidity,
    MissingRecipient,
    NotNecessary,
    RecipientNotAllowed,
    SensitiveConsentRequired,
    SeparateConsentRequired,
    UnknownCategory,
    UnknownPurpose,
)
from consent.taxonomy import DataStandard, LawfulBasis, Purpose, RecipientKind

SCHEMA_VERSION = "accord-consent-record/1"  # after ISO/IEC TS 27560:2023


class ConsentState(StrEnum):
    """W3C DPV consent states (dpv:ConsentGiven, ...)."""

    given = "given"
    withdrawn = "withdrawn"  # by the person
    revoked = "revoked"  # by the operator or the recipient
    expired = "expired"
    invalidated = "invalidated"  # e.g. the notice it rests on changed

    @property
    def dpv(self) -> str:
        return "dpv:Consent" + self.value.capitalize()


class EventType(StrEnum):
    given = "given"
    renewed = "renewed"
    withdrawn = "withdrawn"
    revoked = "revoked"
    expired = "expired"
    invalidated = "invalidated"


# Events that take a consent out of force (all but given and renewed).
ENDING_EVENTS = frozenset(
    {EventType.withdrawn, EventType.revoked, EventType.expired, EventType.invalidated}
)


class Actor(StrEnum):
    person = "person"
    guardian = "guardian"
    recipient = "recipient"
    operator = "operator"
    system = "system"


S, E = ConsentState, EventType
# The lifecycle: which event may follow which state, and the state it leads to.
# Withdrawn, revoked and invalidated are final: consenting again makes a new record.
TRANSITIONS: dict[ConsentState | None, dict[EventType, ConsentState]] = {
    None: {E.given: S.given},
    S.given: {
        E.renewed: S.given,
        E.withdrawn: S.withdrawn,
        E.revoked: S.revoked,
        E.expired: S.expired,
        E.invalidated: S.invalidated,
    },
    S.expired: {E.renewed: S.given, E.revoked: S.revoked, E.invalidated: S.invalidated},
    S.withdrawn: {},
    S.revoked: {},
    S.invalidated: {},
}
# Who may append which event.
ACTORS: dict[EventType, frozenset[Actor]] = {
    E.given: frozenset({Actor.person, Actor.guardian}),
    E.renewed: frozenset({Actor.person, Actor.guardian}),
    E.withdrawn: frozenset({Actor.person, Actor.guardian}),
    E.revoked: frozenset({Actor.operator, Actor.recipient}),
    E.expired: frozenset({Actor.system}),
    E.invalidated: frozenset({Actor.system, Actor.operator}),
}


@dataclass(frozen=True)
class Recipient:
    """Who receives the data: PIPL Art. 23 requires its name and contact to be shown."""

    id: str
    kind: RecipientKind
    name: str
    contact: str


@dataclass(frozen=True)
class NoticeRef:
    """The exact notice the person saw: its id, version and the hash of its text."""

    id: str
    version: int
    text_hash: str  # "sha256:<hex>" of the exact text shown
    language: str


@dataclass(frozen=True)
class ConsentRecord:
    record_id: str
    receipt_id: str
    person_id: str  # internal: never leaves the gateway
    recipient: Recipient | None
    purpose: str
    categories: frozenset[str]  # leaf categories of the data standard
    lawful_basis: LawfulBasis
    separate: bool  # given on its own, not bundled into terms
    sensitive: bool  # covers sensitive categories (PIPL Art. 28), given on its own
    notice: NoticeRef
    valid_from: datetime
    valid_until: datetime
    language: str
    jurisdiction: str
    storage_location: str
    retention_days: int
    withdrawal_method: str
    guardian_ref: str | None = None
    consent_type: str = "explicit"
    standard_version: str = ""
    schema_version: str = SCHEMA_VERSION

    @property
    def to(self) -> Recipient:
        """The recipient of a stored record (validation refuses records without one)."""
        if self.recipient is None:
            raise MissingRecipient("a consent must name its recipient (PIPL Art. 23)")
        return self.recipient


@dataclass(frozen=True)
class ConsentEvent:
    event_id: str
    record_id: str
    seq: int  # 0 for the first event of a record, then 1, 2, ...
    type: EventType
    at: datetime
    actor: Actor
    method: str  # e.g. "consent_center", "platform_ui", "api", "expiry_job"
    ip_hash: str | None = None  # keyed hash: evidence without keeping the address
    user_agent: str | None = None
    valid_until: datetime | None = None  # a renewal's new end of validity
    reason: str | None = None  # why a revocation or invalidation happened


@dataclass(frozen=True)
class History:
    """A record with its events, in order: everything a decision needs about it."""

    record: ConsentRecord
    events: tuple[ConsentEvent, ...] = field(default=())

    def state_at(self, at: datetime) -> ConsentState | None:
        """The record's state at ``at``: its events up to then, then time-based expiry."""
        state: ConsentState | None = None
        for event in self.events:
            if event.at > at:
                break
            state = TRANSITIONS[state][event.type]
        if state is ConsentState.given and at >= self.valid_until_at(at):
            return ConsentState.expired
        return state

    def valid_until_at(self, at: datetime) -> datetime:
        until = self.record.valid_until
        for event in self.events:
            if event.at > at:
                break
            if event.type is EventType.renewed and event.valid_until is not None:
                until = event.valid_until
        return until

    def in_force_at(self, at: datetime) -> bool:
        return self.record.valid_from <= at and self.state_at(at) is ConsentState.given

    def append(self, event: ConsentEvent) -> History:
        """The history with ``event`` added, if the lifecycle allows it."""
        check_next(self, event)
        return History(self.record, (*self.events, event))


def replay(events: Iterable[ConsentEvent]) -> ConsentState:
    """The state the events lead to, ignoring time (the last event's effect)."""
    state: ConsentState | None = None
    for event in events:
        state = TRANSITIONS[state][event.type]
    if state is None:
        raise InvalidTransition("a record has at least its 'given' event")
    return state


def check_next(history: History, event: ConsentEvent) -> None:
    """Refuse an event out of sequence, out of order, by the wrong actor or state."""
    if event.record_id != history.record.record_id:
        raise InvalidTransition("the event belongs to another record")
    if event.seq != len(history.events):
        raise InvalidTransition(f"expected event {len(history.events)}, got {event.seq}")
    if history.events and event.at < history.events[-1].at:
        raise InvalidTransition("events are appended in time order")
    if event.actor not in ACTORS[event.type]:
        raise InvalidTransition(f"a {event.actor.value} cannot append '{event.type.value}'")
    state: ConsentState | None = None
    for past in history.events:
        state = TRANSITIONS[state][past.type]
    lapsed = state is ConsentState.given and event.at >= history.valid_until_at(event.at)
    if event.type is EventType.expired and state is ConsentState.given and not lapsed:
        raise InvalidTransition("a consent expires at the end of its validity, not before")
    # A lapsed consent can be renewed, or its expiry recorded; anything else sees it expired.
    if lapsed and event.type not in {EventType.renewed, EventType.expired}:
        state = ConsentState.expired
    if event.type not in TRANSITIONS[state]:
        now = state.value if state else "new"
        raise InvalidTransition(f"a {now} consent cannot be {event.type.value}")
    if event.type is EventType.renewed and (
        event.valid_until is None or event.valid_until <= event.at
    ):
        raise InvalidTransition("a renewal needs a new validity in the future")


def expand(standard: DataStandard, categories: Iterable[str]) -> frozenset[str]:
    """The leaf categories named by ``categories`` (parents stand for their leaves)."""
    leaves: set[str] = set()
    for key in categories:
        found = standard.leaves_under(key)
        if key not in standard.categories:
            raise UnknownCategory(f"unknown category '{key}'")
        if not found:
            raise UnknownCategory(f"category '{key}' is deprecated and covers nothing")
        leaves |= found
    return frozenset(leaves)


def check_scope(
    standard: DataStandard, purpose_key: str, kind: RecipientKind, categories: Iterable[str]
) -> tuple[Purpose, frozenset[str]]:
    """The purpose and leaf categories, if the purpose is open to ``kind`` and needs them."""
    purpose = standard.purposes.get(purpose_key)
    if purpose is None:
        raise UnknownPurpose(f"unknown purpose '{purpose_key}'")
    if kind not in purpose.recipients:
        raise RecipientNotAllowed(f"purpose '{purpose_key}' is not open to a {kind.value}")
    leaves = expand(standard, categories)
    if not leaves:
        raise NotNecessary("name at least one category")
    outside = sorted(leaves - purpose.necessity)
    if outside:
        more = f" and {len(outside) - 3} more" if len(outside) > 3 else ""
        raise NotNecessary(
            f"not necessary for '{purpose_key}' (PIPL Art. 6): " + ", ".join(outside[:3]) + more
        )
    return purpose, leaves


def validate(record: ConsentRecord, standard: DataStandard) -> None:
    """Refuse a record the law or the standard does not allow, naming the rule."""
    recipient = record.recipient
    if recipient is None or not (recipient.id and recipient.name.strip() and recipient.contact):
        raise MissingRecipient(
            "a consent must name its recipient with name and contact (PIPL Art. 23)"
        )
    purpose, leaves = check_scope(standard, record.purpose, recipient.kind, record.categories)
    if leaves != record.categories:
        raise UnknownCategory("a record lists leaf categories only")
    sensitive = {k for k in leaves if standard.is_sensitive(k)}
    if sensitive and sensitive != leaves:
        raise SensitiveConsentRequired(
            "sensitive categories need a consent of their own (PIPL Art. 29): "
            + ", ".join(sorted(sensitive))
        )
    if record.sensitive != bool(sensitive):
        raise SensitiveConsentRequired("the sensitive flag must match the categories")
    needs_separate = purpose.separate_consent or recipient.kind is RecipientKind.brand
    if (needs_separate or sensitive) and not record.separate:
        raise SeparateConsentRequired(
            f"'{purpose.key}' needs a separate consent, not one bundled into terms"
        )
    if record.consent_type != "explicit":
        raise SeparateConsentRequired("only explicit consent is recorded")
    if record.valid_until <= record.valid_from:
        raise InvalidValidity("valid_until must be after valid_from")
    if record.valid_until - record.valid_from > timedelta(days=purpose.validity_days):
        raise InvalidValidity(f"'{purpose.key}' allows at most {purpose.validity_days} days")
