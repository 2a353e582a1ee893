"""The sandbox's exact aggregates, computed in the database (one SQL statement).

Who counts: persons with a consent record to the brand for ``analytics.aggregate`` that
is given, in its validity window, separate, under the notice's current version, with a
guardian's reference if the person is a minor, and that covers every category the query
touches (one record covering them all: a person whose categories are split over several
records is left out, never counted twice). These are the gates of ``consent.policy``,
applied to the records' projections in SQL; tests hold the two to the same answers.

What a person contributes: their merged value per category (``merged_attribute``, one
row per person and category, one per tag), so one person is one row in a group; at most
``max_tags`` tag groups (the first tags by key); a measured value clamped to the bounds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    and_,
    case,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from gateway.consents import category_sets
from gateway.consents.models import ConsentRecordRow
from gateway.db import core
from gateway.identity.models import Person
from gateway.sandbox.query import DEPTH_VALUES, PURPOSE, Dimension, Kind, Query
from gateway.views.models import MergedAttribute

RECORD, PERSON, MERGED = core(ConsentRecordRow), core(Person), core(MergedAttribute)

WORK_MEM = "64MB"
# group key -> (persons, sum of their clamped values)
Exact = dict[tuple[str, ...], tuple[int, float]]


def exact(
    session: Session, query: Query, brand_id: str, notices: Mapping[str, int], now: datetime
) -> Exact:
    if session.get_bind().dialect.name == "postgresql":
        # For this transaction only: hash tables over a brand's consenting persons
        # (hundreds of thousands) spill to disk under the default 4 MB of work_mem; and
        # psycopg prepares a statement on its fifth run, after which PostgreSQL may
        # switch to a generic plan blind to the brand, the sets and the time (measured:
        # from 0.55 s to 1.3 s per query from about the 13th identical query on).
        session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    eligible = _eligible(session, query, brand_id, notices, now).cte("eligible")
    person = eligible.c.person_id
    columns: list[Any] = []
    statement_from: Any = eligible
    conditions: list[ColumnElement[bool]] = []
    used = [*query.group_by, *(d for d, _ in query.where)]
    depth_of = next((d for d in used if d.kind is Kind.depth), None)
    depth: Any = literal(DEPTH_VALUES[0])
    if depth_of is not None:
        levels = _depth(depth_of)
        statement_from = statement_from.outerjoin(levels, levels.c.person_id == person)
        depth = _depth_label(levels.c.level)
    filters = dict(query.where)
    for n, dimension in enumerate(query.group_by):
        if dimension.kind is Kind.depth:
            columns.append(depth.label(f"g{n}"))
            continue
        if dimension.kind is Kind.enum:
            values = MERGED.alias(f"d{n}")
            statement_from = statement_from.join(
                values, and_(values.c.person_id == person, values.c.category == dimension.key)
            )
            columns.append(values.c.text.label(f"g{n}"))
            continue
        tags = _tags(dimension, filters.get(dimension), query.max_tags).subquery(f"t{n}")
        statement_from = statement_from.join(tags, tags.c.person_id == person)
        columns.append(tags.c.item.label(f"g{n}"))
    for dimension, chosen in query.where:
        if dimension.kind is Kind.depth:
            conditions.append(depth.in_(chosen))
        elif dimension not in query.group_by:
            column = MERGED.c.text if dimension.kind is Kind.enum else MERGED.c.item
            conditions.append(
                exists().where(
                    MERGED.c.person_id == person,
                    MERGED.c.category == dimension.key,
                    column.in_(chosen),
                )
            )
        elif dimension.kind is Kind.enum:
            index = query.group_by.index(dimension)
            conditions.append(columns[index].element.in_(chosen))
    measured: Any = literal(0.0, Float)
    if query.category is not None:
        value = MERGED.alias("m")
        statement_from = statement_from.join(
            value, and_(value.c.person_id == person, value.c.category == query.category)
        )
        lower, upper = literal(query.lower, Float), literal(query.upper, Float)
        measured = case(
            (value.c.num < lower, lower), (value.c.num > upper, upper), else_=value.c.num
        )
    statement = (
        select(*columns, func.count().label("n"), func.coalesce(func.sum(measured), 0.0).label("s"))
        .select_from(statement_from)
        .where(*conditions)
        .group_by(*columns)
    )
    found: Exact = {}
    for row in session.execute(statement):
        key = tuple(str(v) for v in row[: len(columns)])
        found[key] = (int(row.n), float(row.s))
    return found


def _eligible(
    session: Session, query: Query, brand_id: str, notices: Mapping[str, int], now: datetime
) -> Any:
    # Versions start at 1: only notices with a newer version can make a record stale.
    revised = {notice: version for notice, version in sorted(notices.items()) if version > 1}
    current = [
        and_(RECORD.c.notice_id == notice, RECORD.c.notice_version >= version)
        for notice, version in revised.items()
    ]
    return (
        select(RECORD.c.person_id)
        .where(
            RECORD.c.recipient_id == brand_id,
            RECORD.c.purpose == PURPOSE,
            RECORD.c.state == "given",
            RECORD.c.valid_from <= now,
            RECORD.c.ends_at > now,
            RECORD.c.separate.is_(True),
            or_(RECORD.c.notice_id.not_in(list(revised)), *current) if revised else true(),
            not_(
                exists().where(
                    PERSON.c.id == RECORD.c.person_id,
                    PERSON.c.minor_under_14,  # as the partial index ix_person_minor states it
                    RECORD.c.guardian_ref.is_(None),
                )
            ),
            # the record covers every category the query touches: decided once per
            # distinct set, so the test reads the index, not each record's categories
            RECORD.c.categories_digest.in_(category_sets.covering(session, query.categories)),
        )
        .distinct()
    )


def _tags(dimension: Dimension, chosen: tuple[str, ...] | None, max_tags: int) -> Any:
    rank = func.row_number().over(partition_by=MERGED.c.person_id, order_by=MERGED.c.item)
    inner = select(MERGED.c.person_id, MERGED.c.item, rank.label("rank")).where(
        MERGED.c.category == dimension.key
    )
    if chosen is not None:
        inner = inner.where(MERGED.c.item.in_(chosen))
    ranked = inner.subquery()
    return select(ranked.c.person_id, ranked.c.item).where(ranked.c.rank <= max_tags)


def _depth(dimension: Dimension) -> Any:
    """Per person: 2 if any deep 30-day count is positive, else 1 if any shallow one is."""
    deep = sorted(c for c in dimension.categories if ".deep." in c)
    shallow = sorted(c for c in dimension.categories if ".shallow." in c)
    level = func.max(
        case(
            (and_(MERGED.c.category.in_(deep), MERGED.c.num > 0), 2),
            (and_(MERGED.c.category.in_(shallow), MERGED.c.num > 0), 1),
            else_=0,
        )
    )
    return (
        select(MERGED.c.person_id, level.label("level"))
        .where(MERGED.c.category.in_(sorted(dimension.categories)))
        .group_by(MERGED.c.person_id)
        .subquery("depth")
    )


def _depth_label(level: Any) -> Any:
    none, shallow, deep = DEPTH_VALUES
    return case((level == 2, deep), (level == 1, shallow), else_=none)  # no counts: none
