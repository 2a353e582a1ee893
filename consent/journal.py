"""The consent journal: the one way records and events are written.

Every write goes through :class:`Journal`: it checks the record against the law and
the data standard (:func:`consent.records.validate`), builds the event, checks it
against the lifecycle (:func:`consent.records.check_next`) and hands both to a
:class:`JournalStore`. The store persists them in the caller's transaction and, in
that same transaction, queues the event's commitment for the Merkle log and the
SET that tells the recipient, so a change is never recorded without its evidence
and its announcement (a transactional outbox).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from consent.errors import GuardianRequired, InvalidValidity, RecordNotFound, RecordRefused
from consent.records import Actor, ConsentEvent, ConsentRecord, EventType, History, validate
from consent.taxonomy import DataStandard


@dataclass(frozen=True)
class Evidence:
    """How an event came about: who, through what, from where (hashed)."""

    actor: Actor
    method: str
    ip_hash: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Given:
    """One consent to record: the record, how it was collected, and whether the
    person is a minor under 14 (then a guardian gives it)."""

    record: ConsentRecord
    evidence: Evidence
    minor: bool = False


# An event to persist after the history it follows.
Change = tuple[History, ConsentEvent]


class JournalStore(Protocol):
    def load(self, record_id: str) -> History | None:
        """The record and its events, locked against concurrent appends."""
        ...

    def append(self, changes: Sequence[Change]) -> None:
        """Persist each event after its history (with the record, if it is the first),
        queue its log commitment and its SET, all in the caller's transaction (one
        statement per table for the lot). Never commits."""
        ...


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return str(uuid.uuid4())


class Journal:
    def __init__(
        self,
        store: JournalStore,
        standard: DataStandard,
        *,
        clock: Callable[[], datetime] = _now,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self.store = store
        self.standard = standard
        self.clock = clock
        self.new_id = new_id

    def give(self, record: ConsentRecord, evidence: Evidence, *, minor: bool = False) -> History:
        """Record a new consent and its ``given`` event."""
        (result,) = self.give_many([Given(record, evidence, minor)])
        if isinstance(result, RecordRefused):
            raise result
        return result

    def give_many(self, consents: Sequence[Given]) -> list[History | RecordRefused]:
        """Record many new consents at once: each is checked on its own, and the ones
        the rules allow are stored together. The result for each, in order, is its
        history or the rule it breaks; a refused one does not hold the others back."""
        results: list[History | RecordRefused] = []
        changes: list[Change] = []
        for given in consents:
            try:
                _check(given, self.standard)
            except RecordRefused as refused:
                results.append(refused)
                continue
            history = History(given.record)
            event = self._event(history, EventType.given, given.evidence, given.record.valid_from)
            changes.append((history, event))
            results.append(history.append(event))
        if changes:
            self.store.append(changes)
        return results

    def withdraw(self, record_id: str, evidence: Evidence) -> History:
        """The person's withdrawal: effective for the very next decision."""
        return self._append(self._load(record_id), EventType.withdrawn, evidence)

    def revoke(self, record_id: str, evidence: Evidence, reason: str) -> History:
        return self._append(self._load(record_id), EventType.revoked, evidence, reason=reason)

    def renew(self, record_id: str, evidence: Evidence, valid_until: datetime) -> History:
        history = self._load(record_id)
        purpose = self.standard.purposes[history.record.purpose]
        at = self.clock()
        if (valid_until - at).days > purpose.validity_days:
            raise InvalidValidity(f"'{purpose.key}' allows at most {purpose.validity_days} days")
        return self._append(history, EventType.renewed, evidence, at=at, valid_until=valid_until)

    def invalidate(self, record_id: str, reason: str, actor: Actor = Actor.system) -> History:
        evidence = Evidence(actor, "notice_update" if actor is Actor.system else "operator")
        return self._append(self._load(record_id), EventType.invalidated, evidence, reason=reason)

    def expire(self, record_id: str, at: datetime | None = None) -> History:
        """Record that a consent's validity ended (run by the expiry job at ``at``)."""
        evidence = Evidence(Actor.system, "expiry_job")
        return self._append(self._load(record_id), EventType.expired, evidence, at=at)

    def _load(self, record_id: str) -> History:
        history = self.store.load(record_id)
        if history is None:
            raise RecordNotFound(f"no consent {record_id!r}")
        return history

    def _append(
        self,
        history: History,
        kind: EventType,
        evidence: Evidence,
        *,
        at: datetime | None = None,
        valid_until: datetime | None = None,
        reason: str | None = None,
    ) -> History:
        event = self._event(history, kind, evidence, at, valid_until=valid_until, reason=reason)
        after = history.append(event)  # raises InvalidTransition out of lifecycle
        self.store.append([(history, event)])
        return after

    def _event(
        self,
        history: History,
        kind: EventType,
        evidence: Evidence,
        at: datetime | None,
        *,
        valid_until: datetime | None = None,
        reason: str | None = None,
    ) -> ConsentEvent:
        at = at or self.clock()
        if history.events:  # never before the event it follows, even with clock skew
            at = max(at, history.events[-1].at)
        return ConsentEvent(
            event_id=self.new_id(),
            record_id=history.record.record_id,
            seq=len(history.events),
            type=kind,
            at=at,
            actor=evidence.actor,
            method=evidence.method,
            ip_hash=evidence.ip_hash,
            user_agent=evidence.user_agent,
            valid_until=valid_until,
            reason=reason,
        )


def _check(given: Given, standard: DataStandard) -> None:
    validate(given.record, standard)
    if given.minor and not given.record.guardian_ref:
        raise GuardianRequired("a minor under 14 needs a guardian's consent (PIPL Art. 31)")
    if given.minor and given.evidence.actor is not Actor.guardian:
        raise GuardianRequired("a minor's consent is given by the guardian (PIPL Art. 31)")
