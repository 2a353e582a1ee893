"""Bulk loading for the views bench: a PostgreSQL database of its own, and COPY on
parallel connections (what is dropped for the load and built after:
:mod:`bench.views.indexes`).

Each lane is one connection and one transaction. It truncates the tables it fills
(all of a foreign-key closure together) so COPY can write them ``FREEZE``: loaded rows
are visible to everyone, need no hint bits, and mark their pages all-visible for
index-only scans, as if vacuumed. Foreign keys stay declared throughout; during the
load ``session_replication_role = replica`` skips their checks (the data is
consistent by construction, and the tests check it). Primary keys that foreign keys
refer to stay too, and are loaded in key order.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from bench.views.copydata import SIGNATURE, TRAILER
from gateway.db import normalise_url

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    """The PostgreSQL server to use (any database on it): the bench's or the tests'."""
    return normalise_url(
        os.environ.get("ACCORD_BENCH_POSTGRES_URL")
        or os.environ.get("ACCORD_TEST_POSTGRES_URL")
        or DEFAULT_SERVER
    )


def database_url(name: str, server: str | None = None) -> str:
    """The SQLAlchemy URL of database ``name`` on the server."""
    url = make_url(server or server_url()).set(database=name, query={})
    return url.render_as_string(hide_password=False)


def conninfo(url: str) -> str:
    """The URL for psycopg (no SQLAlchemy driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def exists(url: str) -> bool:
    name = make_url(url).database
    with psycopg.connect(conninfo(database_url("postgres", url)), autocommit=True) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return found is not None


def recreate(url: str) -> None:
    """Drop the database if it exists (closing its connections) and create it empty."""
    name = make_url(url).database
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"not a database name for the bench: {name!r}")
    with psycopg.connect(conninfo(database_url("postgres", url)), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def drop(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(conninfo(database_url("postgres", url)), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# A piece of a COPY and its number of rows: text, or rows in the binary format.
Piece = tuple[str | bytes, int]


@dataclass(frozen=True)
class Copy:
    """One table's COPY: its columns and its data, piece by piece, as text or (when
    ``binary``) as rows in COPY's binary format (:class:`bench.views.copydata.Binary`)."""

    table: str
    columns: str
    pieces: Callable[[], Iterable[Piece]]
    binary: bool = False


@dataclass
class Timings:
    """Seconds and rows per table and step, filled in by concurrent lanes."""

    loads: dict[str, tuple[int, float]] = field(default_factory=dict)
    builds: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def loaded(self, table: str, rows: int, seconds: float) -> None:
        with self.lock:
            self.loads[table] = (rows, seconds)

    def built(self, table: str, seconds: float) -> None:
        with self.lock:
            self.builds[table] = self.builds.get(table, 0.0) + seconds


class Stopped(Exception):
    """Another lane failed: this one gives up."""


def lane(
    url: str,
    truncate: Sequence[str],
    copies: Sequence[Copy],
    timings: Timings,
    committed: Callable[[list[str]], None],
) -> Callable[[], None]:
    """One connection's work: truncate, then each COPY (FREEZE where truncated here);
    once committed, ``committed`` is told the tables."""

    def run() -> None:
        with psycopg.connect(conninfo(url)) as connection:
            connection.execute("SET session_replication_role = replica")
            if truncate:
                names = ", ".join(f'"{t}"' for t in truncate)
                connection.execute(f"TRUNCATE {names}")
            with connection.cursor() as cursor:
                for copy in copies:
                    started, rows = time.perf_counter(), 0
                    options = ["FREEZE"] if copy.table in truncate else []
                    if copy.binary:
                        options.append("FORMAT BINARY")
                    with_options = f" WITH ({', '.join(options)})" if options else ""
                    statement = f'COPY "{copy.table}" ({copy.columns}) FROM STDIN{with_options}'
                    with cursor.copy(statement) as stream:
                        if copy.binary:
                            stream.write(SIGNATURE)
                        for data, count in copy.pieces():
                            stream.write(data)
                            rows += count
                        if copy.binary:
                            stream.write(TRAILER)
                    timings.loaded(copy.table, rows, time.perf_counter() - started)
        committed([c.table for c in copies])

    return run


class Feed:
    """Pieces made by one producer for several lanes, each lane with a bounded queue;
    a failure anywhere stops the others instead of leaving them waiting."""

    def __init__(self, lanes: int, stop: threading.Event, depth: int = 3) -> None:
        self.queues: list[queue.Queue[Any]] = [queue.Queue(depth) for _ in range(lanes)]
        self.stop = stop

    def put(self, lane: int, item: Piece) -> None:
        while True:
            if self.stop.is_set():
                raise Stopped
            try:
                self.queues[lane].put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def close(self, error: BaseException | None = None) -> None:
        for q in self.queues:
            while True:
                try:
                    q.put(error or StopIteration(), timeout=0.5)
                    break
                except queue.Full:
                    if self.stop.is_set():
                        break

    def pieces(self, lane: int) -> Iterator[Piece]:
        while True:
            try:
                item = self.queues[lane].get(timeout=0.5)
            except queue.Empty:
                if self.stop.is_set():
                    raise Stopped from None
                continue
            if isinstance(item, StopIteration):
                return
            if isinstance(item, BaseException):
                raise Stopped from item
            yield item


def run_all(work: Sequence[Callable[[], None]], stop: threading.Event) -> None:
    """Run each callable in its own thread; the first failure stops the rest and is
    raised once all have ended."""

    def guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        futures = [pool.submit(guarded, job) for job in work]
        errors = [f.exception() for f in futures]
    real = [e for e in errors if e is not None and not isinstance(e, Stopped)]
    if real:
        raise real[0]
    if any(errors):
        raise RuntimeError("a load lane stopped")
