"""The views bench's generator, at 2,000 persons on PostgreSQL: what it loads is what
the gateway's own write paths would have stored (counts, keys, consents that pass
validation and decisions, attributes kept by the ingest's rule, valid values, merged
rows equal to the merge's)."""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from bench.views import loading
from bench.views.generate import Loaded, bench_settings, ensure
from bench.views.population import BENCH, MEMBERS, Sizes
from consent import policy
from consent.records import ConsentState, validate
from consent.taxonomy import DataStandard, RecipientKind, value_schema
from gateway import migrate
from gateway.consents import category_sets
from gateway.consents import store as consents_store
from gateway.consents.notices import Notices
from gateway.db import make_engine
from gateway.identity.pairwise import pairwise_sub
from gateway.secret_hash import SecretHasher
from gateway.views import document, merge
from gateway.views import store as views_store

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("ACCORD_TEST_POSTGRES_URL"), reason="needs ACCORD_TEST_POSTGRES_URL"
    ),
]

PERSONS, SEED = 2_000, 7
# Every foreign key of the loaded tables: (table, column, referenced table, column).
FOREIGN_KEYS = {
    ("platform_account", "platform_id", "member", "id"),
    ("platform_account", "person_id", "person", "id"),
    ("pairwise_subject", "person_id", "person", "id"),
    ("consent_record", "person_id", "person", "id"),
    ("consent_record", "recipient_id", "member", "id"),
    ("consent_record", "categories_digest", "category_set", "digest"),
    ("consent_event", "record_id", "consent_record", "record_id"),
    ("consent_event", "leaf_id", "log_leaf", "id"),
    ("attribute", "person_id", "person", "id"),
    ("attribute", "platform_id", "member", "id"),
    ("merged_attribute", "person_id", "person", "id"),
    ("view_value", "person_id", "person", "id"),
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    name = f"accord_bench_views_t_{uuid.uuid4().hex[:10]}"
    credentials = tmp_path_factory.mktemp("views") / "credentials.json"
    said: list[str] = []
    found = ensure(PERSONS, SEED, name, credentials=credentials, say=said.append)
    try:
        yield found
    finally:
        loading.drop(found.database_url)


@pytest.fixture(scope="module")
def db(loaded: Loaded) -> Iterator[Engine]:
    engine = make_engine(loaded.database_url)
    yield engine
    engine.dispose()


def _scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar_one()


def test_sizes_keys_and_indexes_are_those_asked_for(loaded: Loaded, db: Engine) -> None:
    sizes = Sizes(PERSONS)
    counts = {
        "person": sizes.persons,
        "platform_account": sizes.accounts,
        "consent_event": sizes.events,
        "log_leaf": sizes.events,
        "attribute": sizes.attributes,
        "member": len(MEMBERS),
        "notice_version": len(MEMBERS),
        "budget_cap": 1,
    }
    for table, expected in counts.items():
        count = f"SELECT count(*) FROM {table}"  # noqa: S608 - names from the dict above
        assert _scalar(db, count) == expected, table
    pairs = "SELECT count(*) FROM (SELECT DISTINCT person_id, category FROM attribute) x"
    assert _scalar(db, "SELECT count(*) FROM view_value") == _scalar(db, pairs)
    with db.connect() as connection:
        declared = {
            tuple(row)
            for row in connection.execute(
                text(
                    "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text,"
                    " r.attname FROM pg_constraint c"
                    " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
                    " JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = c.confkey[1]"
                    " WHERE c.contype = 'f' AND c.conrelid::regclass::text = ANY(:tables)"
                ),
                {"tables": sorted({fk[0] for fk in FOREIGN_KEYS})},
            )
        }
    assert declared == FOREIGN_KEYS
    for table, column, parent, key in sorted(FOREIGN_KEYS):
        orphans = _scalar(
            db,
            f"SELECT count(*) FROM {table} t WHERE NOT EXISTS "  # noqa: S608 - names above
            f"(SELECT 1 FROM {parent} p WHERE p.{key} = t.{column})",
        )
        assert orphans == 0, f"{table}.{column}"
    # the indexes dropped for the load are all back, as the migrations make them
    fresh = f"fresh_{uuid.uuid4().hex[:8]}"
    with db.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{fresh}"'))
    engine = make_engine(loaded.database_url, connect_args={"options": f"-csearch_path={fresh}"})
    migrate.upgrade(engine)
    engine.dispose()
    with db.connect() as connection:
        definitions = connection.execute(
            text(
                "SELECT schemaname, indexname, replace(indexdef, schemaname || '.', '')"
                " FROM pg_indexes WHERE schemaname IN ('public', :fresh)"
            ),
            {"fresh": fresh},
        ).all()
    public = {(n, d) for s, n, d in definitions if s == "public"}
    assert {(n, d) for s, n, d in definitions if s == fresh} <= public
    next_leaf = _scalar(db, "SELECT nextval(pg_get_serial_sequence('log_leaf', 'id'))")
    assert next_leaf == _scalar(db, "SELECT max(id) + 1 FROM log_leaf")


def test_subjects_and_principals_are_the_pairwise_subs(loaded: Loaded, db: Engine) -> None:
    key = bench_settings(loaded.database_url).pairwise_key.get_secret_value().encode()
    with db.connect() as connection:
        subjects = connection.execute(
            text("SELECT sector, sub, person_id FROM pairwise_subject")
        ).all()
        principals = connection.execute(
            text(
                "SELECT e.principal, m.sector, r.person_id FROM consent_event e"
                " JOIN consent_record r USING (record_id) JOIN member m ON m.id = r.recipient_id"
            )
        ).all()
    assert all(pairwise_sub(key, sector, person) == sub for sector, sub, person in subjects)
    assert {(s, p) for _, s, p in principals} == {(s, p) for s, _, p in subjects}
    assert all(pairwise_sub(key, s, p) == principal for principal, s, p in principals)


def test_consents_pass_validation_and_decide_as_recorded(
    loaded: Loaded, db: Engine, standard: DataStandard
) -> None:
    with Session(db) as session:
        ids = [str(r) for (r,) in session.execute(text("SELECT record_id FROM consent_record"))]
        histories = consents_store.histories_of_records(session, ids)
        notices = Notices(session).current_versions()
        now = session.execute(text("SELECT now()")).scalar_one()
        cited = session.execute(
            text(
                "SELECT s.categories, s.digest FROM category_set s WHERE s.digest IN"
                " (SELECT DISTINCT categories_digest FROM consent_record)"
            )
        ).all()
    assert cited and all(digest == category_sets.digest(c) for c, digest in cited)
    states: dict[str, int] = defaultdict(int)
    bench_view = 0
    for history in histories:
        record = history.record
        validate(record, standard)
        assert record.valid_from < now < record.valid_until
        state = history.state_at(now)
        states[str(state)] += 1
        assert len(history.events) == (2 if state is ConsentState.withdrawn else 1)
        recipient = record.to
        question = policy.Question(
            record.person_id, recipient.id, recipient.kind, record.purpose, record.categories, now
        )
        decision = policy.decide(question, [history], policy.Facts(standard, notices))
        assert decision.allowed is (state is ConsentState.given)
        if recipient.id == loaded.brand_id and record.purpose == "marketing.brand_view":
            bench_view += decision.allowed
            assert recipient.kind is RecipientKind.brand
            assert record.categories == standard.purposes[record.purpose].necessity
    assert set(states) == {"given", "withdrawn"}
    assert 0.3 * PERSONS <= bench_view <= 0.5 * PERSONS


def test_attributes_are_what_the_ingest_keeps_and_merge_as_the_gateway_merges(
    loaded: Loaded, db: Engine, standard: DataStandard
) -> None:
    with Session(db) as session:
        now = session.execute(text("SELECT now()")).scalar_one()
        rows = session.execute(
            text(
                "SELECT person_id, category, platform_id, value, num, observed_at, expires_at"
                " FROM attribute"
            )
        ).all()
        persons = sorted({str(r.person_id) for r in rows})
        kept = views_store.retention(session, persons, now)
        categories = sorted({str(r.category) for r in rows})
        merged = views_store.merged(standard, session, persons, categories)
        stored = {
            tuple(r)
            for r in session.execute(
                text("SELECT category, person_id, item, num, text FROM merged_attribute")
            )
        }
        names = views_store.client_ids(session, merged)
        docs = {
            (str(p), str(c)): str(d)
            for p, c, d in session.execute(text("SELECT person_id, category, doc FROM view_value"))
        }
    validators: dict[str, Draft202012Validator] = {}
    for row in rows:
        category = standard.categories[row.category]
        days = kept[row.person_id].get(row.category)
        assert days is not None, "kept without a brand consent that needs it"
        assert row.expires_at == row.observed_at + timedelta(days=days)
        assert row.observed_at <= now < row.expires_at
        validator = validators.setdefault(
            row.category,
            Draft202012Validator(value_schema(category), format_checker=FormatChecker()),
        )
        validator.validate(row.value)
        assert row.num == merge.numeric(category, row.value)
    expected = {
        (key, person, r.item, r.num, r.text)
        for person, values in merged.items()
        for key, value in values.items()
        for r in merge.rows_of(standard.categories[key], value)
    }
    assert stored == expected
    served = {
        (person, key): document.dumps(document.fragment(standard.categories[key], value, names))
        for person, values in merged.items()
        for key, value in values.items()
    }
    assert docs == served
    multi = sum(len(m.sources) > 1 for values in merged.values() for m in values.values())
    assert multi > 0  # some values do come from several platforms


def test_a_complete_load_is_reused_with_working_credentials(
    loaded: Loaded, db: Engine, tmp_path: Path
) -> None:
    said: list[str] = []
    name = str(make_url(loaded.database_url).database)
    again = ensure(PERSONS, SEED, name, credentials=tmp_path / "c.json", say=said.append)
    assert said and "reused" in said[0]
    assert again.brand_id == loaded.brand_id
    hasher = SecretHasher(bench_settings(loaded.database_url).hash_key.get_secret_value().encode())
    stored = _scalar(db, "SELECT client_secret_hash FROM member WHERE id = :id", id=again.brand_id)
    assert hasher.verify(again.client_secret, stored)
    name = _scalar(db, "SELECT name FROM member WHERE client_id = :c", c=again.client_id)
    assert name == MEMBERS[BENCH].name
