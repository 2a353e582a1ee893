"""The attribute store in SQL: platforms' values, their merged rows, and what consent
keeps. Repositories never commit: the request edge (or the job) owns the transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Text, any_, bindparam, delete, func, literal, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from consent.taxonomy import DataStandard
from gateway.consents import category_sets
from gateway.consents.models import ConsentRecordRow
from gateway.db import among, chunks, core
from gateway.members.models import Member
from gateway.views import document
from gateway.views.merge import Merged, Observation, merge_all, rows_of
from gateway.views.models import Attribute, MergedAttribute, ViewValue

ATTRIBUTE, MERGED, RECORD = core(Attribute), core(MergedAttribute), core(ConsentRecordRow)
VIEW, MEMBER = core(ViewValue), core(Member)
KEPT_FOR = "brand"  # the gateway keeps attributes only for what brands may read


@dataclass(frozen=True)
class Row:
    """One value to keep: a platform's observation of a person's category."""

    person_id: str
    category: str
    platform_id: str
    value: Any
    num: float | None
    observed_at: datetime
    expires_at: datetime


def retention(
    session: Session, person_ids: Sequence[str], now: datetime
) -> dict[str, dict[str, int]]:
    """person -> {leaf category: days it may be kept}: the categories some in-force
    consent to a brand makes necessary (a record's categories are within its purpose's
    necessity), each with the longest retention of the purposes that need it."""
    kept: dict[str, dict[str, int]] = defaultdict(dict)
    for chunk in chunks(person_ids):
        rows = session.execute(
            select(RECORD.c.person_id, RECORD.c.categories_digest, RECORD.c.retention_days).where(
                RECORD.c.person_id.in_(chunk),
                RECORD.c.recipient_kind == KEPT_FOR,
                RECORD.c.state == "given",
                RECORD.c.valid_from <= now,
                RECORD.c.ends_at > now,
            )
        )
        found = rows.all()
        sets = category_sets.resolve(session, {str(digest) for _, digest, _ in found})
        for person, digest, days in found:
            mine = kept[str(person)]
            for category in sets[str(digest)]:
                mine[category] = max(mine.get(category, 0), int(days))
    return kept


def upsert(session: Session, rows: Sequence[Row]) -> int:
    """Keep each row unless a newer observation of the same (person, category,
    platform) is already kept; how many were written."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(ATTRIBUTE)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[ATTRIBUTE.c.person_id, ATTRIBUTE.c.category, ATTRIBUTE.c.platform_id],
        set_={
            "value": excluded.value,
            "num": excluded.num,
            "observed_at": excluded.observed_at,
            "expires_at": excluded.expires_at,
        },
        where=ATTRIBUTE.c.observed_at <= excluded.observed_at,
    )
    values = [row.__dict__ for row in rows]
    written = session.execute(statement.returning(ATTRIBUTE.c.person_id), values).all()
    return len(written)


def observations(
    session: Session, person_ids: Sequence[str], categories: Iterable[str] | None = None
) -> dict[str, list[tuple[str, Observation]]]:
    """person -> their kept (category, observation) pairs, optionally for some categories."""
    found: dict[str, list[tuple[str, Observation]]] = defaultdict(list)
    wanted = sorted(set(categories)) if categories is not None else None
    for chunk in chunks(person_ids):
        query = select(
            ATTRIBUTE.c.person_id,
            ATTRIBUTE.c.category,
            ATTRIBUTE.c.platform_id,
            ATTRIBUTE.c.value,
            ATTRIBUTE.c.observed_at,
        ).where(ATTRIBUTE.c.person_id.in_(chunk))
        if wanted is not None:
            query = query.where(ATTRIBUTE.c.category.in_(wanted))
        for person, category, platform, value, observed_at in session.execute(query):
            found[str(person)].append(
                (str(category), Observation(str(platform), value, observed_at))
            )
    return found


def merged(
    standard: DataStandard, session: Session, person_ids: Sequence[str], categories: Iterable[str]
) -> dict[str, dict[str, Merged]]:
    """person -> {category: merged value} for the asked categories they have values of."""
    return {
        person: merge_all(standard.categories, pairs)
        for person, pairs in observations(session, person_ids, categories).items()
    }


