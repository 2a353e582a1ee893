"""Storage behaviour the rest of the gateway relies on."""

from __future__ import annotations

import platform
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from gateway import db
from gateway.db import make_engine, normalise_url, session_factory, transaction
from gateway.members.models import Member, MemberRedirectURI
from gateway.runtime import Runtime
from gateway.serving import keep_freed_memory
from tests.conftest import POSTGRES_URL, make_settings


def _member(**overrides: object) -> Member:
    values: dict[str, object] = {
        "id": "00000000-0000-4000-8000-000000000001",
        "kind": "brand",
        "name": "Brand",
        "name_key": "brand",
        "client_id": "brd_x",
        "auth_method": "client_secret_basic",
        "contact_name": "DPO",
        "contact_email": "dpo@brand.example",
        "sector": "brand.example",
        **overrides,
    }
    return Member(**values)  # type: ignore[arg-type]


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x/y.db")  # creates the folder
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_postgresql_urls_use_psycopg3() -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert make_engine("postgresql://u@127.0.0.1/db").dialect.driver == "psycopg"


@pytest.mark.skipif(not POSTGRES_URL, reason="needs ACCORD_TEST_POSTGRES_URL")
def test_postgresql_sessions_run_without_jit_and_keep_given_options() -> None:
    """JIT off (docs/benchmarks.md: 30-45 ms compiling a 60 ms read), and options a
    caller passes, in the URL (the CLI tests' search_path) or as a keyword, kept."""
    assert POSTGRES_URL is not None
    in_url = f"{POSTGRES_URL}?options=-c%20statement_timeout%3D7s"
    engine = make_engine(in_url, connect_args={"options": "-c work_mem=8MB"})
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SHOW jit")).scalar() == "off"
            assert connection.execute(text("SHOW work_mem")).scalar() == "8MB"
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "7s"
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    sessions = session_factory(engine)
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        session.add(MemberRedirectURI(member_id="no-such-member", uri="https://x.example/cb"))


def test_datetimes_come_back_aware_and_in_utc(engine: Engine) -> None:
    sessions = session_factory(engine)
    beijing = timezone(timedelta(hours=8))
    created = datetime(2026, 11, 24, 20, 0, tzinfo=beijing)
    with transaction(sessions) as session:
        session.add(_member(created_at=created))
    with Session(engine) as session:
        loaded = session.get(Member, "00000000-0000-4000-8000-000000000001")
        assert loaded is not None
        assert loaded.created_at == created
        assert loaded.created_at.tzinfo == UTC


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    sessions = session_factory(engine)
    with pytest.raises(StatementError, match="naive datetime"), transaction(sessions) as session:
        session.add(_member(created_at=datetime(2026, 1, 1)))  # noqa: DTZ001


def test_a_failed_unit_of_work_leaves_nothing(engine: Engine) -> None:
    sessions = session_factory(engine)

    def fail_after_writing() -> None:
        with transaction(sessions) as session:
            session.add(_member())
            session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_after_writing()
    with Session(engine) as session:
        assert session.get(Member, "00000000-0000-4000-8000-000000000001") is None


def test_check_constraints_hold_in_the_database(engine: Engine) -> None:
    sessions = session_factory(engine)
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        session.add(_member(kind="brand", login_url="https://brand.example/login"))


def test_a_worker_keeps_as_many_connections_as_configured(tmp_path: Path) -> None:
    """Requests run in a thread pool; a pool smaller than it would open and close a
    connection per request under load (the token benchmark showed it)."""
    settings = make_settings(tmp_path, db_pool_size=24)
    runtime = Runtime.build(settings)
    try:
        pool = runtime.engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.size() == 24
    finally:
        runtime.close()
    memory = make_engine("sqlite://", pool_size=24, max_overflow=10)  # one connection, no pool
    assert not isinstance(memory.pool, QueuePool)


@pytest.mark.postgres
def test_a_connection_that_rested_is_pinged_and_a_dead_one_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No ping for a connection back in use within the second (it was the round trip
    of every checkout); one that rested longer is pinged, and if its server process is
    gone, the pool opens another before anyone uses it."""
    assert POSTGRES_URL is not None
    engine = make_engine(POSTGRES_URL, pool_size=1, max_overflow=0)
    pings: list[object] = []
    real_ping = engine.dialect.do_ping

    def counted(connection: Any) -> bool:
        pings.append(connection)
        return bool(real_ping(connection))

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    try:
        with engine.connect() as connection:
            first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as connection:  # back at once: not pinged
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() == first
        assert pings == []
        with make_engine(POSTGRES_URL).connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        monkeypatch.setattr(db, "IDLE_PING", 0.0)  # every connection has rested enough
        with engine.connect() as connection:
            second = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert len(pings) >= 1 and second != first
    finally:
        engine.dispose()


def test_keep_freed_memory_raises_the_thresholds_where_glibc_allows() -> None:
    """Serving processes reuse freed memory: on glibc the settings are accepted."""
    accepted = keep_freed_memory()
    assert accepted is (platform.libc_ver()[0] == "glibc")
