"""Category sets: each distinct set stored once, cited by digest from its records,
found by coverage; the migration backfills records written before it."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine

from consent.journal import Evidence
from consent.records import Actor, History
from gateway import migrate
from gateway.consents import category_sets
from gateway.consents.service import Ask, Consents, Terms
from gateway.consents.store import RECORD, histories_of_records
from gateway.db import transaction
from gateway.runtime import Runtime
from tests.gateway.alliance import Alliance

TIER, DEVICE = "user.demographic.city_tier", "user.device.type"


def give(runtime: Runtime, alliance: Alliance, wanted: dict[str, list[str]]) -> None:
    """One personalize.content consent per account, with the categories given."""
    with transaction(runtime.sessions) as session:
        consents = Consents(session, runtime)
        platform = consents.member(alliance.platform["id"])
        persons, _ = consents.persons.link(platform.id, list(wanted))
        evidence = Evidence(Actor.person, "platform_ui")
        asks = [
            Ask(
                persons[account],
                platform,
                Terms("personalize.content", frozenset(categories), "redleaf-privacy", 1),
                evidence,
            )
            for account, categories in wanted.items()
        ]
        assert all(isinstance(o, History) for o in consents.give_many(asks))


def stored(runtime: Runtime) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The category sets by digest, and each record's digest by record id."""
    with runtime.sessions() as session:
        sets = {str(d): list(c) for d, c in session.execute(select(category_sets.SET))}
        records = {
            str(r): str(d)
            for r, d in session.execute(select(RECORD.c.record_id, RECORD.c.categories_digest))
        }
    return sets, records


def read_back(runtime: Runtime, record_ids: list[str]) -> list[frozenset[str]]:
    """The records' categories as the store reads them (resolved from their digests)."""
    category_sets._known.clear()
    with runtime.sessions() as session:
        return [h.record.categories for h in histories_of_records(session, record_ids)]


def test_a_digest_names_the_set_not_its_order() -> None:
    assert category_sets.digest([DEVICE, TIER, TIER]) == category_sets.digest([TIER, DEVICE])
    assert category_sets.digest([TIER]) != category_sets.digest([TIER, DEVICE])
    expected = hashlib.sha256(b'["user.demographic.city_tier","user.device.type"]').hexdigest()
    assert category_sets.digest([DEVICE, TIER]) == expected
    assert category_sets.digest_of(frozenset({TIER, DEVICE})) == expected


def test_records_cite_their_set_and_each_set_is_stored_once(
    runtime: Runtime, alliance: Alliance
) -> None:
    give(runtime, alliance, {"cs-1": [TIER, DEVICE], "cs-2": [DEVICE, TIER], "cs-3": [DEVICE]})
    give(runtime, alliance, {"cs-4": [DEVICE]})  # a later batch: the set exists already
    sets, records = stored(runtime)
    assert sets == {
        category_sets.digest([TIER, DEVICE]): [TIER, DEVICE],
        category_sets.digest([DEVICE]): [DEVICE],
    }
    assert sorted(records.values()) == sorted(
        category_sets.digest(c) for c in ([TIER, DEVICE], [TIER, DEVICE], [DEVICE], [DEVICE])
    )
    read = read_back(runtime, sorted(records))
    assert sorted(read, key=sorted) == sorted(
        [frozenset({TIER, DEVICE})] * 2 + [frozenset({DEVICE})] * 2, key=sorted
    )
    with runtime.sessions() as session:  # and in the record's own id order, each its own
        for history in histories_of_records(session, sorted(records)):
            digest = records[history.record.record_id]
            assert category_sets.digest(history.record.categories) == digest


def test_covering_finds_the_sets_that_include_every_category(runtime: Runtime) -> None:
    both, one, other = ["a.x", "b.y"], ["a.x"], ["c.z"]
    with transaction(runtime.sessions) as session:
        assert category_sets.ensure(session, [both, one, other, list(reversed(both))]) == [
            category_sets.digest(s) for s in (both, one, other)
        ]
    with runtime.sessions() as session:

        def covering(*wanted: str) -> set[str]:
            return set(category_sets.covering(session, wanted))

        digest = category_sets.digest
        assert covering("a.x") == {digest(both), digest(one)}
        assert covering("b.y", "a.x") == {digest(both)}
        assert covering("a.x", "c.z") == set()
        assert covering("a") == set()  # a prefix is not a category
        assert covering("d.w") == set()
        assert covering() == {digest(both), digest(one), digest(other)}


def test_the_migration_backfills_records_written_before_it(
    runtime: Runtime, alliance: Alliance, engine: Engine
) -> None:
    give(runtime, alliance, {"mb-1": [TIER, DEVICE], "mb-2": [DEVICE], "mb-3": [DEVICE]})
    before = stored(runtime)
    migrate.downgrade(engine, "20261125_05")  # the categories back in each record
    with runtime.sessions() as session:
        held = dict(session.execute(text("SELECT record_id, categories FROM consent_record")).all())
    assert len(held) == 3
    assert all(before[1][r] == category_sets.digest(json_list(c)) for r, c in held.items())
    migrate.upgrade(engine)  # and from there into sets again
    after = stored(runtime)
    assert after == before
    assert sorted(read_back(runtime, sorted(after[1])), key=sorted) == sorted(
        [frozenset({TIER, DEVICE}), frozenset({DEVICE}), frozenset({DEVICE})], key=sorted
    )


def json_list(value: object) -> list[str]:
    """A JSON column as read by a plain SELECT: text on SQLite, parsed on PostgreSQL."""
    parsed = json.loads(value) if isinstance(value, str) else value
    assert isinstance(parsed, list)
    return [str(c) for c in parsed]


def test_a_set_is_read_once_per_process_then_remembered(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        first, second = category_sets.ensure(session, [["r.one"], ["r.one", "r.two"]])
    category_sets._known.clear()
    statements: list[tuple[str, object]] = []
    with runtime.sessions() as session:
        connection = session.connection()
        event.listen(
            connection, "before_cursor_execute", lambda *a: statements.append((a[2], a[3]))
        )
        assert category_sets.resolve(session, [first]) == {first: frozenset({"r.one"})}
        assert category_sets.resolve(session, [first]) == {first: frozenset({"r.one"})}
        assert len(statements) == 1
        both = category_sets.resolve(session, [first, second])
        assert both == {first: frozenset({"r.one"}), second: frozenset({"r.one", "r.two"})}
        assert len(statements) == 2
        assert second in str(statements[1][1]) and first not in str(statements[1][1])