def refresh_merged(
    standard: DataStandard, session: Session, pairs: Iterable[tuple[str, str]]
) -> None:
    """Recompute ``merged_attribute`` and ``view_value`` for these (person, category)
    pairs from what is kept: the sandbox reads exactly what a view serves, and a view
    serves exactly what the merge rules make of the platforms' values."""
    by_person: dict[str, set[str]] = defaultdict(set)
    for person, category in pairs:
        by_person[person].add(category)
    for chunk in chunks(by_person, size=200):
        categories = sorted(set().union(*(by_person[p] for p in chunk)))
        merged_now = merged(standard, session, chunk, categories)
        for table in (MERGED, VIEW):
            session.execute(
                delete(table).where(table.c.person_id.in_(chunk), table.c.category.in_(categories))
            )
        rows = [
            {"category": key, "person_id": person, "item": r.item, "num": r.num, "text": r.text}
            for person, values in merged_now.items()
            for key, value in values.items()
            for r in rows_of(standard.categories[key], value)
        ]
        if rows:
            session.execute(MERGED.insert(), rows)
        names = client_ids(session, merged_now)
        docs = [
            {
                "person_id": person,
                "category": key,
                "doc": document.dumps(document.fragment(standard.categories[key], value, names)),
            }
            for person, values in merged_now.items()
            for key, value in values.items()
        ]
        if docs:
            session.execute(VIEW.insert(), docs)


def client_ids(session: Session, merged_now: dict[str, dict[str, Merged]]) -> dict[str, str]:
    """member id -> client id, of the platforms these values came from."""
    ids = {
        o.platform_id for values in merged_now.values() for m in values.values() for o in m.sources
    }
    if not ids:
        return {}
    rows = session.execute(
        select(MEMBER.c.id, MEMBER.c.client_id).where(MEMBER.c.id.in_(sorted(ids)))
    )
    return {str(member): str(client) for member, client in rows}


def expired(session: Session, now: datetime, limit: int) -> list[tuple[str, str, str]]:
    """(person, category, platform) of kept values past their retention, oldest first."""
    rows = session.execute(
        select(ATTRIBUTE.c.person_id, ATTRIBUTE.c.category, ATTRIBUTE.c.platform_id)
        .where(ATTRIBUTE.c.expires_at <= now)
        .order_by(ATTRIBUTE.c.expires_at)
        .limit(limit)
    )
    return [(str(p), str(c), str(m)) for p, c, m in rows]


def remove(session: Session, keys: Sequence[tuple[str, str, str]]) -> None:
    """Delete these (person, category, platform) values."""
    columns = tuple_(ATTRIBUTE.c.person_id, ATTRIBUTE.c.category, ATTRIBUTE.c.platform_id)
    for start in range(0, len(keys), 500):
        session.execute(delete(ATTRIBUTE).where(columns.in_(keys[start : start + 500])))


