"""A fresh, empty database per test: a SQLite file, or a PostgreSQL database of its own
on the server named by ACCORD_TEST_POSTGRES_URL (created, then dropped).

A database rather than a schema (as tests/conftest.py makes): the gateway runs as a
separate process configured by URL alone, and a database of its own needs no
``search_path`` in it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from gateway.db import make_engine, normalise_url
from tests.conftest import POSTGRES_URL


@contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """The URL of an empty database on ``backend`` ("sqlite" or "postgres")."""
    if backend == "sqlite":
        yield f"sqlite:///{folder}/accord.db"
        return
    assert POSTGRES_URL is not None, "postgres needs ACCORD_TEST_POSTGRES_URL"
    name = "accord_rel_" + uuid.uuid4().hex[:12]
    with postgres_database(POSTGRES_URL, name) as url:
        yield url


@contextmanager
def postgres_database(server_url: str, name: str) -> Iterator[str]:
    """Create database ``name`` on the server of ``server_url``; drop it afterwards,
    closing whatever connections are still open to it (PostgreSQL 13+)."""
    url = create_database(server_url, name)
    try:
        yield url
    finally:
        admin = make_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``server_url``; its URL."""
    admin = make_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return (
        make_url(normalise_url(server_url)).set(database=name).render_as_string(hide_password=False)
    )
