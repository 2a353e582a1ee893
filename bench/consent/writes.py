"""Consent writes with log append: target >= 1,000 writes/s on PostgreSQL.

Method: a fresh database (a new schema on PostgreSQL, a new file on SQLite) migrated to
head, one platform and one notice. Each write is the full write path the API runs
(``Consents.give``) in its own transaction: a new person and platform account, the
record, its ``given`` event with salt and commitment, the leaf queued for the log, the
pairwise subject and the SET queued in the outbox. The gateway's sequencer (as the app
runs it in the background) integrates queued leaves every 50 ms and signs a checkpoint
per batch. PROCESSES worker processes (like gateway workers) of THREADS threads each
write for DURATION seconds after a warm-up; we report writes/s per run, the median of
RUNS runs, and check at the end that every write is in the log.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlmodel import col

from consent.journal import Evidence
from consent.records import Actor
from gateway import migrate
from gateway.consents.log_models import LogHead
from gateway.consents.models import ConsentRecordRow
from gateway.consents.service import Consents, Terms
from gateway.consents.upkeep import sequence_log
from gateway.db import make_engine, transaction
from gateway.members.models import Member, MemberKind
from gateway.members.registration import Contact, MemberSpec
from gateway.members.registry import Registry
from gateway.runtime import Runtime
from gateway.settings import Environment, Settings

PROCESSES = int(os.environ.get("ACCORD_BENCH_PROCESSES", "4"))
THREADS = int(os.environ.get("ACCORD_BENCH_THREADS", "4"))
DURATION = float(os.environ.get("ACCORD_BENCH_SECONDS", "5"))
RUNS = 3
TERMS = Terms(
    "personalize.content",
    frozenset({"user.demographic.city_tier", "user.device.type"}),
    "bench-notice",
    1,
)


def _runtime(engine: Engine, folder: Path) -> Runtime:
    settings = Settings.model_validate(
        {
            "env": Environment.test,
            "database_url": str(engine.url),
            "key_dir": folder / "keys",
            **{k: uuid.uuid4().hex * 2 for k in ("secret_key", "pairwise_key", "hash_key")},
            "operator_token": uuid.uuid4().hex * 2,
        }
    )
    return Runtime.build(settings, engine=engine)


def _setup(rt: Runtime) -> str:
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
    return member.id


def _write(rt: Runtime, platform_id: str) -> None:
    with transaction(rt.sessions) as session:
        consents = Consents(session, rt)
        member = session.get(Member, platform_id)
        assert member is not None
        person = consents.persons.of_account(platform_id, uuid.uuid4().hex, create=True)
        consents.give(person, member, TERMS, Evidence(Actor.person, "platform_ui"))
    sequence_log(rt)


def _child(
    url: str,
    options: str | None,
    folder: Path,
    platform_id: str,
    seconds: float,
    ready: Any,
    go: Any,
    counts: Any,
) -> None:
    connect_args = {"options": options} if options else {}
    engine = make_engine(url, connect_args=connect_args, pool_size=THREADS + 1)
    rt = _runtime(engine, folder)
    for _ in range(THREADS):  # warm: imports, pool connections, statement caches
        _write(rt, platform_id)
    ready.release()
    go.wait()
    stop = time.perf_counter() + seconds
    done = [0] * THREADS

    def worker(n: int) -> None:
        while time.perf_counter() < stop:
            _write(rt, platform_id)
            done[n] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts.put(sum(done))
    engine.dispose()


def _count(rt: Runtime) -> int:
    with rt.sessions() as session:
        found = session.execute(select(func.count()).select_from(ConsentRecordRow)).scalar()
        return int(found or 0)


def _run(rt: Runtime, options: str | None, folder: Path, platform_id: str, seconds: float) -> float:
    """Writes per second over the timed window, all workers writing."""
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
            args=(url, options, folder, platform_id, seconds, ready, go, counts),
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


def measure(name: str, engine: Engine, folder: Path, options: str | None = None) -> list[float]:
    rt = _runtime(engine, folder)
    platform_id = _setup(rt)
    rt.keys.log_key()  # made once, before the workers start
    rates = [_run(rt, options, folder, platform_id, DURATION) for _ in range(RUNS)]
    sequence_log(rt)
    with rt.sessions() as session:
        size = session.execute(select(col(LogHead.size))).scalar()
    records = _count(rt)
    if records != size:
        raise SystemExit(f"{name}: {records} writes but {size} leaves in the log")
    print(
        f"| {name} | {PROCESSES} x {THREADS} | {' / '.join(f'{r:.0f}' for r in rates)} | "
        f"{statistics.median(rates):.0f} | {records} |"
    )
    return rates


def main() -> None:
    print(f"\nconsent writes with log append ({RUNS} runs of {DURATION:.0f} s)")
    print("| backend | processes x threads | writes/s per run | median writes/s | records |")
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
            measure("PostgreSQL", engine, folder, options)
            engine.dispose()
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        engine = make_engine(f"sqlite:///{folder}/writes.db")
        measure("SQLite", engine, folder)
        engine.dispose()


if __name__ == "__main__":
    main()
