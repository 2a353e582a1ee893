"""Data-subject requests, served: submit, process within the deadline, refuse, status.

Export (PIPL Art. 45; GDPR Arts. 15, 20) stores the person's data as one document for
the platform that relayed the request. Erasure (PIPL Art. 47; GDPR Art. 17) tells every
recipient first (GDPR Art. 19): each member that holds something about the person gets
an erasure SET, queued in the same transaction that deletes the person, so the
deletion and its announcements commit together. The consent log's leaves stay: each
is a salted commitment whose salt goes with the event, so it no longer links to anyone.
Nothing here commits; the caller owns the transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlmodel import Session

from consent.rights import (
    Authorization,
    HeldValue,
    LinkedAccount,
    PendingLink,
    Pseudonym,
    Read,
    RequestKind,
    RequestState,
    RightsRequest,
    SignIn,
    export_document,
)
from gateway.consents import signals, store
from gateway.consents.service import Consents
from gateway.db import core, utcnow
from gateway.errors import Conflict, NotFound
from gateway.events import types
from gateway.events.outbox import emit
from gateway.identity.models import PendingLink as PendingLinkRow
from gateway.identity.models import Person
from gateway.identity.pairwise import pairwise_sub
from gateway.identity.persons import ACCOUNT, PERSON, SUBJECT
from gateway.members.models import Member, MemberKind
from gateway.oauth.store import GRANT, SESSION
from gateway.rights.models import RightsRequestRow
from gateway.runtime import Runtime
from gateway.views.access_log import AccessLog
from gateway.views.models import Attribute

REQUEST, MEMBER, ATTRIBUTE = core(RightsRequestRow), core(Member), core(Attribute)
PENDING = core(PendingLinkRow)
ERASED_BEFORE_EXPORT = "the personal data was erased by an earlier request"


@dataclass(frozen=True)
class Asked:
    """One of a person's requests as the consent center lists it."""

    request: RightsRequest
    relayed_by: str | None  # the platform's name; None when the person asked in the center

    @property
    def downloadable(self) -> bool:
        """A finished export (stored when the request completed)."""
        return (
            self.request.kind is RequestKind.export and self.request.state is RequestState.completed
        )


