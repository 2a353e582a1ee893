"""How the views bench loads its plan: which connection COPYs what, who draws the
attribute chunks, and what runs once each table is in.

Six lanes COPY at once, each in one transaction on its own connection (records; the log
and the events; persons, pairwise subjects and accounts; attributes; view entries;
merged rows). Attribute chunks are drawn by two forked worker processes, a few ahead of
the COPY; merged rows wait for the last chunk, since their primary key orders them by
category first. As each lane commits, the builder starts its tables' index builds,
the foreign keys dropped for the load, and VACUUM (ANALYZE).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.pool
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as Pending
from contextlib import nullcontext
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult
from typing import TypeVar

from bench.views import loading
from bench.views.attributes import (
    ATTRIBUTE_COLUMNS,
    MERGED_COLUMNS,
    VIEW_COLUMNS,
    Chunk,
    Values,
)
from bench.views.copydata import Clock
from bench.views.indexes import (
    Builder,
    ForeignKey,
    Index,
    Job,
    blocking_keys,
    drop_indexes,
    drop_keys,
    droppable,
)
from bench.views.loading import Copy, Feed, Stopped, Timings
from bench.views.merging import Merged
from bench.views.population import Population, Sizes
from bench.views.tables import Alliance, Consents, Subjects, accounts, persons

T = TypeVar("T")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt(3) parameters
PERSONS_PER_CHUNK = 5_000  # attribute rows are drawn this many persons at a time
WORKERS = 2  # processes drawing them (one per core)
FORK_FROM = 100_000  # persons: below, chunks are drawn in this process
AHEAD = 4  # chunks drawn ahead of the COPY
TABLES = (
    "person",
    "platform_account",
    "pairwise_subject",
    "consent_record",
    "log_leaf",
    "consent_event",
    "attribute",
    "view_value",
    "merged_attribute",
)
# The tables each lane truncates (a foreign-key closure, so it may COPY them FREEZE),
# and the tables it loads, in order.
LANES = (
    (("consent_record",), ("consent_record",)),
    (("consent_event", "log_leaf"), ("log_leaf", "consent_event")),
    (
        ("platform_account", "account_identifier", "pairwise_subject"),
        ("person", "pairwise_subject", "platform_account"),
    ),
    (("attribute",), ("attribute",)),
    (("view_value",), ("view_value",)),
    (("merged_attribute",), ("merged_attribute",)),
)


@dataclass(frozen=True)
class Plan:
    """Everything the lanes write, ready in memory."""

    url: str
    pop: Population
    person_ids: list[str]
    alliance: Alliance
    pairwise_key: bytes
    consents: Consents
    values: Values
    clock: Clock


def load(plan: Plan, timings: Timings) -> None:
    """Drop what the load must not maintain, COPY everything, build it all again."""
    _keep_freed_memory()
    indexes = droppable(plan.url, TABLES)
    keys = blocking_keys(plan.url, [group for group, _ in LANES])
    drop_keys(plan.url, keys)
    drop_indexes(plan.url, indexes)
    # Fork the workers before any thread starts: they inherit the plan, and no locks.
    # A small load draws its chunks in this process.
    forks = WORKERS if plan.pop.sizes.persons >= FORK_FROM else 0
    context = multiprocessing.get_context("fork")
    with context.Pool(forks, _adopt, (plan.values,)) if forks else nullcontext() as workers:
        builder = Builder(plan.url, jobs(indexes, keys, plan.pop.sizes), timings)
        try:
            _Lanes(plan, timings, builder, workers).run()
        except BaseException:
            builder.abandon()
            raise
    builder.finish()


def _keep_freed_memory() -> None:
    """Have glibc keep freed memory for the next chunk instead of returning it to the
    system: page faults on fresh memory cost more than drawing the values here (the
    forked workers inherit the setting). Elsewhere than glibc, nothing changes."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 512 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 2 << 30)
    except (OSError, AttributeError):
        pass


def jobs(indexes: list[Index], keys: list[ForeignKey], sizes: Sizes) -> list[Job]:
    """Each index once its table is loaded; the foreign keys dropped for the load once
    both of their tables have their indexes; then VACUUM (ANALYZE) of each table."""
    rows = _expected_rows(sizes)
    found = [
        Job(
            i.name,
            i.table,
            i.create_sql(),
            frozenset({i.table}),
            # a primary key is loaded in its order: its sort is the cheaper
            cost=rows[i.table] * (0.5 if "PRIMARY KEY" in i.definition else 1.0),
        )
        for i in indexes
    ]
    of_table: dict[str, set[str]] = {t: set() for t in TABLES}
    for i in indexes:
        of_table[i.table].add(i.name)
    for k in keys:
        both = of_table[k.table] | of_table[k.referenced]
        found.append(
            Job(
                k.name,
                k.table,
                k.create_sql(),
                frozenset({k.table, k.referenced}),
                frozenset(both),
                cost=rows[k.table],
            )
        )
        of_table[k.table].add(k.name)
        of_table[k.referenced].add(k.name)
    found.append(
        Job(
            "log_leaf sequence",
            "log_leaf",
            "SELECT setval(pg_get_serial_sequence('log_leaf', 'id'),"
            " (SELECT coalesce(max(id), 0) + 1 FROM log_leaf), false)",
            frozenset({"log_leaf"}),
            cost=rows["log_leaf"],
        )
    )
    found += [
        Job(
            f"vacuum {table}",
            table,
            f'VACUUM (ANALYZE) "{table}"',
            frozenset({table}),
            frozenset(of_table[table]),
            cost=-1.0,  # statistics last: the builds go first
        )
        for table in TABLES
    ]
    return found


