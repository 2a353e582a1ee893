"""The one consent decision: may recipient R use categories C of person P for purpose U
at time T?

Every enforcement point (tokens, userinfo, token exchange, views, sandbox, training
eligibility) calls :func:`decide`. It is pure and total: it never raises, it reads
nothing but its arguments, and a denial always says why, per category.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from consent.records import ConsentState, History
from consent.taxonomy import DataStandard, RecipientKind


class Reason(StrEnum):
    unknown_purpose = "unknown_purpose"
    recipient_not_allowed = "recipient_not_allowed"
    unknown_category = "unknown_category"
    not_necessary = "not_necessary"
    no_consent = "no_consent"
    not_yet_valid = "not_yet_valid"
    withdrawn = "withdrawn"
    revoked = "revoked"
    expired = "expired"
    invalidated = "invalidated"
    notice_outdated = "notice_outdated"
    not_separate = "not_separate"
    sensitive_not_separate = "sensitive_not_separate"
    guardian_required = "guardian_required"


MESSAGES: dict[Reason, str] = {
    Reason.unknown_purpose: "the purpose is not in the data standard",
    Reason.recipient_not_allowed: "the purpose is not open to this kind of recipient",
    Reason.unknown_category: "the category is not in the data standard",
    Reason.not_necessary: "not necessary for the purpose (PIPL Art. 6)",
    Reason.no_consent: "the person has not consented",
    Reason.not_yet_valid: "the consent is not valid yet",
    Reason.withdrawn: "the person withdrew consent",
    Reason.revoked: "the consent was revoked",
    Reason.expired: "the consent expired",
    Reason.invalidated: "the consent was invalidated",
    Reason.notice_outdated: "the notice changed since consent was given (PIPL Art. 14)",
    Reason.not_separate: "sharing needs a separate consent, not one bundled (PIPL Art. 23)",
    Reason.sensitive_not_separate: "sensitive data needs its own explicit consent (PIPL Art. 29)",
    Reason.guardian_required: "a minor under 14 needs a guardian's consent (PIPL Art. 31)",
}

_ORDER = {reason: rank for rank, reason in enumerate(Reason)}  # most important first

_BY_STATE = {
    None: Reason.no_consent,
    ConsentState.withdrawn: Reason.withdrawn,
    ConsentState.revoked: Reason.revoked,
    ConsentState.expired: Reason.expired,
    ConsentState.invalidated: Reason.invalidated,
}


@dataclass(frozen=True)
class Question:
    person_id: str
    recipient_id: str
    recipient_kind: RecipientKind
    purpose: str
    categories: frozenset[str]  # leaves, or parents standing for their leaves
    at: datetime


@dataclass(frozen=True)
class Facts:
    """What a decision knows beyond the person's records."""

    standard: DataStandard
    notices: Mapping[str, int] = field(default_factory=dict)  # current version per notice id
    minor_under_14: bool = False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    granted_by: Mapping[str, str]  # leaf category -> the record that allows it
    denied: Mapping[str, Reason]  # leaf category (or the key asked) -> why not
    reasons: tuple[Reason, ...]  # every distinct reason, most important first

    def explain(self) -> list[str]:
        return [f"{key}: {MESSAGES[reason]}" for key, reason in sorted(self.denied.items())]


def _deny(reason: Reason, keys: Iterable[str]) -> Decision:
    return Decision(False, {}, dict.fromkeys(keys, reason), (reason,))


def decide(question: Question, histories: Iterable[History], facts: Facts) -> Decision:
    standard = facts.standard
    purpose = standard.purposes.get(question.purpose)
    if purpose is None:
        return _deny(Reason.unknown_purpose, [question.purpose])
    if question.recipient_kind not in purpose.recipients:
        return _deny(Reason.recipient_not_allowed, [question.purpose])
    unknown = sorted(k for k in question.categories if k not in standard.categories)
    if unknown:
        return _deny(Reason.unknown_category, unknown)
    leaves: set[str] = set()
    for key in question.categories:
        leaves |= standard.leaves_under(key)
    outside = sorted(leaves - purpose.necessity)
    if outside or not leaves:
        return _deny(Reason.not_necessary, outside or sorted(question.categories))

    needs_separate = purpose.separate_consent or question.recipient_kind is RecipientKind.brand
    granted: dict[str, str] = {}
    blocked: dict[str, tuple[datetime, Reason]] = {}  # leaf -> (record start, why not)
    for history in histories:
        record = history.record
        if (
            record.person_id != question.person_id
            or record.recipient is None
            or record.recipient.id != question.recipient_id
            or record.purpose != question.purpose
        ):
            continue  # a grant to someone else, or for something else, never counts
        covered = leaves & record.categories
        if not covered:
            continue
        reason = _record_gate(history, question.at, facts, needs_separate)
        for leaf in covered:
            why = reason
            if why is None and standard.is_sensitive(leaf) and not record.sensitive:
                why = Reason.sensitive_not_separate
            if why is None:
                granted.setdefault(leaf, record.record_id)
            elif leaf not in blocked or blocked[leaf][0] < record.valid_from:
                blocked[leaf] = (record.valid_from, why)  # the latest record explains
    denied = {
        leaf: blocked[leaf][1] if leaf in blocked else Reason.no_consent
        for leaf in leaves
        if leaf not in granted
    }
    reasons = tuple(sorted(set(denied.values()), key=_ORDER.__getitem__))
    return Decision(not denied, granted, denied, reasons)


def _record_gate(
    history: History, at: datetime, facts: Facts, needs_separate: bool
) -> Reason | None:
    """Why this record cannot allow anything at ``at``, or None if it can."""
    record = history.record
    current = facts.notices.get(record.notice.id, record.notice.version)
    if record.notice.version < current:
        return Reason.notice_outdated
    if at < record.valid_from:
        return Reason.not_yet_valid
    state = history.state_at(at)
    if state is not ConsentState.given:
        return _BY_STATE[state]
    if needs_separate and not record.separate:
        return Reason.not_separate
    if facts.minor_under_14 and not record.guardian_ref:
        return Reason.guardian_required
    return None
