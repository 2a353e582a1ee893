"""What a consent decision reads of a record at a moment: its *shape*.

``consent.policy.decide`` is pure, and of a record it reads only the categories, the
notice (id and version), whether it has started, its state at the moment, whether it
is a separate or a sensitive consent, and whether a guardian gave it. Persons whose
records agree in all of that (and in being a minor or not) get the same answer, so a
batch decides once per shape, not once per person.

A shape comes from the full history (:func:`history_shape`, the events replayed up to
the moment) or from the record's projections alone (:class:`Terms`: the state and end
the journal keeps beside each record, updated in the transaction of every event), which
is one narrow row per record instead of the record and its events. The two agree when
the history is judged at its latest event if that is later than the moment (a writer's
clock ahead of the reader's), as :mod:`gateway.views.unified` does; a caller that
decides from terms still checks one history per shape against them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from consent.records import ConsentState, History
from gateway.consents import category_sets
from gateway.consents.models import ConsentRecordRow
from gateway.db import among, core

RECORD = core(ConsentRecordRow)
Shape = tuple[object, ...]


def history_shape(history: History, now: datetime) -> Shape:
    """Everything ``policy.decide`` reads of one record and its events at ``now``."""
    record = history.record
    return (
        record.categories,
        record.notice.id,
        record.notice.version,
        record.valid_from <= now,
        history.state_at(now),
        record.separate,
        record.sensitive,
        record.guardian_ref is not None,
    )


@dataclass(frozen=True)
class Terms:
    """One record's projection: what its shape needs, without its events."""

    record_id: str
    person_id: str
    categories: frozenset[str]
    notice_id: str
    notice_version: int
    valid_from: datetime
    state: ConsentState  # after its last event
    ends_at: datetime  # when a given consent expires (its renewals counted)
    separate: bool
    sensitive: bool
    guardian: bool

    def shape(self, now: datetime) -> Shape:
        """:func:`history_shape` of this record's history, from the projections."""
        state = self.state
        if state is ConsentState.given and now >= self.ends_at:
            state = ConsentState.expired
        return (
            self.categories,
            self.notice_id,
            self.notice_version,
            self.valid_from <= now,
            state,
            self.separate,
            self.sensitive,
            self.guardian,
        )


def terms_for(
    session: Session, person_ids: Sequence[str], recipient_id: str, purpose: str
) -> dict[str, list[Terms]]:
    """person -> the terms of their records to one recipient for one purpose, in the
    order of :func:`gateway.consents.store.histories_for` (start, then record id)."""
    found: dict[str, list[Terms]] = {}
    columns = (
        RECORD.c.record_id,
        RECORD.c.person_id,
        RECORD.c.categories_digest,
        RECORD.c.notice_id,
        RECORD.c.notice_version,
        RECORD.c.valid_from,
        RECORD.c.state,
        RECORD.c.ends_at,
        RECORD.c.separate,
        RECORD.c.sensitive,
        RECORD.c.guardian_ref.is_not(None),
    )
    for chosen in among(session, RECORD.c.person_id, person_ids):
        rows = session.execute(
            select(*columns)
            .where(chosen, RECORD.c.recipient_id == recipient_id, RECORD.c.purpose == purpose)
            .order_by(RECORD.c.valid_from, RECORD.c.record_id)
        ).all()
        sets = category_sets.resolve(session, {str(row[2]) for row in rows})
        for record, person, digest, notice, version, start, state, ends, sep, sens, guard in rows:
            found.setdefault(str(person), []).append(
                Terms(
                    str(record),
                    str(person),
                    sets[str(digest)],
                    str(notice),
                    int(version),
                    start,
                    ConsentState(state),
                    ends,
                    bool(sep),
                    bool(sens),
                    bool(guard),
                )
            )
    return found
