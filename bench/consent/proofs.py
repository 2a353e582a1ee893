"""Inclusion and consistency proofs on a 1,000,000-leaf consent log: target p99 <= 2 ms.

Method: the log is built once per backend through the real sequencer (queued leaves
integrated 50,000 at a time, a signed checkpoint each time) and kept for later runs:
SQLite in var/bench/consent-log.db, PostgreSQL in the schema ``accord_bench_log`` of
ACCORD_BENCH_POSTGRES_URL (or ACCORD_TEST_POSTGRES_URL). Then 2,000 inclusion proofs
for random leaves at the full size, and 500 consistency proofs from random older sizes,
are timed through the SQL node store on one pooled connection; each proof is one query.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

import sdk
from bench.measure import HEADER, Targets, percentile, row, sample_us
from consent.ledger import MerkleLog
from gateway import migrate
from gateway.consents import log_store
from gateway.consents.log_models import LogLeaf
from gateway.db import core, make_engine, session_factory, transaction

P99_MS = 2.0  # the target on a 1,000,000-leaf log
LEAVES = 1_000_000
CHUNK = 50_000
SCHEMA = "accord_bench_log"


def _commitment(n: int) -> bytes:
    return hashlib.sha256(n.to_bytes(8, "big")).digest()


def _engines() -> dict[str, Engine]:
    folder = Path("var/bench")
    folder.mkdir(parents=True, exist_ok=True)
    engines = {"SQLite": make_engine(f"sqlite:///{folder}/consent-log.db")}
    url = os.environ.get("ACCORD_BENCH_POSTGRES_URL") or os.environ.get("ACCORD_TEST_POSTGRES_URL")
    if url:
        with make_engine(url).begin() as connection:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
        engines["PostgreSQL"] = make_engine(
            url, connect_args={"options": f"-csearch_path={SCHEMA}"}
        )
    return engines


def _build(engine: Engine, identity: log_store.LogIdentity) -> float:
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    with Session(engine) as session:
        size = log_store.reader(session).size()
    if size >= LEAVES:
        return 0.0
    started = time.perf_counter()
    for first in range(size, LEAVES, CHUNK):
        with transaction(sessions) as session:
            session.execute(
                insert(core(LogLeaf)),
                [{"commitment": _commitment(n)} for n in range(first, min(first + CHUNK, LEAVES))],
            )
            log_store.integrate(session, identity, limit=CHUNK)
    return time.perf_counter() - started


def main(targets: Targets | None = None) -> None:
    checks = targets if targets is not None else Targets()
    identity = log_store.LogIdentity.for_issuer(
        "https://bench.accord.test", Ed25519PrivateKey.generate()
    )
    rng = random.Random(7)  # noqa: S311 - picks leaves to time, not secrets
    print(f"\n### Consent log proofs, {LEAVES:,} leaves\n")
    print(HEADER)
    for name, engine in _engines().items():
        built = _build(engine, identity)
        if built:
            print(f"| {name}: built the log in {built:.0f} s | | | |")
        with Session(engine) as session:
            log = log_store.reader(session)
            size = log.size()
            root = log.root(size)
            index = rng.randrange(size)
            proof = log.inclusion_proof(index, size)
            if not sdk.verify_inclusion(_commitment(index), index, size, proof, root):
                raise SystemExit("bench setup: a proof does not verify")
            indexes = iter([rng.randrange(size) for _ in range(2_100)])
            olds = iter([rng.randrange(1, size) for _ in range(550)])

            def inclusion(log: MerkleLog = log, size: int = size, at: Any = indexes) -> object:
                return log.inclusion_proof(next(at), size)

            def consistency(log: MerkleLog = log, size: int = size, at: Any = olds) -> object:
                return log.consistency_proof(next(at), size)

            samples = sample_us(inclusion, 2_000, 100)
            print(row(f"{name}: inclusion proof", samples, "ms"))
            print(row(f"{name}: consistency proof", sample_us(consistency, 500, 50), "ms"))
            p99 = percentile(samples, 0.99) / 1000
            checks.at_most(f"{name} inclusion-proof p99", p99, P99_MS, "ms")
        engine.dispose()
    if targets is None:
        checks.finish()


if __name__ == "__main__":
    main()
