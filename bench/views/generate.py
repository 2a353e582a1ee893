"""Seeded data for ``bench/views`` on PostgreSQL: 1,000,000 persons, 2,500,000 platform
accounts, 20,000,000 attribute values and 5,000,000 consent events (target: generated
in at most 10 minutes).

Usage::

    python -m bench.views.generate [--persons N] [--seed S] [--database NAME] [--force]

(defaults from ACCORD_BENCH_VIEWS_PERSONS, ACCORD_BENCH_VIEWS_SEED and
ACCORD_BENCH_VIEWS_DATABASE: 1,000,000, 20261125 and ``accord_bench_views`` on the
server of ACCORD_BENCH_POSTGRES_URL or ACCORD_TEST_POSTGRES_URL).

Method: a database of its own, created empty and migrated to head by the project's
migrations. The members (8 platforms, 20 brands) are registered by the real registry,
which shows the bench brand's client secret once: it is written to
``var/bench/views-credentials.json`` for the harness (``client_secret_basic``). Each
member publishes a privacy notice (version 1, the one its consents cite), and the bench
brand gets a monthly ε budget of 1,000. The population is planned in memory from the
seed (:mod:`bench.views.population`: persons, accounts, consents;
:mod:`bench.views.tables`: their rows; :mod:`bench.views.attributes`: the values
platforms pushed, merged rows and view entries), then COPYed in on six connections
at once while the indexes, the foreign keys dropped for the load and VACUUM (ANALYZE)
follow each table as it is in (:mod:`bench.views.schedule`). Pairwise subjects and the
client secret's hash use the development settings' keys, which the harness's server
runs with (``ACCORD_ENV=development``). Timings per table and step are printed.

A complete load is marked in the table ``bench_views_load`` (generator version, seed,
persons, the migrations' head): the next run with the same ones reuses it; anything
else (a newer migration included: it may add what views read) generates again, as
does ``--force``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.views import loading, schedule
from bench.views.attributes import (
    Values,
)
from bench.views.copydata import Clock, uuid_texts
from bench.views.loading import Timings
from bench.views.population import BENCH, MEMBERS, PURPOSES, Sizes, asked, populate
from bench.views.tables import Alliance, Consents
from consent.budget import Cap, Period
from consent.taxonomy import DataStandard, load_standard
from gateway import migrate
from gateway.budget.store import SqlBudgetStore
from gateway.consents import category_sets
from gateway.consents.notices import Notices
from gateway.db import make_engine, session_factory, transaction
from gateway.members.models import MemberKind
from gateway.members.registration import Contact, MemberSpec
from gateway.members.registry import Registry
from gateway.secret_hash import SecretHasher, new_secret
from gateway.settings import Environment, Settings

GENERATOR = 6  # bump when the data changes: older loads are then generated again
MARKER = "bench_views_load"  # the table that marks a complete load
DATABASE = "accord_bench_views"
SEED = 20261125
PERSONS = 1_000_000
CREDENTIALS = Path("var/bench/views-credentials.json")
BUDGET_EPSILON = 1_000.0  # per month: room for many runs of 0.1 per sandbox query


@dataclass(frozen=True)
class Loaded:
    """A complete load, and how the harness authenticates as the bench brand."""

    database_url: str
    persons: int
    seed: int
    brand_id: str
    sector: str
    client_id: str
    client_secret: str


def bench_settings(url: str) -> Settings:
    """The settings the harness's server runs with: development keys on this database."""
    return Settings.model_validate({"env": Environment.development, "database_url": url})


def ensure(
    persons: int = PERSONS,
    seed: int = SEED,
    database: str = DATABASE,
    *,
    force: bool = False,
    credentials: Path = CREDENTIALS,
    say: Callable[[str], None] = print,
) -> Loaded:
    """The load for these sizes and seed: reused when complete, else generated."""
    url = loading.database_url(database)
    wanted = (GENERATOR, seed, persons, _head())
    if not force and loading.exists(url) and _marker(url) == wanted:
        say(f"{database}: complete load of {persons:,} persons (seed {seed}) reused")
        return _credentials(url, credentials)
    return generate(Sizes(persons), seed, url, credentials=credentials, say=say)


