"""How long a worker may trust what it remembers: one change counter in the database.

The token endpoint and introspection mostly read what rarely changes: a client's
registration, and that a token or its grant was not revoked; consent decisions read
which version of each notice is current. A worker remembers those
reads (:mod:`gateway.oauth.remembered`) and answers from memory while nothing they rest
on has changed.

- Every transaction that changes a watched table (a member's registration; a grant
  revoked or deleted, a person's deletion included; an access token revoked) adds one
  to ``change_stamp.generation`` in the same transaction, and, once committed, tells its
  own process at once.
- Each worker reads the counter every ``ACCORD_CHANGE_POLL`` seconds (0.1 by default):
  a change committed by another worker or process is seen within that interval.
- A remembered read carries the *tag* current when it was read, ``(generation, local
  epoch)``, and is used only while that tag is still current. A worker whose last
  successful read of the counter is older than :data:`MAX_LAG` seconds (the database
  does not answer, the poller is stuck) answers nothing from memory.

What only ever becomes true (a token is revoked) needs no tag: it is remembered until
the token expires.

The tag is taken before the read it labels, and the read sees what was committed when it
ran: PostgreSQL's READ COMMITTED, and SQLite's reads outside a write transaction. A change
committed in between is then labelled with the older tag, which the next counter read
retires. Reads made by a transaction that itself changed a watched table are not
remembered at all: they could see its own uncommitted revocation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import BigInteger, Column, Engine, Insert, Result, event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import ORMExecuteState, UOWTransaction
from sqlmodel import Field, Session

from gateway.db import SessionFactory, Table, core
from gateway.periodic import Periodic

log = logging.getLogger("accord.changes")

MAX_LAG = 1.0  # seconds since the counter was last read before memory is not trusted

# Table -> the writes that may make a remembered read untrue. New grants and members are
# not watched: nothing about them can have been remembered. Deleting a person (erasure,
# a merge) deletes its grants by ON DELETE CASCADE, with no statement on oauth_grant.
WATCHED: dict[str, frozenset[str]] = {
    "person": frozenset({"delete"}),
    "member": frozenset({"update", "delete"}),
    "oauth_grant": frozenset({"update", "delete"}),
    "oauth_revoked_token": frozenset({"insert", "update", "delete"}),
    # A new notice version ends the consents given under the older ones at once
    # (gateway.consents.notices.CurrentVersions).
    "notice_version": frozenset({"insert", "update", "delete"}),
}
_CHANGED = "accord.changed"  # Session.info key: this transaction changed a watched table

Tag = tuple[int, int]


class ChangeStamp(Table, table=True):
    __tablename__ = "change_stamp"

    id: int = Field(primary_key=True)
    generation: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


STAMP = core(ChangeStamp)


def _kind(state: ORMExecuteState) -> str | None:
    if state.is_insert:
        return "insert"
    if state.is_update:
        return "update"
    if state.is_delete:
        return "delete"
    return None


def bump(session: Session) -> None:
    """Add one to the counter, in the session's transaction (the row is made on first use)."""
    dialect = session.get_bind().dialect.name
    insert: Any = pg_insert if dialect == "postgresql" else sqlite_insert
    statement: Insert = insert(STAMP).values(id=1, generation=1)
    session.execute(
        statement.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=[STAMP.c.id], set_={"generation": STAMP.c.generation + 1}
        )
    )


def changed_in(session: Session) -> bool:
    """Whether this session's transaction changed a watched table (so far)."""
    return bool(session.info.get(_CHANGED))


def read_generation(engine: Engine) -> int:
    with engine.connect() as connection:
        found = connection.execute(select(STAMP.c.generation).where(STAMP.c.id == 1)).first()
    return 0 if found is None else int(found[0])


class Changes:
    """A process's view of the counter, and the tags its remembered reads carry."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._epoch = 0
        self._read_at = float("-inf")

    def tag(self) -> Tag | None:
        """The current tag, or None when memory is not to be trusted."""
        generation = self._generation
        if generation is None or self._clock() - self._read_at > MAX_LAG:
            return None
        return generation, self._epoch

    def current(self, tag: Tag | None) -> bool:
        return tag is not None and tag == self.tag()

    def observe(self, generation: int, read_started_at: float) -> None:
        """The counter as read by a query that started at ``read_started_at``."""
        with self._lock:
            if generation != self._generation:
                self._generation = generation
            self._read_at = max(self._read_at, read_started_at)

    def changed_here(self) -> None:
        """A transaction of this process changed a watched table and committed."""
        with self._lock:
            self._epoch += 1

    def poll(self, engine: Engine) -> None:
        started = self._clock()
        self.observe(read_generation(engine), started)

    # --- the writers' side ------------------------------------------------------------

    def watch(self, sessions: SessionFactory) -> None:
        """Count the watched changes of every session this factory makes."""
        for name, listener in (
            ("do_orm_execute", self._on_statement),
            ("before_flush", self._on_flush),
            ("before_commit", self._on_commit),
            ("after_commit", self._on_committed),
            ("after_rollback", self._on_rollback),
        ):
            event.listen(sessions, name, listener)

    @staticmethod
    def _on_statement(state: ORMExecuteState) -> Result[Any] | None:
        kind = _kind(state)
        table = getattr(state.statement, "table", None)
        if kind is None or kind not in WATCHED.get(getattr(table, "name", ""), ()):
            return None
        result = state.invoke_statement()
        # A statement that changed no row changes nothing remembered (a prune with
        # nothing to prune). A count the driver does not know (-1), or does not know yet
        # (RETURNING rows not fetched), counts as a change.
        if getattr(result, "returns_rows", True) or getattr(result, "rowcount", -1) != 0:
            state.session.info[_CHANGED] = True
        return result

    @staticmethod
    def _on_flush(session: Session, _flush: UOWTransaction, _instances: object) -> None:
        for kind, objects in (("update", session.dirty), ("delete", session.deleted)):
            for obj in objects:
                if kind in WATCHED.get(getattr(type(obj), "__tablename__", ""), ()):
                    session.info[_CHANGED] = True
                    return

    @staticmethod
    def _on_commit(session: Session) -> None:
        if session.new or session.dirty or session.deleted:
            session.flush()  # the pending ORM changes decide whether to count
        if session.info.get(_CHANGED):
            bump(session)

    def _on_committed(self, session: Session) -> None:
        if session.info.pop(_CHANGED, False):
            self.changed_here()

    @staticmethod
    def _on_rollback(session: Session) -> None:
        session.info.pop(_CHANGED, None)


def start(changes: Changes, engine: Engine, interval: float) -> Periodic | None:
    """Read the counter every ``interval`` seconds (0: never, and memory is not trusted).
    While reads fail, memory goes stale and is then not trusted."""
    if interval <= 0:
        return None
    poller = Periodic("change-counter read", interval, lambda: changes.poll(engine), log)
    poller.start()
    return poller
