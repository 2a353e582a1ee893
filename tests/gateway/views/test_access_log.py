"""The access log names what each entry read as a subset of a stored category set: a
digest and a mask. What goes in comes back out, name for name; the set is stored once;
a read outside its set is refused; the migration carries entries both ways."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Engine

from consent.taxonomy import DataStandard
from gateway import migrate
from gateway.consents import category_sets
from gateway.db import transaction, utcnow
from gateway.identity.persons import Persons
from gateway.runtime import Runtime
from gateway.views.access_log import LOG, AccessLog, Entry, What
from tests.gateway.alliance import Alliance

PURPOSE = "marketing.brand_view"
PLATFORM_ACCOUNT = "user.account.platform_account"


def a_person(runtime: Runtime, alliance: Alliance, account: str) -> str:
    with transaction(runtime.sessions) as session:
        persons = Persons(session, runtime.settings.pairwise_key.get_secret_value().encode())
        return persons.of_account(alliance.platform["id"], account, create=True)


def test_a_mask_names_exactly_the_chosen_categories() -> None:
    among = frozenset(f"user.leaf_{n:03d}" for n in range(150))  # wider than any integer
    rng = random.Random(20261204)  # noqa: S311 - seeded test data
    for size in (0, 1, 2, 63, 64, 65, 149, 150):
        chosen = rng.sample(sorted(among), size)
        bits = category_sets.mask(among, chosen)
        assert bits == bits.lower() and int(bits, 16).bit_count() == size
        assert category_sets.chosen(among, bits) == tuple(sorted(chosen))
    assert category_sets.mask(among, []) == "0"
    assert category_sets.mask(frozenset({"b", "a"}), ["a"]) == "1"  # canonical order
    assert category_sets.mask(frozenset({"b", "a"}), ["b"]) == "2"


def test_a_mask_outside_its_set_is_refused() -> None:
    with pytest.raises(ValueError, match="'c' is not among"):
        category_sets.mask(frozenset({"a", "b"}), ["a", "c"])
    with pytest.raises(ValueError, match="more categories than the set has"):
        category_sets.chosen(frozenset({"a", "b"}), "4")
    with pytest.raises(ValueError, match="invalid literal"):
        category_sets.chosen(frozenset({"a", "b"}), "not hex")


def test_entries_read_back_their_categories_and_cite_one_stored_set(
    runtime: Runtime, alliance: Alliance, standard: DataStandard
) -> None:
    necessity = standard.purposes[PURPOSE].necessity
    person = a_person(runtime, alliance, "al-1")
    rng = random.Random(7)  # noqa: S311 - seeded test data
    start = utcnow()
    reads = [tuple(sorted(rng.sample(sorted(necessity), n))) for n in (0, 1, 5, len(necessity))]
    for batch in (reads[:2], reads[2:]):  # two writes: the set is stored once
        with transaction(runtime.sessions) as session:
            AccessLog(session).record_many(
                [
                    Entry(
                        person,
                        alliance.brand_a["id"],
                        PURPOSE,
                        read,
                        What.view,
                        start + timedelta(seconds=reads.index(read)),
                        necessity,
                    )
                    for read in batch
                ]
            )
    with transaction(runtime.sessions) as session:
        AccessLog(session).record(
            person,
            alliance.platform["id"],
            purpose="identity.sso",
            categories=["user.account.pseudonymous_id", "user.account.pseudonymous_id"],
            what=What.userinfo,
            at=start + timedelta(seconds=10),
        )
    category_sets._known.clear()
    with runtime.sessions() as session:
        log = AccessLog(session).of_person(person)
        cited = session.execute(select(LOG.c.categories_digest, LOG.c.categories_mask)).all()
        sets = dict(session.execute(select(category_sets.SET)).all())
    assert [(a.what, a.categories) for a in log] == [
        ("userinfo", ("user.account.pseudonymous_id",)),
        *(("view", read) for read in reversed(reads)),
    ]
    assert log[0].reader == alliance.platform["name"] and log[1].reader == alliance.brand_a["name"]
    views = category_sets.digest(necessity)
    assert sorted(sets[views]) == sorted(necessity)  # the purpose's set, stored once
    assert [d for d, _ in cited].count(views) == 4
    assert all(len(m) <= len(necessity) // 4 + 1 for _, m in cited)  # bytes, not names


def test_a_read_outside_its_set_writes_nothing(
    runtime: Runtime, alliance: Alliance, standard: DataStandard
) -> None:
    person = a_person(runtime, alliance, "al-2")
    necessity = standard.purposes[PURPOSE].necessity
    outside = next(c for c in sorted(standard.categories) if c not in necessity)
    good = Entry(person, alliance.brand_a["id"], PURPOSE, [], What.view, utcnow(), necessity)
    bad = Entry(person, alliance.brand_a["id"], PURPOSE, [outside], What.view, utcnow(), necessity)
    with pytest.raises(ValueError, match="not among"), transaction(runtime.sessions) as session:
        AccessLog(session).record_many([good, bad])
    with runtime.sessions() as session:
        assert session.execute(select(func.count()).select_from(LOG)).scalar_one() == 0


def test_the_migration_carries_entries_into_sets_and_back(
    runtime: Runtime, alliance: Alliance, standard: DataStandard, engine: Engine
) -> None:
    necessity = standard.purposes[PURPOSE].necessity
    person = a_person(runtime, alliance, "al-3")
    few, many = sorted(necessity)[:2], sorted(necessity)[:9]
    with transaction(runtime.sessions) as session:
        AccessLog(session).record_many(
            [
                Entry(person, alliance.brand_a["id"], PURPOSE, read, What.view, at, necessity)
                for read, at in ((few, utcnow()), (many, utcnow() + timedelta(seconds=1)))
            ]
        )
    migrate.downgrade(engine, "20261204_01")  # the names back in each entry
    with runtime.sessions() as session:
        held = [
            json.loads(c) if isinstance(c, str) else c
            for (c,) in session.execute(text("SELECT categories FROM access_log ORDER BY id"))
        ]
        # An entry as the code before wrote it, its names in its own order.
        session.execute(
            text(
                "INSERT INTO access_log (person_id, reader, purpose, categories, what, at)"
                " VALUES (:p, :r, 'identity.sso', :c, 'userinfo', :at)"
            ),
            {
                "p": person,
                "r": alliance.platform["id"],
                "c": json.dumps(["user.account.platform_account", "user.account.pseudonymous_id"]),
                "at": utcnow() + timedelta(seconds=2),
            },
        )
        session.commit()
    assert held == [few, many]
    migrate.upgrade(engine)
    category_sets._known.clear()
    with runtime.sessions() as session:
        log = AccessLog(session).of_person(person)
        digests = {d for (d,) in session.execute(select(LOG.c.categories_digest))}
    assert [a.categories for a in log] == [
        (PLATFORM_ACCOUNT, "user.account.pseudonymous_id"),
        tuple(many),
        tuple(few),
    ]
    assert len(digests) == 1  # entries written before cite one set: every name they hold
    assert "access_log_categories_map" not in inspect(engine).get_table_names()