def generate(
    sizes: Sizes,
    seed: int,
    url: str,
    *,
    credentials: Path = CREDENTIALS,
    say: Callable[[str], None] = print,
) -> Loaded:
    started = time.perf_counter()
    steps: dict[str, float] = {}
    now = datetime.now(UTC).replace(microsecond=0)
    loading.recreate(url)
    engine = make_engine(url)
    migrate.upgrade(engine)
    standard = load_standard()
    settings = bench_settings(url)
    alliance, secret = _register(engine, standard, settings)
    engine.dispose()
    loaded = Loaded(
        url,
        sizes.persons,
        seed,
        alliance.ids[BENCH],
        alliance.sectors[BENCH],
        secret[0],
        secret[1],
    )
    _write(credentials, loaded)
    steps["database, migrations, members"] = time.perf_counter() - started

    mark = time.perf_counter()
    clock = Clock(now)
    pop = populate(sizes, seed, now)
    person_ids = uuid_texts(pop.person_uuid)
    plan = schedule.Plan(
        url,
        pop,
        person_ids,
        alliance,
        settings.pairwise_key.get_secret_value().encode(),
        Consents(pop, person_ids, alliance, standard, clock),
        Values(pop, standard, alliance.ids, alliance.client_ids, clock),
        clock,
    )
    steps["plan in memory"] = time.perf_counter() - mark
    mark = time.perf_counter()
    timings = Timings()
    schedule.load(plan, timings)
    steps["COPY on 6 connections; indexes, keys, VACUUM (ANALYZE) as tables are in"] = (
        time.perf_counter() - mark
    )
    _mark(url, seed, sizes.persons, now)
    _report(say, url, timings, steps, time.perf_counter() - started)
    return loaded


def _register(
    engine: Engine, standard: DataStandard, settings: Settings
) -> tuple[Alliance, tuple[str, str]]:
    """Members through the registry, a notice each, the bench brand's budget."""
    hasher = SecretHasher(settings.hash_key.get_secret_value().encode())
    ids, client_ids, sectors, contacts, heads = [], [], [], [], []
    secret: tuple[str, str] = ("", "")
    with transaction(session_factory(engine)) as session:
        registry, notices = Registry(session, standard, hasher), Notices(session)
        for n, fixture in enumerate(MEMBERS):
            platform = fixture.kind is MemberKind.platform
            spec = MemberSpec(
                name=fixture.name,
                contact=Contact(
                    name=f"{fixture.name} data protection officer",
                    email=f"dpo@{fixture.host}",
                    phone="+86 21 5555 0100",
                ),
                redirect_uris=[f"https://{fixture.host}/cb"],
                login_url=f"https://{fixture.host}/accord/login" if platform else None,
                purposes=list(fixture.purposes),
            )
            member = registry.register(fixture.kind, spec)
            ids.append(member.id)
            client_ids.append(member.client_id)
            sectors.append(member.sector)
            contacts.append(member.contact.email or "")
            notice = notices.publish(
                f"{fixture.slug}-privacy",
                f"{fixture.name} privacy notice, version one: what we collect, why, "
                "who receives it, how long we keep it, and how to withdraw.",
                "zh-CN",
            )
            heads.append(notices.head(notice.notice_id))
            if n == BENCH:
                secret = (member.client_id, member.client_secret or "")
        category_sets.ensure(  # the sets the records cite (loaded without their keys)
            session,
            [asked(standard, p, fixture.kind) for fixture in MEMBERS for p in PURPOSES],
        )
        SqlBudgetStore(session).set_cap(
            Cap(f"brand:{ids[BENCH]}", Period.month, BUDGET_EPSILON, 0.0)
        )
    found = [h for h in heads if h is not None]
    return Alliance(ids, client_ids, sectors, contacts, found, settings.issuer), secret


def _head() -> str:
    return ",".join(sorted(migrate.heads()))


def _marker(url: str) -> tuple[object, ...] | None:
    """What the database's complete load was made with, if it has one."""
    with psycopg.connect(loading.conninfo(url)) as connection:
        found = connection.execute("SELECT to_regclass(%s)", (MARKER,)).fetchone()
        if found is None or found[0] is None:
            return None
        row = connection.execute("SELECT to_jsonb(b) FROM bench_views_load b").fetchone()
    if row is None:
        return None
    made = row[0]  # an older generator's marker may lack a column: then it differs
    return (made.get("version"), made.get("seed"), made.get("persons"), made.get("revision"))


