"""Consent writes with log append: target >= 1,000 writes/s on PostgreSQL.

Method: a fresh database (a new schema on PostgreSQL, a new file on SQLite) migrated to
head, one platform and one notice. Each write is the full write path the API runs for
a consent: a new person and platform account, the record, its ``given`` event with salt
and commitment, the leaf queued for the log, the pairwise subject and the SET queued in
the outbox. Four paths:

- the service, one consent per transaction (``Consents.give``, as ``POST /v1/consents``);
- the service, BATCH consents per transaction (``Consents.give_many``, as ``POST
  /v1/consents/batch``): each consent still checked, salted, committed and announced on
  its own, with one statement per table for the batch;
- the HTTP API on a real server, one consent per request and BATCH per request
  (:mod:`bench.consent.writes_api`).

The service paths run in PROCESSES worker processes (like gateway workers) of THREADS
threads, with the gateway's sequencer integrating queued leaves every 50 ms in the
background, as the app does. Each path writes for DURATION seconds after a warm-up; we
report consents written per second per run and the median of RUNS runs, and check at
the end that every consent is in the log.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import statistics
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlmodel import col

from bench.consent import writes_api
from bench.measure import Targets, all_of, in_threads
from consent.journal import Evidence
from consent.records import Actor, History
from gateway import migrate
from gateway.consents.log_models import LogHead
from gateway.consents.models import ConsentRecordRow
from gateway.consents.service import Ask, Consents, Terms
from gateway.consents.upkeep import sequence_log
from gateway.db import make_engine, transaction
from gateway.members.models import Member, MemberKind
from gateway.members.registration import Contact, MemberSpec, Registration
from gateway.members.registry import Registry
from gateway.runtime import Runtime
from gateway.settings import Environment, Settings

PROCESSES = int(os.environ.get("ACCORD_BENCH_PROCESSES", "4"))
THREADS = int(os.environ.get("ACCORD_BENCH_THREADS", "4"))
DURATION = float(os.environ.get("ACCORD_BENCH_SECONDS", "5"))
BATCH = int(os.environ.get("ACCORD_BENCH_BATCH", "100"))
RUNS = 3
TARGET = 1000.0  # consents/s on PostgreSQL, in the batch paths
TERMS = Terms(
    "personalize.content",
    frozenset({"user.demographic.city_tier", "user.device.type"}),
    "bench-notice",
    1,
)


# The same keys in every process (the workers, the served gateway): fixed for the bench.
SECRETS = {
    name: hashlib.sha256(f"accord-bench-{name}".encode()).hexdigest()
    for name in ("secret_key", "pairwise_key", "hash_key", "operator_token")
}


def _runtime(engine: Engine, folder: Path) -> Runtime:
    settings = Settings.model_validate(
        {
            "env": Environment.test,
            "database_url": str(engine.url),
            "key_dir": folder / "keys",
            **SECRETS,
        }
    )
    return Runtime.build(settings, engine=engine)


def _server_env(database_url: str, folder: Path) -> dict[str, str]:
    return {
        "ACCORD_ENV": Environment.test.value,
        "ACCORD_DATABASE_URL": database_url,
        "ACCORD_KEY_DIR": str(folder / "keys"),
        **{f"ACCORD_{name.upper()}": value for name, value in SECRETS.items()},
    }


def _setup(rt: Runtime) -> Registration:
    migrate.upgrade(rt.engine)
    with transaction(rt.sessions) as session:
        spec = MemberSpec(
            name="Bench Platform",
            contact=Contact(name="DPO", email="dpo@bench.example"),
            redirect_uris=["https://bench.example/cb"],
            login_url="https://bench.example/login",
            purposes=["personalize.content"],
        )
        member = Registry(session, rt.standard, rt.hasher).register(MemberKind.platform, spec)
        Consents(session, rt).notices.publish("bench-notice", "The bench notice.", "en")
    return member


def _write(rt: Runtime, platform_id: str, batch: int) -> int:
    """Write ``batch`` consents in one transaction (one alone through ``give``)."""
    evidence = Evidence(Actor.person, "platform_ui")
    with transaction(rt.sessions) as session:
        consents = Consents(session, rt)
        member = session.get(Member, platform_id)
        assert member is not None
        if batch == 1:
            person = consents.persons.of_account(platform_id, uuid.uuid4().hex, create=True)
            consents.give(person, member, TERMS, evidence)
            return 1
        accounts = [uuid.uuid4().hex for _ in range(batch)]
        persons = consents.persons.of_accounts(platform_id, accounts, create=True)
        asks = [Ask(persons[a], member, TERMS, evidence) for a in accounts]
        return all_of(History, consents.give_many(asks))


def _child(
    url: str,
    options: str | None,
    folder: Path,
    platform_id: str,
    batch: int,
    seconds: float,
    ready: Any,
    go: Any,
    counts: Any,
) -> None:
    connect_args = {"options": options} if options else {}
    engine = make_engine(url, connect_args=connect_args, pool_size=THREADS + 1)
    rt = _runtime(engine, folder)
    for _ in range(THREADS):  # warm: imports, pool connections, statement caches
        _write(rt, platform_id, batch)
    ready.release()
    go.wait()
    counts.put(in_threads([lambda: _write(rt, platform_id, batch)] * THREADS, seconds))
    engine.dispose()


def _count(rt: Runtime) -> int:
    with rt.sessions() as session:
        found = session.execute(select(func.count()).select_from(ConsentRecordRow)).scalar()
        return int(found or 0)


def _run(
    rt: Runtime, options: str | None, folder: Path, platform_id: str, batch: int, seconds: float
) -> float:
    """Consents written per second over the timed window, all workers writing."""
    done = threading.Event()

    def sequencer() -> None:
        while not done.wait(0.05):
            sequence_log(rt)

    context = multiprocessing.get_context("spawn")
    ready, go, counts = context.Semaphore(0), context.Event(), context.Queue()
    url = rt.engine.url.render_as_string(hide_password=False)
    children = [
        context.Process(
            target=_child,
            args=(url, options, folder, platform_id, batch, seconds, ready, go, counts),
        )
        for _ in range(PROCESSES)
    ]
    for child in children:
        child.start()
    for _ in children:
        ready.acquire()
    background = threading.Thread(target=sequencer)
    background.start()
    go.set()
    total = sum(int(counts.get()) for _ in children)
    for child in children:
        child.join()
    done.set()
    background.join()
    return total / seconds


def _row(name: str, how: str, workers: str, rates: list[float]) -> None:
    runs = " / ".join(f"{r:.0f}" for r in rates)
    print(f"| {name} | {how} | {workers} | {runs} | {statistics.median(rates):.0f} |")


def measure(
    name: str, engine: Engine, folder: Path, server_url: str, options: str | None = None
) -> dict[str, list[float]]:
    rt = _runtime(engine, folder)
    platform = _setup(rt)
    assert platform.client_secret is not None
    rt.keys.log_key()  # made once, before the workers start
    rates: dict[str, list[float]] = {}
    workers = f"{PROCESSES} x {THREADS}"
    for batch in (1, BATCH):
        how = "service, 1 per transaction" if batch == 1 else f"service, {batch} per transaction"
        rates[how] = [_run(rt, options, folder, platform.id, batch, DURATION) for _ in range(RUNS)]
        _row(name, how, workers, rates[how])
    server = writes_api.Server(_server_env(server_url, folder))
    try:
        for batch, clients_per_process in ((1, writes_api.SINGLE_THREADS), (BATCH, None)):
            how = f"HTTP API, {batch} per request"
            rates[how] = [
                writes_api.run(
                    server,
                    platform.client_id,
                    platform.client_secret,
                    "bench-notice",
                    batch,
                    DURATION,
                    threads=clients_per_process,
                )
                for _ in range(RUNS)
            ]
            threads = clients_per_process or writes_api.THREADS
            clients = f"{writes_api.CLIENTS} x {threads} clients"
            _row(name, how, f"{clients}, {writes_api.SERVER_WORKERS} server workers", rates[how])
    finally:
        server.close()
    sequence_log(rt)
    with rt.sessions() as session:
        size = session.execute(select(col(LogHead.size))).scalar()
    records = _count(rt)
    if records != size:
        raise SystemExit(f"{name}: {records} consents but {size} leaves in the log")
    print(f"| {name} | all {records} consents are in the log | | | |")
    return rates


def main(targets: Targets | None = None) -> None:
    checks = targets if targets is not None else Targets()
    print(f"\nconsent writes with log append ({RUNS} runs of {DURATION:.0f} s)")
    print("| backend | path | writers | consents/s per run | median |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = os.environ.get("ACCORD_BENCH_POSTGRES_URL") or os.environ.get(
            "ACCORD_TEST_POSTGRES_URL"
        )
        if url:
            schema = "accord_bench_writes"
            admin = make_engine(url)
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            options = f"-csearch_path={schema}"
            engine = make_engine(url, connect_args={"options": options})
            served = f"{url}?options={quote(options)}"
            rates = measure("PostgreSQL", engine, folder, served, options)
            for how in (f"service, {BATCH} per transaction", f"HTTP API, {BATCH} per request"):
                median = statistics.median(rates[how])
                checks.at_least(f"PostgreSQL writes ({how})", median, TARGET, "consents/s")
            engine.dispose()
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        else:
            print("no PostgreSQL (ACCORD_TEST_POSTGRES_URL): the target is not checked")
        engine = make_engine(f"sqlite:///{folder}/writes.db")
        measure("SQLite", engine, folder, f"sqlite:///{folder}/writes.db")
        engine.dispose()
    if targets is None:
        checks.finish()


if __name__ == "__main__":
    main()