def kept_of(session: Session, person_ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """(person, category, platform) of every value kept for these persons."""
    found: list[tuple[str, str, str]] = []
    for chunk in chunks(person_ids):
        rows = session.execute(
            select(ATTRIBUTE.c.person_id, ATTRIBUTE.c.category, ATTRIBUTE.c.platform_id).where(
                ATTRIBUTE.c.person_id.in_(chunk)
            )
        )
        found.extend((str(p), str(c), str(m)) for p, c, m in rows)
    return found


def drop_platform(
    standard: DataStandard, session: Session, person_id: str, platform_id: str
) -> None:
    """Forget what one platform pushed for a person (the account was unlinked)."""
    categories = [
        str(c)
        for (c,) in session.execute(
            delete(ATTRIBUTE)
            .where(ATTRIBUTE.c.person_id == person_id, ATTRIBUTE.c.platform_id == platform_id)
            .returning(ATTRIBUTE.c.category)
        )
    ]
    refresh_merged(standard, session, [(person_id, c) for c in categories])


def restrict(
    standard: DataStandard, session: Session, person_ids: Sequence[str], now: datetime
) -> int:
    """Bring these persons' kept values in line with their consents in force now: a
    value no consent needs any more goes, and one whose longest retention shrank gets
    the shorter one. How many values went."""
    kept = retention(session, person_ids, now)
    gone: list[tuple[str, str, str]] = []
    shorter: list[dict[str, Any]] = []
    for chunk in chunks(person_ids):
        rows = session.execute(
            select(
                ATTRIBUTE.c.person_id,
                ATTRIBUTE.c.category,
                ATTRIBUTE.c.platform_id,
                ATTRIBUTE.c.observed_at,
                ATTRIBUTE.c.expires_at,
            ).where(ATTRIBUTE.c.person_id.in_(chunk))
        )
        for person, category, platform, observed_at, expires_at in rows:
            days = kept.get(str(person), {}).get(str(category))
            if days is None or observed_at + timedelta(days=days) <= now:
                gone.append((str(person), str(category), str(platform)))
            elif observed_at + timedelta(days=days) < expires_at:
                shorter.append(
                    {
                        "p": person,
                        "c": category,
                        "m": platform,
                        "until": observed_at + timedelta(days=days),
                    }
                )
    remove(session, gone)
    if shorter:
        session.execute(
            ATTRIBUTE.update()
            .where(
                ATTRIBUTE.c.person_id == bindparam("p"),
                ATTRIBUTE.c.category == bindparam("c"),
                ATTRIBUTE.c.platform_id == bindparam("m"),
            )
            .values(expires_at=bindparam("until")),
            shorter,
        )
    refresh_merged(standard, session, [(p, c) for p, c, _ in gone])
    return len(gone)


def move(standard: DataStandard, session: Session, into: str, other: str) -> None:
    """Two persons became one: ``other``'s values join ``into``'s (where ``into`` has no
    value of that category from that platform; the rest go with ``other``)."""
    mine = ATTRIBUTE.alias("mine")
    session.execute(
        ATTRIBUTE.update()
        .where(
            ATTRIBUTE.c.person_id == other,
            ~select(mine.c.person_id)
            .where(
                mine.c.person_id == into,
                mine.c.category == ATTRIBUTE.c.category,
                mine.c.platform_id == ATTRIBUTE.c.platform_id,
            )
            .exists(),
        )
        .values(person_id=into)
    )
    categories = session.execute(
        select(ATTRIBUTE.c.category).where(ATTRIBUTE.c.person_id == into).distinct()
    )
    refresh_merged(standard, session, [(into, str(c)) for (c,) in categories])


@dataclass(frozen=True)
class Entries:
    """A person's stored view entries for some categories, joined."""

    categories: tuple[str, ...]  # those with an entry, in the order of the text
    members: str  # ``"category":entry,...``: the object's members, without its braces


NO_ENTRIES = Entries((), "")


def entries(session: Session, wanted: Mapping[str, Iterable[str]]) -> dict[str, Entries]:
    """person -> their stored entries for the categories wanted of them (persons with
    none are left out; the order of the entries is not part of the answer). Persons
    wanting the same categories are read
    together: on PostgreSQL the database joins the entries (one row per person), elsewhere
    they are joined here."""
    together: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for person, categories in wanted.items():
        together[tuple(sorted(set(categories)))].append(person)
    found: dict[str, Entries] = {}
    postgres = session.get_bind().dialect.name == "postgresql"
    for categories, persons in together.items():
        if not categories:
            continue
        for chosen in among(session, VIEW.c.person_id, persons, size=1000):
            if postgres:
                found.update(_joined(session, chosen, categories))
                continue
            rows = session.execute(
                select(VIEW.c.person_id, VIEW.c.category, VIEW.c.doc)
                .where(chosen, VIEW.c.category.in_(categories))
                .order_by(VIEW.c.person_id, VIEW.c.category)
            )
            mine: dict[str, list[tuple[str, str]]] = defaultdict(list)
            for person, category, doc in rows:
                mine[person].append((category, doc))
            for person, pairs in mine.items():
                found[person] = Entries(tuple(c for c, _ in pairs), document.members(pairs))
    return found


def _joined(
    session: Session, chosen: ColumnElement[bool], categories: tuple[str, ...]
) -> dict[str, Entries]:
    """The entries of the chosen persons, joined by the database: one row per person.

    The categories are one array parameter (``= ANY``), so the statement's text is the
    same whatever is asked: psycopg prepares it once, and nothing is rendered per call.
    The entries come in the order the primary key's index gives them (category within
    person), unsorted by the aggregate: sorting in each group cost PostgreSQL 15 some 20
    ms of a batch of 1,000, and a JSON object's members have no order (RFC 8259 §4)."""
    wanted = literal(list(categories), type_=postgresql.ARRAY(Text()))
    pair = func.to_json(VIEW.c.category).cast(Text) + literal(":") + VIEW.c.doc
    rows = session.execute(
        select(
            VIEW.c.person_id,
            func.array_agg(VIEW.c.category),
            func.string_agg(pair, literal(",")),
        )
        .where(chosen, VIEW.c.category == any_(wanted))
        .group_by(VIEW.c.person_id)
    )
    return {str(person): Entries(tuple(keys), joined) for person, keys, joined in rows}
