"""The consent journal's store in SQL (:class:`consent.journal.JournalStore`).

An append writes, in the caller's transaction: the record (with its first event) and
its category set when that set is new, the event with its salt, the event's commitment
queued for the log, the record's projections, and the SET for its recipient. Nothing
here commits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update
from sqlmodel import Session

from consent.canonical import commit, new_salt
from consent.errors import InvalidTransition
from consent.journal import Change
from consent.records import (
    Actor,
    ConsentEvent,
    ConsentRecord,
    EventType,
    History,
    NoticeRef,
    Recipient,
    replay,
)
from consent.taxonomy import LawfulBasis, RecipientKind
from gateway.consents import category_sets, log_store
from gateway.consents.models import ConsentEventRow, ConsentRecordRow
from gateway.db import among, core, insert_new_many

RECORD, EVENT = core(ConsentRecordRow), core(ConsentEventRow)

# principals([(person_id, recipient_id), ...]) -> each recipient's pairwise subject
Principals = Callable[[Sequence[tuple[str, str]]], list[str]]
# announce(changes, principals): queue the SET of each change for its recipient
Announce = Callable[[Sequence[Change], Sequence[str]], None]


class SqlJournalStore:
    def __init__(self, session: Session, principals: Principals, announce: Announce) -> None:
        self.session = session
        self.principals = principals
        self.announce = announce

    def load(self, record_id: str) -> History | None:
        row = self.session.execute(
            select(RECORD).where(RECORD.c.record_id == record_id).with_for_update()
        ).first()
        if row is None:
            return None
        return _histories(self.session, [row])[0]

    def append(self, changes: Sequence[Change]) -> None:
        """One statement per table for all ``changes`` (executemany)."""
        if not changes:
            return
        for history, _ in changes:
            if history.record.recipient is None:  # validate() refuses this before
                raise InvalidTransition("a record without a recipient cannot be stored")
        principals = self.principals([(h.record.person_id, h.record.to.id) for h, _ in changes])
        new = [_record_values(h.record) for h, _ in changes if not h.events]
        if new:
            category_sets.ensure(
                self.session, [h.record.categories for h, _ in changes if not h.events]
            )
            self.session.execute(insert(RECORD), new)
        moved = [
            {
                "key": h.record.record_id,
                "new_state": replay((*h.events, e)).value,
                "new_ends_at": e.valid_until or h.valid_until_at(e.at),
            }
            for h, e in changes
            if h.events
        ]
        if moved:
            self.session.execute(
                update(RECORD)
                .where(RECORD.c.record_id == bindparam("key"))
                .values(state=bindparam("new_state"), ends_at=bindparam("new_ends_at")),
                moved,
            )
        salts = [new_salt() for _ in changes]
        leaves = log_store.enqueue(
            self.session,
            [
                commit(h.record, e, principal, salt)
                for (h, e), principal, salt in zip(changes, principals, salts, strict=True)
            ],
        )
        events = [
            {**_event_values(e), "principal": principal, "salt": salt, "leaf_id": leaf}
            for (_, e), principal, salt, leaf in zip(
                changes, principals, salts, leaves, strict=True
            )
        ]
        if len(insert_new_many(self.session, EVENT, events)) != len(events):
            # a concurrent append took one of these (record, seq): nothing is kept
            raise InvalidTransition("the consent changed meanwhile; read it again")
        self.announce(changes, principals)


def _record_values(record: ConsentRecord) -> dict[str, object]:
    recipient = record.to
    return {
        "record_id": record.record_id,
        "receipt_id": record.receipt_id,
        "person_id": record.person_id,
        "recipient_id": recipient.id,
        "recipient_kind": recipient.kind.value,
        "recipient_name": recipient.name,
        "recipient_contact": recipient.contact,
        "purpose": record.purpose,
        "categories_digest": category_sets.digest_of(record.categories),
        "lawful_basis": record.lawful_basis.value,
        "consent_type": record.consent_type,
        "separate": record.separate,
        "sensitive": record.sensitive,
        "guardian_ref": record.guardian_ref,
        "notice_id": record.notice.id,
        "notice_version": record.notice.version,
        "notice_hash": record.notice.text_hash,
        "language": record.language,
        "jurisdiction": record.jurisdiction,
        "storage_location": record.storage_location,
        "retention_days": record.retention_days,
        "withdrawal_method": record.withdrawal_method,
        "standard_version": record.standard_version,
        "schema_version": record.schema_version,
        "valid_from": record.valid_from,
        "valid_until": record.valid_until,
        "state": "given",
        "ends_at": record.valid_until,
    }


def _event_values(event: ConsentEvent) -> dict[str, object]:
    return {
        "event_id": event.event_id,
        "record_id": event.record_id,
        "seq": event.seq,
        "type": event.type.value,
        "at": event.at,
        "actor": event.actor.value,
        "method": event.method,
        "ip_hash": event.ip_hash,
        "user_agent": event.user_agent,
        "valid_until": event.valid_until,
        "reason": event.reason,
    }


def record_of(row: object, categories: frozenset[str]) -> ConsentRecord:
    r = row._mapping  # type: ignore[attr-defined]
    return ConsentRecord(
        record_id=r["record_id"],
        receipt_id=r["receipt_id"],
        person_id=r["person_id"],
        recipient=Recipient(
            r["recipient_id"],
            RecipientKind(r["recipient_kind"]),
            r["recipient_name"],
            r["recipient_contact"],
        ),
        purpose=r["purpose"],
        categories=categories,
        lawful_basis=LawfulBasis(r["lawful_basis"]),
        separate=r["separate"],
        sensitive=r["sensitive"],
        notice=NoticeRef(r["notice_id"], r["notice_version"], r["notice_hash"], r["language"]),
        valid_from=r["valid_from"],
        valid_until=r["valid_until"],
        language=r["language"],
        jurisdiction=r["jurisdiction"],
        storage_location=r["storage_location"],
        retention_days=r["retention_days"],
        withdrawal_method=r["withdrawal_method"],
        guardian_ref=r["guardian_ref"],
        consent_type=r["consent_type"],
        standard_version=r["standard_version"],
        schema_version=r["schema_version"],
    )


def event_of(row: object, prefix: str = "") -> ConsentEvent:
    """The event in ``row``, whose event columns carry ``prefix`` (a joined read)."""
    e = row._mapping  # type: ignore[attr-defined]
    return ConsentEvent(
        event_id=e[prefix + "event_id"],
        record_id=e[prefix + "record_id"],
        seq=e[prefix + "seq"],
        type=EventType(e[prefix + "type"]),
        at=e[prefix + "at"],
        actor=Actor(e[prefix + "actor"]),
        method=e[prefix + "method"],
        ip_hash=e[prefix + "ip_hash"],
        user_agent=e[prefix + "user_agent"],
        valid_until=e[prefix + "valid_until"],
        reason=e[prefix + "reason"],
    )


def _histories(session: Session, rows: Sequence[Row[Any]]) -> list[History]:
    if not rows:
        return []
    sets = category_sets.resolve(session, {row.categories_digest for row in rows})
    records = [record_of(row, sets[row.categories_digest]) for row in rows]
    events: dict[str, list[ConsentEvent]] = {r.record_id: [] for r in records}
    for chosen in among(session, EVENT.c.record_id, events):
        for row in session.execute(select(EVENT).where(chosen).order_by(EVENT.c.seq)):
            events[row.record_id].append(event_of(row))
    return [History(r, tuple(events[r.record_id])) for r in records]


def histories(
    session: Session,
    person_id: str,
    *,
    recipient_id: str | None = None,
    purpose: str | None = None,
) -> list[History]:
    """Every record of the person (optionally for one recipient and purpose), with events."""
    query = select(RECORD).where(RECORD.c.person_id == person_id)
    if recipient_id is not None:
        query = query.where(RECORD.c.recipient_id == recipient_id)
    if purpose is not None:
        query = query.where(RECORD.c.purpose == purpose)
    rows = session.execute(query.order_by(RECORD.c.valid_from, RECORD.c.record_id)).all()
    return _histories(session, rows)


# The event columns a history holds, labelled apart from the record's (both have
# record_id and valid_until) for reads that join the two.
EVENT_FIELDS = (
    "event_id",
    "record_id",
    "seq",
    "type",
    "at",
    "actor",
    "method",
    "ip_hash",
    "user_agent",
    "valid_until",
    "reason",
)
_JOINED_EVENT = [EVENT.c[name].label(f"event_{name}") for name in EVENT_FIELDS]


def histories_for(
    session: Session, person_ids: Sequence[str], recipient_id: str, purpose: str
) -> dict[str, list[History]]:
    """person -> their records to one recipient for one purpose, with events: what a
    batch of decisions needs, in one query per chunk of persons (the records joined
    with their events, one row per event)."""
    found: dict[str, list[History]] = {person: [] for person in person_ids}
    for chosen in among(session, RECORD.c.person_id, person_ids):
        rows = session.execute(
            select(RECORD, *_JOINED_EVENT)
            .select_from(RECORD.outerjoin(EVENT, EVENT.c.record_id == RECORD.c.record_id))
            .where(
                chosen,
                RECORD.c.recipient_id == recipient_id,
                RECORD.c.purpose == purpose,
            )
            .order_by(RECORD.c.valid_from, RECORD.c.record_id, EVENT.c.seq)
        ).all()
        if not rows:
            continue
        sets = category_sets.resolve(session, {row.categories_digest for row in rows})
        histories: dict[str, tuple[ConsentRecord, list[ConsentEvent]]] = {}
        for row in rows:
            mine = histories.get(row.record_id)
            if mine is None:
                record = record_of(row, sets[row.categories_digest])
                mine = histories[row.record_id] = (record, [])
            if row.event_event_id is not None:
                mine[1].append(event_of(row, "event_"))
        for record, events in histories.values():
            found[record.person_id].append(History(record, tuple(events)))
    return found


def histories_of_records(session: Session, record_ids: list[str]) -> list[History]:
    """The records (in record id order) with their events."""
    rows = session.execute(
        select(RECORD).where(RECORD.c.record_id.in_(record_ids)).order_by(RECORD.c.record_id)
    ).all()
    return _histories(session, rows)


def in_force(
    session: Session, recipient_id: str, purpose: str, now: datetime, after: str, limit: int
) -> list[str]:
    """Ids of the recipient's records for ``purpose`` still given at ``now`` (by their
    projections), in id order after ``after``: candidates for a decision."""
    rows = session.execute(
        select(RECORD.c.record_id)
        .where(
            RECORD.c.recipient_id == recipient_id,
            RECORD.c.purpose == purpose,
            RECORD.c.state == "given",
            RECORD.c.ends_at > now,
            RECORD.c.record_id > after,
        )
        .order_by(RECORD.c.record_id)
        .limit(limit)
    )
    return [str(r) for (r,) in rows]


def lapsed(session: Session, now: datetime, limit: int = 1000) -> list[str]:
    """Records still ``given`` whose validity has ended: due for an ``expired`` event."""
    rows = session.execute(
        select(RECORD.c.record_id)
        .where(RECORD.c.state == "given", RECORD.c.ends_at <= now)
        .order_by(RECORD.c.ends_at)
        .limit(limit)
    )
    return [str(r) for (r,) in rows]
