"""What the views bench's load drops and builds again: the primary keys, unique
constraints and indexes no foreign key depends on (dropped before the load, built
after it from the migrations' own definitions, read from the catalog), the foreign
keys that would keep a lane from truncating its tables, and the :class:`Builder` that
runs those builds, the keys and VACUUM (ANALYZE) as soon as their tables are loaded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg

from bench.views.loading import Stopped, Timings, conninfo

MAINTENANCE_MEMORY = "3GB"  # per builder connection: the largest sorts stay in memory


@dataclass(frozen=True)
class Index:
    """A primary key, unique constraint or index of a loaded table, as the migrations
    made it, to drop before the load and build again after."""

    table: str
    name: str
    constraint: bool
    definition: str

    def drop_sql(self) -> str:
        if self.constraint:
            return f'ALTER TABLE "{self.table}" DROP CONSTRAINT "{self.name}"'
        return f'DROP INDEX "{self.name}"'

    def create_sql(self) -> str:
        if self.constraint:
            return f'ALTER TABLE "{self.table}" ADD CONSTRAINT "{self.name}" {self.definition}'
        return self.definition


_CONSTRAINTS = """
SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
WHERE c.conrelid = %s::regclass AND c.contype IN ('p', 'u')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid)
ORDER BY c.conname
"""
_INDEXES = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
WHERE i.indrelid = %s::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid
                  AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))
ORDER BY 1
"""


def droppable(url: str, tables: Sequence[str]) -> list[Index]:
    """Every index of ``tables`` that no foreign key depends on."""
    found: list[Index] = []
    with psycopg.connect(conninfo(url)) as connection:
        for table in tables:
            for name, definition in connection.execute(_CONSTRAINTS, (table,)):
                found.append(Index(table, name, True, definition))
            for name, definition in connection.execute(_INDEXES, (table,)):
                found.append(Index(table, name, False, definition))
    return found


def drop_indexes(url: str, indexes: Sequence[Index]) -> None:
    with psycopg.connect(conninfo(url)) as connection:
        for index in indexes:
            connection.execute(index.drop_sql())


@dataclass(frozen=True)
class Job:
    """A statement to run once ``tables`` are loaded and the jobs ``after`` are done."""

    name: str
    table: str  # whose timings it counts in
    sql: str
    tables: frozenset[str]
    after: frozenset[str] = frozenset()
    cost: float = 0.0  # the costliest runnable job goes first


class Builder:
    """Runs jobs (index builds, foreign keys, VACUUM) on its own connections while the
    lanes still load: each table's jobs start once the lane that loads it commits."""

    def __init__(self, url: str, jobs: Sequence[Job], timings: Timings, workers: int = 2) -> None:
        self.url, self.timings = url, timings
        self.waiting = list(jobs)
        self.loaded: set[str] = set()
        self.done: set[str] = set()
        self.failed: BaseException | None = None
        self.ready = threading.Condition()
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]
        for thread in self.threads:
            thread.start()

    def mark_loaded(self, tables: Iterable[str]) -> None:
        with self.ready:
            self.loaded.update(tables)
            self.ready.notify_all()

    def finish(self) -> None:
        """Wait for every job (their tables must all be marked loaded by then)."""
        for thread in self.threads:
            thread.join()
        if self.failed is not None:
            raise self.failed

    def abandon(self) -> None:
        """A lane failed: stop once the jobs running now end."""
        with self.ready:
            self.failed = self.failed or Stopped()
            self.ready.notify_all()
        for thread in self.threads:
            thread.join()

    def _next(self) -> Job | None:
        with self.ready:
            while self.failed is None and self.waiting:
                runnable = [
                    j for j in self.waiting if j.tables <= self.loaded and j.after <= self.done
                ]
                if runnable:
                    job = max(runnable, key=lambda j: j.cost)
                    self.waiting.remove(job)
                    return job
                self.ready.wait(0.5)
        return None

    def _work(self) -> None:
        try:
            with psycopg.connect(conninfo(self.url), autocommit=True) as connection:
                connection.execute(f"SET maintenance_work_mem = '{MAINTENANCE_MEMORY}'")
                # the cores are busy with the other builder and the loads already
                connection.execute("SET max_parallel_maintenance_workers = 0")
                while (job := self._next()) is not None:
                    started = time.perf_counter()
                    connection.execute(job.sql)
                    self.timings.built(job.table, time.perf_counter() - started)
                    with self.ready:
                        self.done.add(job.name)
                        self.ready.notify_all()
        except BaseException as failed:
            with self.ready:
                self.failed = self.failed or failed
                self.ready.notify_all()


@dataclass(frozen=True)
class ForeignKey:
    table: str
    name: str
    definition: str
    referenced: str

    def drop_sql(self) -> str:
        return f'ALTER TABLE "{self.table}" DROP CONSTRAINT "{self.name}"'

    def create_sql(self) -> str:
        return f'ALTER TABLE "{self.table}" ADD CONSTRAINT "{self.name}" {self.definition}'


def blocking_keys(url: str, groups: Sequence[Sequence[str]]) -> list[ForeignKey]:
    """Foreign keys that would keep a group of tables from being truncated on its own:
    from a table outside the group to one inside it."""
    found: list[ForeignKey] = []
    with psycopg.connect(conninfo(url)) as connection:
        rows = connection.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid),"
            " confrelid::regclass::text FROM pg_constraint WHERE contype = 'f'"
        ).fetchall()
    for table, name, definition, referenced in rows:
        for group in groups:
            if referenced in group and table not in group:
                found.append(ForeignKey(table, name, definition, referenced))
    return found


def drop_keys(url: str, keys: Sequence[ForeignKey]) -> None:
    with psycopg.connect(conninfo(url)) as connection:
        for key in keys:
            connection.execute(key.drop_sql())
