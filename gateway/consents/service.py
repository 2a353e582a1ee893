"""The gateway's consent service: the journal wired to SQL, persons, notices and SETs,
and the one decision entry point every enforcement point calls."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from consent import policy
from consent.errors import ConsentError, UnknownPurpose
from consent.journal import Change, Evidence, Given, Journal
from consent.records import (
    ENDING_EVENTS,
    ConsentRecord,
    History,
    NoticeRef,
    Recipient,
    expand,
)
from consent.taxonomy import RecipientKind
from gateway.consents import signals, store
from gateway.consents.notices import NoticeHead, Notices
from gateway.db import utcnow
from gateway.errors import Conflict, GatewayError, NotFound
from gateway.events.outbox import emit_many
from gateway.identity.persons import Persons
from gateway.members.models import Member, MemberKind, MemberStatus
from gateway.oauth.store import Reason, Store
from gateway.runtime import Runtime
from gateway.views import store as attributes


@dataclass(frozen=True)
class Ask:
    """One consent to record: whose, to whom, on which terms, collected how."""

    person_id: str
    recipient: Member
    terms: Terms
    evidence: Evidence
    minor: bool = False  # said to be under 14 now (besides what the person's record says)


# What recording one consent came to: its history, or why it was refused.
Outcome = History | ConsentError | GatewayError


@dataclass(frozen=True)
class Terms:
    """What a recipient asks a person to agree to, under which notice."""

    purpose: str
    categories: frozenset[str]
    notice_id: str
    notice_version: int
    valid_until: datetime | None = None  # default: the purpose's longest validity
    separate: bool = True
    guardian_ref: str | None = None
    jurisdiction: str = "CN"
    storage_location: str = "CN"


class Consents:
    def __init__(self, session: Session, rt: Runtime) -> None:
        self.session = session
        self.rt = rt
        self.persons = Persons(session, rt.settings.pairwise_key.get_secret_value().encode())
        self.notices = Notices(session)
        self.journal = Journal(
            store.SqlJournalStore(session, self._principals, self._announce), rt.standard
        )
        self._members: dict[str, Member] = {}

    # --- writes ------------------------------------------------------------------------

    def give(
        self,
        person_id: str,
        recipient: Member,
        terms: Terms,
        evidence: Evidence,
        *,
        at: datetime | None = None,
    ) -> History:
        """Record a consent to ``recipient`` under the notice version the person saw."""
        (result,) = self.give_many([Ask(person_id, recipient, terms, evidence)], at=at)
        if not isinstance(result, History):
            raise result
        return result

    def give_many(self, asks: Sequence[Ask], *, at: datetime | None = None) -> list[Outcome]:
        """Record many consents in the caller's transaction, each checked on its own:
        the result for each, in order, is its history or why it was refused. The ones
        allowed are written together (one statement per table)."""
        start = at or utcnow()
        heads: dict[str, NoticeHead | None] = {}
        minors = self.persons.minors([ask.person_id for ask in asks])
        results: list[Outcome | None] = []
        slots: list[int] = []
        given: list[Given] = []
        for n, ask in enumerate(asks):
            self._members.setdefault(ask.recipient.id, ask.recipient)
            try:
                record = self._record(ask, start, heads)
            except (ConsentError, GatewayError) as refused:
                results.append(refused)
                continue
            results.append(None)
            slots.append(n)
            given.append(Given(record, ask.evidence, ask.minor or ask.person_id in minors))
        for n, outcome in zip(slots, self.journal.give_many(given), strict=True):
            results[n] = outcome
        return [r for r in results if r is not None]

    def _record(
        self, ask: Ask, start: datetime, heads: dict[str, NoticeHead | None]
    ) -> ConsentRecord:
        terms, recipient = ask.terms, ask.recipient
        if recipient.status != MemberStatus.active:
            raise Conflict("the recipient is not an active member")
        if terms.notice_id not in heads:
            heads[terms.notice_id] = self.notices.head(terms.notice_id)
        notice = heads[terms.notice_id]
        if notice is None or terms.notice_version > notice.version:  # versions run 1, 2, ...
            raise NotFound(f"no version {terms.notice_version} of notice {terms.notice_id!r}")
        if terms.notice_version != notice.version:
            raise Conflict(
                f"notice {terms.notice_id!r} is at version {notice.version}: show that one"
            )
        purpose = self.rt.standard.purposes.get(terms.purpose)
        if purpose is None:
            raise UnknownPurpose(f"unknown purpose '{terms.purpose}'")
        categories = expand(self.rt.standard, terms.categories)  # parents name their leaves
        return ConsentRecord(
            record_id=str(uuid.uuid4()),
            receipt_id=str(uuid.uuid4()),
            person_id=ask.person_id,
            recipient=_recipient(recipient),
            purpose=terms.purpose,
            categories=categories,
            lawful_basis=purpose.lawful_basis,
            separate=terms.separate,
            sensitive=any(self.rt.standard.is_sensitive(c) for c in categories),
            notice=NoticeRef(notice.notice_id, notice.version, notice.text_hash, notice.language),
            valid_from=start,
            valid_until=terms.valid_until or start + timedelta(days=purpose.validity_days),
            language=notice.language,
            jurisdiction=terms.jurisdiction,
            storage_location=terms.storage_location,
            retention_days=purpose.retention_days,
            withdrawal_method=self.rt.settings.issuer.rstrip("/") + "/consents",
            guardian_ref=terms.guardian_ref,
            standard_version=self.rt.standard.version,
        )

    def withdraw(self, record_id: str, evidence: Evidence) -> History:
        return self.journal.withdraw(record_id, evidence)

    def publish_notice(self, notice_id: str, text: str, language: str) -> tuple[int, int]:
        """Publish a new version; invalidate what rests on older ones. (version, count)."""
        version = self.notices.publish(notice_id, text, language)
        dependents = self.notices.dependents(notice_id, version.version)
        for record_id in dependents:
            self.journal.invalidate(
                record_id, f"notice {notice_id} changed to version {version.version}"
            )
        return version.version, len(dependents)

    def expire_due(self, now: datetime, limit: int = 1000) -> int:
        due = store.lapsed(self.session, now, limit)
        for record_id in due:
            self.journal.expire(record_id, now)
        return len(due)

    # --- reads -------------------------------------------------------------------------

    def record(self, record_id: str, recipient: Member | None = None) -> History:
        found = store.histories_of_records(self.session, [record_id])
        if not found or (
            recipient is not None
            and (found[0].record.recipient is None or found[0].record.recipient.id != recipient.id)
        ):
            raise NotFound("no such consent")  # another recipient's record does not exist
        return found[0]

    def of_person(self, person_id: str, recipient: Member | None = None) -> list[History]:
        return store.histories(
            self.session, person_id, recipient_id=recipient.id if recipient else None
        )

    def facts(self, person_id: str, notices: dict[str, int] | None = None) -> policy.Facts:
        return policy.Facts(
            standard=self.rt.standard,
            notices=self.notices.current_versions() if notices is None else notices,
            minor_under_14=self.persons.is_minor(person_id),
        )

    def eligible(
        self, platform: Member, purpose: str, now: datetime, cursor: str | None, limit: int
    ) -> tuple[list[tuple[History, str]], str | None]:
        """One page of (consent, account id) for the platform's users whose consent to
        ``purpose`` is in force at ``now``, each confirmed by the one decision; and the
        cursor of the next page."""
        ids = store.in_force(self.session, platform.id, purpose, now, cursor or "", limit + 1)
        more, ids = len(ids) > limit, ids[:limit]
        notices = self.notices.current_versions()  # once per page, not per person
        histories = store.histories_of_records(self.session, ids)
        persons = [history.record.person_id for history in histories]
        minors = self.persons.minors(persons)  # each a query per page, not per person
        accounts = self.persons.accounts_at(persons, platform.id)
        page: list[tuple[History, str]] = []
        decisions: list[policy.Decision] = []
        for history in histories:
            record = history.record
            question = policy.Question(
                record.person_id,
                platform.id,
                RecipientKind.platform,
                purpose,
                record.categories,
                now,
            )
            facts = policy.Facts(
                standard=self.rt.standard,
                notices=notices,
                minor_under_14=record.person_id in minors,
            )
            decision = policy.decide(question, [history], facts)
            decisions.append(decision)
            account = accounts.get(record.person_id)
            if decision.allowed and account is not None:
                page.append((history, account))
        self.rt.metrics.decided_all(decisions)
        return page, ids[-1] if more else None

    def decide(self, question: policy.Question) -> policy.Decision:
        """The one decision every enforcement point asks (tokens, views, training...)."""
        histories = store.histories(
            self.session,
            question.person_id,
            recipient_id=question.recipient_id,
            purpose=question.purpose,
        )
        decision = policy.decide(question, histories, self.facts(question.person_id))
        self.rt.metrics.decided(decision)
        return decision

    # --- wiring ------------------------------------------------------------------------

    def member(self, member_id: str) -> Member:
        member = self._members.get(member_id) or self.session.get(Member, member_id)
        if member is None:
            raise NotFound("no such member")
        self._members[member_id] = member
        return member

    def _principals(self, pairs: Sequence[tuple[str, str]]) -> list[str]:
        return self.persons.subjects([(person, self.member(member)) for person, member in pairs])

    def _announce(self, changes: Sequence[Change], principals: Sequence[str]) -> None:
        self._end_grants(changes)
        self._restrict_attributes(changes)
        platforms: dict[str, list[str]] = {}
        for history, _ in changes:
            recipient = self.member(history.record.to.id)
            if recipient.kind == MemberKind.platform:
                platforms.setdefault(recipient.id, []).append(history.record.person_id)
        accounts = {
            (platform, person): account
            for platform, persons in platforms.items()
            for person, account in self.persons.accounts_at(persons, platform).items()
        }
        issuer = self.rt.settings.issuer
        emit_many(
            self.session,
            [
                signals.announcement(
                    issuer,
                    history,
                    event,
                    principal,
                    accounts.get((history.record.to.id, history.record.person_id)),
                )
                for (history, event), principal in zip(changes, principals, strict=True)
            ],
        )

    def _restrict_attributes(self, changes: Sequence[Change]) -> None:
        """A consent to a brand out of force takes along the pushed attributes that no
        other consent needs (minimal storage, PIPL Art. 6 and 47)."""
        for person, at in _ended_for_brands(changes).items():
            attributes.restrict(self.rt.standard, self.session, [person], at)

    def _end_grants(self, changes: Sequence[Change]) -> None:
        """A consent out of force takes the grants resting on it along: their refresh
        tokens stop at once and their access tokens introspect inactive."""
        grants = Store(self.session, self.rt.hasher)
        for history, event in changes:
            if event.type in ENDING_EVENTS:
                record = history.record
                grants.revoke_resting_on(
                    record.person_id, record.to.id, record.purpose, Reason.consent, event.at
                )


def _ended_for_brands(changes: Sequence[Change]) -> dict[str, datetime]:
    """person -> when: whose consent to a brand just ended."""
    ended: dict[str, datetime] = {}
    for history, event in changes:
        record = history.record
        if event.type in ENDING_EVENTS and record.to.kind is RecipientKind.brand:
            ended[record.person_id] = max(event.at, ended.get(record.person_id, event.at))
    return ended


def _recipient(member: Member) -> Recipient:
    return Recipient(
        id=member.id,
        kind=RecipientKind(member.kind),
        name=member.name,
        contact=member.contact_email,
    )