def _mark(url: str, seed: int, persons: int, now: datetime) -> None:
    with psycopg.connect(loading.conninfo(url)) as connection:
        connection.execute(
            "CREATE TABLE bench_views_load (version integer NOT NULL, seed bigint NOT NULL,"
            " persons bigint NOT NULL, revision text NOT NULL,"
            " generated_at timestamptz NOT NULL)"
        )
        connection.execute(
            "INSERT INTO bench_views_load VALUES (%s, %s, %s, %s, %s)",
            (GENERATOR, seed, persons, _head(), now),
        )


def _write(path: Path, loaded: Loaded) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(loaded), indent=2) + "\n")
    path.chmod(0o600)  # it holds the bench brand's client secret


def _credentials(url: str, path: Path) -> Loaded:
    """The saved credentials of this load; if they are not this load's (the file is
    missing or names another database), a new secret for the bench brand."""
    if path.exists():
        saved = Loaded(**json.loads(path.read_text()))
        if saved.database_url == url and _brand_of(url, saved.client_id) == saved.brand_id:
            return saved
    engine = make_engine(url)
    hasher = SecretHasher(bench_settings(url).hash_key.get_secret_value().encode())
    secret = new_secret()
    with engine.begin() as connection:
        brand, sector, client_id, persons, seed = connection.execute(
            text(
                "SELECT m.id, m.sector, m.client_id, b.persons, b.seed"
                " FROM member m, bench_views_load b WHERE m.name = :name"
            ),
            {"name": MEMBERS[BENCH].name},
        ).one()
        connection.execute(
            text("UPDATE member SET client_secret_hash = :hash WHERE id = :id"),
            {"hash": hasher.hash(secret), "id": brand},
        )
    engine.dispose()
    loaded = Loaded(url, int(persons), int(seed), brand, sector, client_id, secret)
    _write(path, loaded)
    return loaded


def _brand_of(url: str, client_id: str) -> str | None:
    with psycopg.connect(loading.conninfo(url)) as connection:
        row = connection.execute("SELECT id FROM member WHERE client_id = %s", (client_id,))
        found = row.fetchone()
    return str(found[0]) if found else None


def _report(
    say: Callable[[str], None], url: str, timings: Timings, steps: dict[str, float], total: float
) -> None:
    with psycopg.connect(loading.conninfo(url)) as connection:
        row = connection.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()
    size = row[0] if row else "?"
    say("\n| table | rows | COPY s (concurrent) | rows/s | indexes + vacuum s |")
    say("| --- | --- | --- | --- | --- |")
    for table in schedule.TABLES:
        rows, seconds = timings.loads.get(table, (0, 0.0))
        rate = rows / seconds if seconds else 0.0
        built = timings.builds.get(table, 0.0)
        say(f"| {table} | {rows:,} | {seconds:.1f} | {rate:,.0f} | {built:.1f} |")
    say("\n| step | s |\n| --- | --- |")
    for step, seconds in steps.items():
        say(f"| {step} | {seconds:.1f} |")
    say(f"| **total** | **{total:.1f}** |")
    say(f"\ndatabase size: {size}")


def configured() -> tuple[int, int, str]:
    """Persons, seed and database name from the environment, else the defaults."""
    env = os.environ.get
    return (
        int(env("ACCORD_BENCH_VIEWS_PERSONS", PERSONS)),
        int(env("ACCORD_BENCH_VIEWS_SEED", SEED)),
        env("ACCORD_BENCH_VIEWS_DATABASE", DATABASE),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.views.generate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    persons, seed, database = configured()
    parser.add_argument("--persons", type=int, default=persons)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--database", default=database)
    parser.add_argument("--credentials", type=Path, default=CREDENTIALS)
    parser.add_argument("--force", action="store_true", help="generate even if loaded")
    args = parser.parse_args()
    ensure(args.persons, args.seed, args.database, force=args.force, credentials=args.credentials)


if __name__ == "__main__":
    main()