class Rights:
    def __init__(self, session: Session, rt: Runtime) -> None:
        self.session = session
        self.rt = rt
        self.consents = Consents(session, rt)
        self._key = rt.settings.pairwise_key.get_secret_value().encode()

    # --- the member's side ----------------------------------------------------------------

    def submit(
        self,
        person_id: str,
        member: Member | None,
        kind: RequestKind,
        at: datetime | None = None,
    ) -> RightsRequest:
        """A request received now, due in 30 days, relayed by ``member`` or (None) asked
        by the person in the consent center. Asking again the same way while one of the
        same kind is open returns that one: the clock does not restart."""
        by = REQUEST.c.requested_by
        open_row = self.session.execute(
            select(REQUEST).where(
                REQUEST.c.person_id == person_id,
                by.is_(None) if member is None else by == member.id,
                REQUEST.c.kind == kind.value,
                REQUEST.c.state == RequestState.received.value,
            )
        ).first()
        if open_row is not None:
            return _request(open_row)
        request = RightsRequest.receive(str(uuid.uuid4()), kind, at or utcnow())
        account = (
            self.consents.persons.account_at(person_id, member.id)
            if member is not None and member.kind == MemberKind.platform
            else None
        )
        self.session.execute(
            REQUEST.insert().values(
                id=request.id,
                person_id=person_id,
                requested_by=member.id if member is not None else None,
                account_id=account,
                kind=request.kind.value,
                state=request.state.value,
                received_at=request.received_at,
                due_at=request.due_at,
            )
        )
        return request

    def erase_now(self, person_id: str, member: Member | None, now: datetime) -> RightsRequest:
        """An erasure the person asked for in person (by removing their last linked
        account, or with *Erase my identity* in the consent center): received and carried
        out at once, its status kept like any other."""
        request = self.submit(person_id, member, RequestKind.erasure, now)
        self.erase(person_id, request.id, now)
        done = request.complete(now)
        self._save(done)
        return done

    def status(self, request_id: str, member: Member) -> RightsRequest:
        return _request(self._own(request_id, member))

    def export(self, request_id: str, member: Member) -> dict[str, Any]:
        return _export_of(self._own(request_id, member))

    def _own(self, request_id: str, member: Member) -> Any:
        row = self._row(request_id)
        if row is None or row.requested_by != member.id:
            raise NotFound("no such rights request")  # another member's does not exist
        return row

    def _row(self, request_id: str) -> Any:
        return self.session.execute(select(REQUEST).where(REQUEST.c.id == request_id)).first()

    # --- the person's side (the consent center) ---------------------------------------------

    def of_person(self, person_id: str) -> list[Asked]:
        """The person's requests, however they came, latest first."""
        columns = [c for c in REQUEST.c if c.name != "export"]  # not the documents
        rows = self.session.execute(
            select(*columns, MEMBER.c.name.label("relayed_by"))
            .outerjoin(MEMBER, MEMBER.c.id == REQUEST.c.requested_by)
            .where(REQUEST.c.person_id == person_id)
            .order_by(REQUEST.c.received_at.desc(), REQUEST.c.id)
        )
        return [Asked(_request(row), row.relayed_by) for row in rows]

    def person_export(self, request_id: str, person_id: str) -> dict[str, Any]:
        """A finished export of the person's, whoever relayed the request: it is their
        own data (GDPR Art. 15(3))."""
        row = self._row(request_id)
        if row is None or row.person_id != person_id:
            raise NotFound("no such request of yours")  # another person's does not exist
        return _export_of(row)

    # --- the operator's side --------------------------------------------------------------

    def listing(
        self, now: datetime, state: RequestState | None = None, limit: int = 500
    ) -> list[tuple[RightsRequest, str | None]]:
        """Requests with who relayed them (None: the person, in the consent center):
        overdue first, then by deadline."""
        overdue = case(
            ((REQUEST.c.state == RequestState.received.value) & (REQUEST.c.due_at < now), 0),
            else_=1,
        )
        query = select(REQUEST).order_by(overdue, REQUEST.c.due_at, REQUEST.c.id).limit(limit)
        if state is not None:
            query = query.where(REQUEST.c.state == state.value)
        return [(_request(row), row.requested_by) for row in self.session.execute(query)]

    def refuse(self, request_id: str, reason: str, at: datetime | None = None) -> RightsRequest:
        """Refuse with a reason the person is shown (GDPR Art. 12(4); PIPL Art. 50)."""
        row = self.session.execute(
            select(REQUEST).where(REQUEST.c.id == request_id).with_for_update()
        ).first()
        if row is None:
            raise NotFound("no such rights request")
        refused = _request(row).refuse(reason, at or utcnow())
        self._save(refused)
        return refused

    def process_pending(self, now: datetime | None = None, limit: int = 100) -> int:
        """Answer received requests, oldest first; how many were answered."""
        at = now or utcnow()
        rows = self.session.execute(
            select(REQUEST)
            .where(REQUEST.c.state == RequestState.received.value)
            .order_by(REQUEST.c.received_at, REQUEST.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # two workers never answer one request twice
        ).all()
        for row in rows:
            self._process(row, at)
        return len(rows)

    def _process(self, row: Any, now: datetime) -> None:
        request = _request(row)
        # Read again: an erasure processed earlier in this batch may have detached it.
        person_id = self.session.execute(
            select(REQUEST.c.person_id).where(REQUEST.c.id == request.id)
        ).scalar()
        if person_id is None:  # an earlier erasure already removed everything
            if request.kind is RequestKind.erasure:
                self._save(request.complete(now))
            else:
                self._save(request.refuse(ERASED_BEFORE_EXPORT, now))
            return
        done = request.complete(now)
        if request.kind is RequestKind.export:
            self._save(done, export=self.document(person_id, now, current=done))
        else:
            self.erase(person_id, request.id, now)
            self._save(done)

    # --- export and erasure ---------------------------------------------------------------

    def document(
        self, person_id: str, now: datetime, current: RightsRequest | None = None
    ) -> dict[str, Any]:
        """The person's export (PIPL Art. 45; GDPR Arts. 15, 20)."""
        person = self.session.get(Person, person_id)
        if person is None:
            raise NotFound("no such person")
        accounts = self.session.execute(
            select(MEMBER.c.name, ACCOUNT.c.account_id, ACCOUNT.c.linked_at)
            .join(MEMBER, MEMBER.c.id == ACCOUNT.c.platform_id)
            .where(ACCOUNT.c.person_id == person_id)
            .order_by(ACCOUNT.c.linked_at, ACCOUNT.c.account_id)
        )
        subjects = self.session.execute(
            select(SUBJECT.c.sector, SUBJECT.c.sub)
            .where(SUBJECT.c.person_id == person_id)
            .order_by(SUBJECT.c.sector)
        )
        requests = [
            current if current is not None and current.id == row.id else _request(row)
            for row in self.session.execute(
                select(REQUEST)
                .where(REQUEST.c.person_id == person_id)
                .order_by(REQUEST.c.received_at, REQUEST.c.id)
            )
        ]
        grants = self.session.execute(
            select(MEMBER.c.name, GRANT.c.scope, GRANT.c.created_at)
            .add_columns(GRANT.c.revoked_at, GRANT.c.revoked_reason)
            .join(MEMBER, MEMBER.c.id == GRANT.c.member_id)
            .where(GRANT.c.person_id == person_id)
            .order_by(GRANT.c.created_at, GRANT.c.id)
        )
        sessions = self.session.execute(
            select(MEMBER.c.name, SESSION.c.auth_time, SESSION.c.expires_at, SESSION.c.ended_at)
            .join(MEMBER, MEMBER.c.id == SESSION.c.platform_id)
            .where(SESSION.c.person_id == person_id)
            .order_by(SESSION.c.auth_time, SESSION.c.id)
        )
        pending = self.session.execute(
            select(MEMBER.c.name, PENDING.c.account_id, PENDING.c.expires_at)
            .join(MEMBER, MEMBER.c.id == PENDING.c.platform_id)
            .where(PENDING.c.person_id == person_id)
            .order_by(PENDING.c.expires_at)
        )
        reads = AccessLog(self.session).of_person(person_id, limit=None)
        held = self.session.execute(
            select(MEMBER.c.name, ATTRIBUTE.c.category, ATTRIBUTE.c.value)
            .add_columns(ATTRIBUTE.c.observed_at, ATTRIBUTE.c.expires_at)
            .join(MEMBER, MEMBER.c.id == ATTRIBUTE.c.platform_id)
            .where(ATTRIBUTE.c.person_id == person_id)
            .order_by(ATTRIBUTE.c.category, MEMBER.c.name)
        )
        return export_document(
            generated_at=now,
            access_log=[Read(a.reader, a.purpose, a.categories, a.what, a.at) for a in reads],
            attributes=[HeldValue(str(n), str(c), v, o, e) for n, c, v, o, e in held],
            pending_links=[PendingLink(*row) for row in pending],
            authorizations=[Authorization(*row) for row in grants],
            sessions=[SignIn(*row) for row in sessions],
            accounts=[LinkedAccount(str(n), str(a), at) for n, a, at in accounts],
            subjects=[Pseudonym(str(sector), str(sub)) for sector, sub in subjects],
            consents=self.consents.of_person(person_id),
            requests=requests,
            minor_under_14=person.minor_under_14,
            known_since=person.created_at,
        )

    def erase(self, person_id: str, request_id: str, now: datetime) -> list[str]:
        """Announce the erasure to every recipient, then delete the person; the jtis."""
        accounts = self.consents.persons.accounts(person_id)
        issuer = self.rt.settings.issuer
        jtis: list[str] = []
        for member in self.recipients(person_id):
            subject = signals.subject(issuer, pairwise_sub(self._key, member.sector, person_id))
            held: list[str | None] = [a for platform, a in accounts if platform == member.id]
            for account in held or [None]:  # a platform hears of each of its accounts
                event: dict[str, Any] = {
                    "request_id": request_id,
                    "event_timestamp": int(now.timestamp()),
                    "initiating_entity": "user",
                }
                if account is not None:
                    event["platform_user_id"] = account
                jtis.append(
                    emit(
                        self.session,
                        recipient_id=member.id,
                        event_type=types.ERASURE_REQUESTED,
                        subject=subject,
                        event=event,
                        txn=request_id,  # RFC 8417 §2.2: one change, many SETs
                    )
                )
        # The requests stay (their status must survive); what they held of the person goes.
        self.session.execute(
            update(REQUEST)
            .where(REQUEST.c.person_id == person_id)
            .values(account_id=None, export=None)
        )
        # ON DELETE CASCADE: accounts, subjects, records, events (and their salts).
        self.session.execute(delete(PERSON).where(PERSON.c.id == person_id))
        return jtis

    def recipients(self, person_id: str) -> list[Member]:
        """Every member holding something about the person: platforms with an account,
        recipients of a consent record, members of a sector a subject was issued in."""
        platforms = select(ACCOUNT.c.platform_id).where(ACCOUNT.c.person_id == person_id)
        recorded = select(store.RECORD.c.recipient_id).where(store.RECORD.c.person_id == person_id)
        sectors = select(SUBJECT.c.sector).where(SUBJECT.c.person_id == person_id)
        query = (
            select(Member)
            .where(
                Member.id.in_(platforms)  # type: ignore[attr-defined]
                | Member.id.in_(recorded)  # type: ignore[attr-defined]
                | Member.sector.in_(sectors)  # type: ignore[attr-defined]
            )
            .order_by(Member.id)
        )
        return list(self.session.execute(query).scalars())

    def _save(self, request: RightsRequest, *, export: dict[str, Any] | None = None) -> None:
        values: dict[str, Any] = {
            "state": request.state.value,
            "reason": request.reason,
            "completed_at": request.completed_at,
        }
        if export is not None:
            values["export"] = export
        self.session.execute(update(REQUEST).where(REQUEST.c.id == request.id).values(**values))


def _export_of(row: Any) -> dict[str, Any]:
    if row.kind != RequestKind.export.value:
        raise NotFound("this request has no export")
    if row.state == RequestState.refused.value:
        raise Conflict(f"there is no export: the request was refused ({row.reason})")
    if row.state != RequestState.completed.value or row.export is None:
        raise Conflict(f"the export is not ready: the request is {row.state}")
    document: dict[str, Any] = row.export
    return document


def _request(row: Any) -> RightsRequest:
    return RightsRequest(
        id=row.id,
        kind=RequestKind(row.kind),
        received_at=row.received_at,
        due_at=row.due_at,
        state=RequestState(row.state),
        reason=row.reason,
        completed_at=row.completed_at,
    )
