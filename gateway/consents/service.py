"""The gateway's consent service: the journal wired to SQL, persons, notices and SETs,
and the one decision entry point every enforcement point calls."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from consent import policy
from consent.errors import UnknownPurpose
from consent.journal import Evidence, Journal
from consent.records import ConsentEvent, ConsentRecord, History, NoticeRef, Recipient, expand
from consent.taxonomy import RecipientKind
from gateway.consents import signals, store
from gateway.consents.notices import Notices
from gateway.db import utcnow
from gateway.errors import Conflict, NotFound
from gateway.identity.persons import Persons
from gateway.members.models import Member, MemberKind, MemberStatus
from gateway.runtime import Runtime


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
            store.SqlJournalStore(session, self._principal, self._announce), rt.standard
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
        if recipient.status != MemberStatus.active:
            raise Conflict("the recipient is not an active member")
        notice = self.notices.get(terms.notice_id, terms.notice_version)
        current = self.notices.current(terms.notice_id)
        if current is not None and current.version != notice.version:
            raise Conflict(
                f"notice {terms.notice_id!r} is at version {current.version}: show that one"
            )
        purpose = self.rt.standard.purposes.get(terms.purpose)
        if purpose is None:
            raise UnknownPurpose(f"unknown purpose '{terms.purpose}'")
        start = at or utcnow()
        categories = expand(self.rt.standard, terms.categories)  # parents name their leaves
        record = ConsentRecord(
            record_id=str(uuid.uuid4()),
            receipt_id=str(uuid.uuid4()),
            person_id=person_id,
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
        minor = self.persons.is_minor(person_id)
        return self.journal.give(record, evidence, minor=minor)

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
        page: list[tuple[History, str]] = []
        for history in store.histories_of_records(self.session, ids):
            record = history.record
            question = policy.Question(
                record.person_id,
                platform.id,
                RecipientKind.platform,
                purpose,
                record.categories,
                now,
            )
            decision = policy.decide(question, [history], self.facts(record.person_id, notices))
            account = self.persons.account_at(record.person_id, platform.id)
            if decision.allowed and account is not None:
                page.append((history, account))
        return page, ids[-1] if more else None

    def decide(self, question: policy.Question) -> policy.Decision:
        """The one decision every enforcement point asks (tokens, views, training...)."""
        histories = store.histories(
            self.session,
            question.person_id,
            recipient_id=question.recipient_id,
            purpose=question.purpose,
        )
        return policy.decide(question, histories, self.facts(question.person_id))

    # --- wiring ------------------------------------------------------------------------

    def member(self, member_id: str) -> Member:
        member = self._members.get(member_id) or self.session.get(Member, member_id)
        if member is None:
            raise NotFound("no such member")
        self._members[member_id] = member
        return member

    def _principal(self, person_id: str, recipient_id: str) -> str:
        return self.persons.subject(person_id, self.member(recipient_id))

    def _announce(self, history: History, event: ConsentEvent, principal: str) -> None:
        recipient = self.member(_recipient_id(history))
        account = (
            self.persons.account_at(history.record.person_id, recipient.id)
            if recipient.kind == MemberKind.platform
            else None
        )
        signals.announce(self.session, self.rt.settings.issuer, history, event, principal, account)


def _recipient_id(history: History) -> str:
    return history.record.to.id


def _recipient(member: Member) -> Recipient:
    return Recipient(
        id=member.id,
        kind=RecipientKind(member.kind),
        name=member.name,
        contact=member.contact_email,
    )
