"""The access log: what a member read of a person, and when (GDPR Art. 15(1)(c);
PIPL Art. 45: the person may know who received their data).

A read is recorded where it happens (``/userinfo``, token exchange, the unified
views), in the transaction that answers it, so an answer that fails leaves no entry
and an entry never outlives the answer's rollback. Nothing here commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, text
from sqlmodel import Session

from gateway.db import core
from gateway.members.models import Member
from gateway.views.models import AccessEntry

LOG, MEMBER = core(AccessEntry), core(Member)
LATEST = 100  # what the consent center shows; the export carries every entry
_COLUMNS = ("person", "reader", "purpose", "categories", "what", "at")
_UNNESTED = text(
    "INSERT INTO access_log (person_id, reader, purpose, categories, what, at)"
    " SELECT person, reader, purpose, CAST(categories AS JSON), what, CAST(at AS TIMESTAMPTZ)"
    " FROM unnest(CAST(:person AS VARCHAR[]), CAST(:reader AS VARCHAR[]),"
    " CAST(:purpose AS VARCHAR[]), CAST(:categories AS TEXT[]), CAST(:what AS VARCHAR[]),"
    " CAST(:at AS TEXT[])) AS t(person, reader, purpose, categories, what, at)"
)


class What(StrEnum):
    """How the data was read: one name per place that reads."""

    userinfo = "userinfo"  # OIDC Core §5.3
    token_exchange = "token_exchange"  # noqa: S105 - RFC 8693: the target gets its pseudonym
    view = "view"  # a brand's unified view of the person


@dataclass(frozen=True)
class Access:
    reader_id: str
    reader: str  # the member's name, as the person knows it
    purpose: str
    categories: tuple[str, ...]
    what: str
    at: datetime


@dataclass(frozen=True)
class Entry:
    """One read to record."""

    person_id: str
    reader_id: str
    purpose: str
    categories: Iterable[str]
    what: What
    at: datetime


class AccessLog:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(
        self,
        person_id: str,
        reader_id: str,
        *,
        purpose: str,
        categories: Iterable[str],
        what: What,
        at: datetime,
    ) -> None:
        self.session.execute(
            LOG.insert().values(
                person_id=person_id,
                reader=reader_id,
                purpose=purpose,
                categories=sorted(set(categories)),
                what=what.value,
                at=at,
            )
        )

    def record_many(self, entries: Sequence[Entry]) -> None:
        """Many reads in one statement (a batch of views). On PostgreSQL the columns go
        as arrays (``unnest``: six values to send, however many reads), and each
        distinct set of categories is written as JSON once, not once per read."""
        if not entries:
            return
        if self.session.get_bind().dialect.name == "postgresql":
            texts: dict[tuple[str, ...], str] = {}
            columns: dict[str, list[str]] = {name: [] for name in _COLUMNS}
            for e in entries:
                key = tuple(e.categories)
                if key not in texts:
                    texts[key] = json.dumps(sorted(set(key)), separators=(",", ":"))
                columns["person"].append(e.person_id)
                columns["reader"].append(e.reader_id)
                columns["purpose"].append(e.purpose)
                columns["categories"].append(texts[key])
                columns["what"].append(e.what.value)
                columns["at"].append(e.at.isoformat())
            self.session.execute(_UNNESTED, columns)
            return
        self.session.execute(
            LOG.insert(),
            [
                {
                    "person_id": e.person_id,
                    "reader": e.reader_id,
                    "purpose": e.purpose,
                    "categories": sorted(set(e.categories)),
                    "what": e.what.value,
                    "at": e.at,
                }
                for e in entries
            ],
        )

    def of_person(self, person_id: str, limit: int | None = LATEST) -> list[Access]:
        """The person's entries, latest first; all of them when ``limit`` is None."""
        query = (
            select(LOG.c.reader, MEMBER.c.name, LOG.c.purpose, LOG.c.categories)
            .add_columns(LOG.c.what, LOG.c.at)
            .join(MEMBER, MEMBER.c.id == LOG.c.reader)
            .where(LOG.c.person_id == person_id)
            .order_by(LOG.c.at.desc(), LOG.c.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        return [
            Access(str(reader), str(name), str(purpose), tuple(categories), str(what), at)
            for reader, name, purpose, categories, what, at in self.session.execute(query)
        ]
