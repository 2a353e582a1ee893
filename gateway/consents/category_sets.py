"""Category sets: each distinct set of data categories that consent records or the
access log name, stored once and keyed by its digest.

A record cites its categories by digest (``consent_record.categories_digest``), so the
set is stored once, not in every record (a brand's records carry 68 to 93 categories:
half a record's bytes), and what reads records resolves the few digests it meets from
memory. An access-log entry cites the set its read chose from (for a view, the
categories its purpose makes necessary: one set per purpose) by digest, and what it read
as a mask over that set (:func:`mask`): a few bytes where the names took some 800.

"Which records cover these categories" is decided once per distinct set (a few dozen in
an alliance, however many records), then the records are found by digest in an index
that holds every column the sandbox's eligibility test reads: an index-only scan. A set
names no person: it is never erased, exported or deleted (records cite it by a foreign
key, access-log entries by digest alone)."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable

from sqlalchemy import and_, cast, exists, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session

from gateway.consents.models import CategorySet
from gateway.db import core, insert_new_many

SET = core(CategorySet)
KEEP = 10_000  # sets remembered per process: far more than an alliance names
_known: dict[str, frozenset[str]] = {}


def canonical(categories: Iterable[str]) -> list[str]:
    """The set's one form: distinct, sorted by code point."""
    return sorted(set(categories))


def digest(categories: Iterable[str]) -> str:
    """SHA-256 (hex) of the set's canonical JSON: equal sets, equal digests."""
    text = json.dumps(canonical(categories), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=1024)
def digest_of(categories: frozenset[str]) -> str:
    """:func:`digest` of a frozen set, remembered: writers name the same few sets over
    and over, and a record's write needs it twice (the set, then the record)."""
    return digest(categories)


@functools.lru_cache(maxsize=1024)
def ordered(categories: frozenset[str]) -> tuple[str, ...]:
    """The set's canonical order, remembered: the order a mask's bits follow."""
    return tuple(canonical(categories))


@functools.lru_cache(maxsize=1024)
def _bits(categories: frozenset[str]) -> dict[str, int]:
    return {category: 1 << n for n, category in enumerate(ordered(categories))}


def mask(among: frozenset[str], chosen: Iterable[str]) -> str:
    """Which of ``among`` are ``chosen``: bit n for the n-th category of ``among`` in
    canonical order, in lowercase hexadecimal ("0" for none). With ``among``'s digest,
    it names a subset in a few bytes, whatever its size. ``ValueError`` if a chosen
    category is not among them."""
    bits = _bits(among)
    value = 0
    try:
        for category in chosen:
            value |= bits[category]
    except KeyError as missing:
        raise ValueError(f"{missing.args[0]!r} is not among the set's categories") from None
    return format(value, "x")


def chosen(among: frozenset[str], bits: str) -> tuple[str, ...]:
    """The categories :func:`mask` chose from ``among``, in canonical order."""
    value = int(bits, 16)
    everyone = ordered(among)
    if value >> len(everyone):
        raise ValueError(f"mask {bits!r} names more categories than the set has")
    return tuple(c for n, c in enumerate(everyone) if value >> n & 1)


def ensure(session: Session, sets: Iterable[Iterable[str]]) -> list[str]:
    """Store the sets not stored yet (one statement; concurrent writers of the same set
    both succeed); their distinct digests, in the order first given."""
    rows: dict[str, list[str]] = {}
    for given in sets:
        frozen = frozenset(given)
        key = digest_of(frozen)
        if key not in rows:
            rows[key] = canonical(frozen)
    insert_new_many(
        session, SET, [{"digest": key, "categories": value} for key, value in rows.items()]
    )
    return list(rows)


def resolve(session: Session, digests: Iterable[str]) -> dict[str, frozenset[str]]:
    """digest -> its categories. A set never changes under its digest, so what was read
    once is kept for the process (a few dozen sets) and only new digests are read."""
    wanted = set(digests)
    missing = sorted(wanted - _known.keys())
    if missing:
        if len(_known) + len(missing) > KEEP:
            _known.clear()
        rows = session.execute(select(SET).where(SET.c.digest.in_(missing)))
        _known.update({str(d): frozenset(c) for d, c in rows})
    return {d: _known[d] for d in wanted}


def covering(session: Session, categories: Iterable[str]) -> list[str]:
    """The digests of the stored sets that include every one of ``categories``."""
    wanted = canonical(categories)
    statement = select(SET.c.digest)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.where(
            SET.c.categories.op("@>")(cast(literal(json.dumps(wanted)), JSONB))
        )
    else:  # SQLite: one json_each probe per category, over a table of a few dozen rows
        probes = []
        for n, category in enumerate(wanted):
            items = func.json_each(SET.c.categories).table_valued("value").alias(f"j{n}")
            probes.append(
                exists(select(literal(1)).select_from(items).where(items.c.value == category))
            )
        statement = statement.where(and_(*probes)) if probes else statement
    return sorted(str(d) for (d,) in session.execute(statement))
