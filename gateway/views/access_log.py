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

from gateway.consents import category_sets
from gateway.db import core
from gateway.members.models import Member
from gateway.views.models import AccessEntry

LOG, MEMBER = core(AccessEntry), core(Member)
LATEST = 100  # what the consent center shows; the export carries every entry
# PostgreSQL: the sets the entries cite are stored (if new) and the entries written in
# one statement, one round trip; each column goes as one array (``unnest``).
_UNNESTED = text(
    "WITH cited AS (INSERT INTO category_set (digest, categories)"
    " SELECT digest, CAST(categories AS JSONB)"
    " FROM unnest(CAST(:set_digest AS VARCHAR[]), CAST(:set_categories AS TEXT[]))"
    " AS s(digest, categories) ON CONFLICT DO NOTHING)"
    " INSERT INTO access_log"
    " (person_id, reader, purpose, categories_digest, categories_mask, what, at)"
    " SELECT person, reader, purpose, digest, mask, what, CAST(at AS TIMESTAMPTZ)"
    " FROM unnest(CAST(:person AS VARCHAR[]), CAST(:reader AS VARCHAR[]),"
    " CAST(:purpose AS VARCHAR[]), CAST(:digest AS VARCHAR[]), CAST(:mask AS TEXT[]),"
    " CAST(:what AS VARCHAR[]), CAST(:at AS TEXT[]))"
    " AS t(person, reader, purpose, digest, mask, what, at)"
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
    categories: tuple[str, ...]  # in canonical order (sorted by code point)
    what: str
    at: datetime


@dataclass(frozen=True)
class Entry:
    """One read to record: ``categories`` were read, chosen from ``among`` (for a view,
    the purpose's necessary categories; by default the categories themselves)."""

    person_id: str
    reader_id: str
    purpose: str
    categories: Iterable[str]
    what: What
    at: datetime
    among: frozenset[str] | None = None


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
        self.record_many([Entry(person_id, reader_id, purpose, categories, what, at)])

    def record_many(self, entries: Sequence[Entry]) -> None:
        """Many reads in one statement (a batch of views). Each entry cites the set it
        chose from by digest (stored if new) and its categories as a mask over it;
        ``ValueError`` if an entry read a category outside its set. On PostgreSQL the
        columns go as arrays (``unnest``: a handful of values to send, however many
        reads), with the sets, in a single statement."""
        if not entries:
            return
        cited: dict[frozenset[str], str] = {}
        coded: list[tuple[Entry, str, str]] = []
        for e in entries:
            read = frozenset(e.categories)
            among = read if e.among is None else e.among
            digest = cited.get(among)
            if digest is None:
                digest = cited[among] = category_sets.digest_of(among)
            coded.append((e, digest, category_sets.mask(among, read)))
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(
                _UNNESTED,
                {
                    "set_digest": list(cited.values()),
                    "set_categories": [
                        json.dumps(category_sets.ordered(s), separators=(",", ":")) for s in cited
                    ],
                    "person": [e.person_id for e, _, _ in coded],
                    "reader": [e.reader_id for e, _, _ in coded],
                    "purpose": [e.purpose for e, _, _ in coded],
                    "digest": [digest for _, digest, _ in coded],
                    "mask": [mask for _, _, mask in coded],
                    "what": [e.what.value for e, _, _ in coded],
                    "at": [e.at.isoformat() for e, _, _ in coded],
                },
            )
            return
        category_sets.ensure(self.session, cited)
        self.session.execute(
            LOG.insert(),
            [
                {
                    "person_id": e.person_id,
                    "reader": e.reader_id,
                    "purpose": e.purpose,
                    "categories_digest": digest,
                    "categories_mask": mask,
                    "what": e.what.value,
                    "at": e.at,
                }
                for e, digest, mask in coded
            ],
        )

    def of_person(self, person_id: str, limit: int | None = LATEST) -> list[Access]:
        """The person's entries, latest first; all of them when ``limit`` is None."""
        query = (
            select(LOG.c.reader, MEMBER.c.name, LOG.c.purpose, LOG.c.categories_digest)
            .add_columns(LOG.c.categories_mask, LOG.c.what, LOG.c.at)
            .join(MEMBER, MEMBER.c.id == LOG.c.reader)
            .where(LOG.c.person_id == person_id)
            .order_by(LOG.c.at.desc(), LOG.c.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        rows = self.session.execute(query).all()
        sets = category_sets.resolve(self.session, {str(row[3]) for row in rows})
        return [
            Access(
                str(reader),
                str(name),
                str(purpose),
                category_sets.chosen(sets[str(digest)], str(mask)),
                str(what),
                at,
            )
            for reader, name, purpose, digest, mask, what, at in rows
        ]
