"""Engine, sessions and the SQLModel metadata shared by every table.

SQLite (the embedded default) runs with WAL and foreign keys on; PostgreSQL runs
through psycopg 3. Repositories never commit: the request edge (or the CLI
command) owns the transaction through :func:`transaction`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.orm import registry, sessionmaker
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine, text

# Stable constraint names, so migrations can drop and alter them on every backend.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Table(SQLModel, registry=registry(metadata=metadata)):
    """Base of every Accord table: all of them share :data:`metadata`."""


def core(model: type[SQLModel]) -> sa.Table:
    """The Core table of a model, for set-based statements (bulk, RETURNING, row values)."""
    table = model.__table__  # type: ignore[attr-defined]
    if not isinstance(table, sa.Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return table


SessionFactory = sessionmaker[Session]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy would pick psycopg2)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        if not database or database == ":memory:":  # one connection: no pool to size
            kwargs.pop("pool_size", None)
            kwargs.pop("max_overflow", None)
        connect_args = {"check_same_thread": False, **kwargs.pop("connect_args", {})}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Each statement sees what was committed when it ran, whatever the server's default:
    # what a worker remembers is labelled on that assumption (gateway/changes.py).
    kwargs.setdefault("isolation_level", "READ COMMITTED")
    # Fail fast when PostgreSQL does not answer, instead of hanging a request (seconds).
    connect_args = {"connect_timeout": 5, **kwargs.get("connect_args", {})}
    # No JIT: the gateway's statements are short, and the planner's estimate for an
    # "= ANY(1,000 ids)" (hundreds of thousands of rows) made PostgreSQL spend 30-45 ms
    # compiling a 60 ms read of a batch of views (EXPLAIN ANALYZE, docs/benchmarks.md).
    # The keyword replaces the URL's own ``options``, so those are kept in it too.
    given = parsed.query.get("options")
    from_url = [given] if isinstance(given, str) else list(given or ())
    connect_args["options"] = " ".join(
        [*from_url, *filter(None, [connect_args.get("options")]), "-c jit=off"]
    )
    kwargs["connect_args"] = connect_args
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


IDLE_PING = 1.0  # seconds a pooled connection may rest before it is pinged on checkout


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection on checkout only when it has rested IDLE_PING seconds
    or more. A connection back in use within the second rarely died in between, and
    ``pool_pre_ping`` costs a round trip on every checkout (a fifth of a single view's
    database time). A dead one is replaced before anyone uses it (the pool tries again
    on DisconnectionError); one that died within the second fails its statement, and
    that disconnect invalidates the whole pool, as with pre-ping's own fallback."""

    def returned(_dbapi: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    def checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        rested = record.info.get("returned_at")
        if rested is None or time.monotonic() - rested < IDLE_PING:
            return  # new, or back within the second
        try:
            engine.dialect.do_ping(dbapi)
        except engine.dialect.loaded_dbapi.Error as error:
            raise sa.exc.DisconnectionError(str(error)) from error

    event.listen(engine, "checkin", returned)
    event.listen(engine, "checkout", checkout)


def autocommitting(engine: Engine) -> Engine:
    """The engine whose statements each commit on their own (PostgreSQL): for work whose
    only write is a single statement, after reads that READ COMMITTED would give each
    their own snapshot anyway. It saves the BEGIN and COMMIT round trips. SQLite keeps
    its transactions (its writes take a lock that a transaction orders)."""
    if engine.dialect.name != "postgresql":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # One writer at a time: the others wait for the lock rather than fail. SQLite's
        # busy handler is not fair, so under many writers one can wait for seconds.
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def session_factory(engine: Engine) -> SessionFactory:
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False)


class NeedsDatabase(Exception):
    """An answer attempted from memory alone needs the database after all."""


class _NoSession:
    """Stands in for a session where a request is answered from memory alone: any use
    raises :class:`NeedsDatabase`, and the caller answers with a real one instead."""

    def __getattr__(self, name: str) -> Any:
        raise NeedsDatabase(name)


def no_session() -> Session:
    return cast(Session, _NoSession())


@contextmanager
def transaction(sessions: SessionFactory) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def ping(engine: Engine) -> None:
    """Raise if the database does not answer."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def insert_new(session: Session, table: sa.Table, values: dict[str, Any]) -> bool:
    """INSERT unless the row's key exists (ON CONFLICT DO NOTHING); whether it inserted.

    Races on unique keys end here instead of in a SAVEPOINT: pysqlite would open its own
    transaction for a SAVEPOINT issued first and commit it on RELEASE.
    """
    return bool(insert_new_many(session, table, [values]))


def insert_new_many(
    session: Session,
    table: sa.Table,
    rows: list[dict[str, Any]],
    key: sa.Column[Any] | None = None,
) -> list[Any]:
    """:func:`insert_new` for many rows in one statement: the ``key`` (by default the
    first primary-key column) of each row it inserted; rows whose key existed are
    left out."""
    if not rows:
        return []
    bind = session.get_bind()
    statement: Any
    if bind.dialect.name == "postgresql":
        statement = pg_insert(table).on_conflict_do_nothing()
    else:
        statement = sqlite_insert(table).on_conflict_do_nothing()
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT here.
    column = key if key is not None else next(iter(table.primary_key.columns))
    return [value for (value,) in session.execute(statement.returning(column), rows)]


def chunks(ids: Iterable[str], size: int = 500) -> Iterator[list[str]]:
    """Distinct ``ids`` in lists of at most ``size``, for IN lists of bounded length."""
    distinct = list(dict.fromkeys(ids))
    for start in range(0, len(distinct), size):
        yield distinct[start : start + size]


def among(
    session: Session, column: sa.ColumnElement[Any], ids: Iterable[str], size: int = 500
) -> Iterator[sa.ColumnElement[bool]]:
    """Conditions "``column`` is one of ``ids``", one per statement to run: on PostgreSQL
    a single ``= ANY(array)`` (one bound parameter, however many ids: one statement, one
    plan), elsewhere IN lists of at most ``size``."""
    distinct = list(dict.fromkeys(ids))
    if not distinct:
        return
    if session.get_bind().dialect.name == "postgresql":
        array = sa.literal(distinct, type_=postgresql.ARRAY(sa.String()))
        yield column == sa.any_(array)
        return
    for start in range(0, len(distinct), size):
        yield column.in_(distinct[start : start + size])