def _expected_rows(sizes: Sizes) -> dict[str, float]:
    n = sizes.persons
    return {
        "person": n,
        "platform_account": sizes.accounts,
        "pairwise_subject": 3.0 * n,
        "consent_record": 4.6 * n,
        "log_leaf": sizes.events,
        "consent_event": sizes.events,
        "attribute": sizes.attributes,
        "view_value": 0.8 * sizes.attributes,
        "merged_attribute": 1.1 * sizes.attributes,
    }


_DRAWN: list[Values] = []  # in a worker process: what it draws chunks from


def _adopt(values: Values) -> None:
    """A worker's start: ``values`` came with the fork, nothing was pickled."""
    _DRAWN[:] = [values]


def _chunk(bounds: tuple[int, int, int]) -> Chunk:
    """One chunk of attribute rows, in a worker process."""
    return _DRAWN[0].chunk(*bounds)


class _Lanes:
    """The load lanes and the chunk producer, and what passes between them."""

    def __init__(
        self,
        plan: Plan,
        timings: Timings,
        builder: Builder,
        workers: multiprocessing.pool.Pool | None,
    ) -> None:
        self.plan, self.timings, self.builder, self.workers = plan, timings, builder, workers
        self.stop = threading.Event()
        self.subjects: Future[Subjects] = Future()
        self.merged: Future[Merged] = Future()
        self.feed = Feed(2, self.stop)

    def run(self) -> None:
        plan, consents = self.plan, self.plan.consents
        pop, ids, clock = plan.pop, plan.person_ids, plan.clock
        copies = {
            "consent_record": Copy("consent_record", Consents.RECORD_COLUMNS, consents.records),
            "log_leaf": Copy("log_leaf", Consents.LEAF_COLUMNS, consents.leaves, binary=True),
            "consent_event": Copy(
                "consent_event",
                Consents.EVENT_COLUMNS,
                lambda: consents.events(lambda: self.wait(self.subjects)),
                binary=True,
            ),
            "person": Copy(
                "person", "id, minor_under_14, created_at", lambda: persons(pop, ids, clock)
            ),
            "pairwise_subject": Copy("pairwise_subject", "sector, sub, person_id", self._subjects),
            "platform_account": Copy(
                "platform_account",
                "platform_id, account_id, person_id, linked_at",
                lambda: accounts(pop, ids, plan.alliance, clock),
            ),
            "attribute": Copy(
                "attribute", ATTRIBUTE_COLUMNS, lambda: self.feed.pieces(0), binary=True
            ),
            "view_value": Copy(
                "view_value", VIEW_COLUMNS, lambda: self.feed.pieces(1), binary=True
            ),
            "merged_attribute": Copy(
                "merged_attribute",
                MERGED_COLUMNS,
                lambda: plan.values.merged_pieces(self.wait(self.merged)),
                binary=True,
            ),
        }
        lanes = [
            loading.lane(plan.url, truncate, [copies[t] for t in tables], self.timings, self.loaded)
            for truncate, tables in LANES
        ]
        loading.run_all([self._produce, *lanes], self.stop)

    def loaded(self, tables: list[str]) -> None:
        self.builder.mark_loaded(tables)

    def wait(self, future: Future[T] | AsyncResult[T]) -> T:
        """What another thread or process makes, unless a lane failed meanwhile."""
        while True:
            if self.stop.is_set():
                raise Stopped
            if isinstance(future, Future):
                try:
                    return future.result(timeout=0.5)
                except Pending:
                    continue
            future.wait(0.5)
            if future.ready():
                return future.get()

    def _subjects(self) -> Iterator[loading.Piece]:
        plan = self.plan
        try:
            subjects = Subjects(plan.pop, plan.person_ids, plan.alliance, plan.pairwise_key)
        except BaseException as failed:
            self.subjects.set_exception(failed)
            raise
        self.subjects.set_result(subjects)
        yield from subjects.rows()

    def _chunks(self) -> Iterator[Chunk]:
        """The attribute chunks in order, drawn at most AHEAD in advance."""
        persons = self.plan.pop.sizes.persons
        bounds = (
            (number, first, min(first + PERSONS_PER_CHUNK, persons))
            for number, first in enumerate(range(0, persons, PERSONS_PER_CHUNK))
        )
        if self.workers is None:
            yield from (self.plan.values.chunk(*b) for b in bounds)
            return
        pending: deque[AsyncResult[Chunk]] = deque()
        while True:
            while len(pending) < AHEAD and (task := next(bounds, None)) is not None:
                pending.append(self.workers.apply_async(_chunk, (task,)))
            if not pending:
                return
            yield self.wait(pending.popleft())

    def _produce(self) -> None:
        error: BaseException | None = None
        merged: list[Merged] = []
        try:
            for chunk in self._chunks():
                self.feed.put(0, (chunk.attributes, chunk.attribute_rows))
                self.feed.put(1, (chunk.views, chunk.view_rows))
                merged.append(chunk.merged)
            self.merged.set_result(Merged.join(merged))
        except BaseException as failed:
            error = failed
            self.merged.set_exception(failed)
            raise
        finally:
            self.feed.close(error)
