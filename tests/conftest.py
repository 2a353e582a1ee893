"""Shared fixtures: settings, a fresh database per test on every backend, the app.

Storage runs on SQLite always and on PostgreSQL too when ACCORD_TEST_POSTGRES_URL is
set. A migrated database (``engine``) is a copy of one migrated once per test process:
a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL (each test its own
database, dropped afterwards) — running the migrations for every test cost 0.2–0.6 s
each. An empty one (``empty_engine``, for the migration tests) is a fresh file, or a
fresh schema on PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from consent.taxonomy import DataStandard, load_standard
from gateway import migrate
from gateway.app import create_app
from gateway.db import make_engine, normalise_url
from gateway.runtime import Runtime
from gateway.settings import Environment, Settings

POSTGRES_URL = os.environ.get("ACCORD_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", *(["postgres"] if POSTGRES_URL else [])]


def strong_secret() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def standard() -> DataStandard:
    return load_standard()


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": Environment.test,
        "database_url": f"sqlite:///{tmp_path}/accord.db",
        "key_dir": tmp_path / "keys",
        "secret_key": strong_secret(),
        "pairwise_key": strong_secret(),
        "hash_key": strong_secret(),
        "operator_token": strong_secret(),
        **overrides,
    }
    return Settings.model_validate(values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def pg_schema_engine() -> Iterator[Engine]:
    """A PostgreSQL engine confined to a fresh schema."""
    assert POSTGRES_URL is not None
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each configured backend in turn (the test's id: ``[sqlite]``, ``[postgres]``)."""
    name: str = request.param
    return name


@pytest.fixture
def empty_engine(
    backend: str, request: pytest.FixtureRequest, settings: Settings
) -> Iterator[Engine]:
    """An empty database on each configured backend."""
    if backend == "postgres":
        yield request.getfixturevalue("pg_schema_engine")
        return
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


class Templates:
    """One database per backend migrated to head, made once per test process, and the
    copies the tests get of it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sqlite: Path | None = None
        self.postgres: str | None = None  # the template database's name

    def sqlite_copy(self, database_url: str) -> Engine:
        if self.sqlite is None:
            self.sqlite = self.folder / "template.db"
            template = make_engine(f"sqlite:///{self.sqlite}")
            migrate.upgrade(template)
            with template.connect() as connection:  # all in the main file, none in -wal
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            template.dispose()
        target = Path(make_url(database_url).database or "")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.sqlite, target)
        return make_engine(database_url)

    def postgres_copy(self) -> tuple[Engine, str]:
        assert POSTGRES_URL is not None
        if self.postgres is None:
            name = "accord_tmpl_" + uuid.uuid4().hex[:12]
            _admin_sql(f'CREATE DATABASE "{name}"')
            template = make_engine(_database_url(name))
            migrate.upgrade(template)
            template.dispose()  # a template may have no connection while it is copied
            self.postgres = name
        name = "accord_t_" + uuid.uuid4().hex[:12]
        _admin_sql(f'CREATE DATABASE "{name}" TEMPLATE "{self.postgres}"')
        return make_engine(_database_url(name)), name

    def close(self) -> None:
        if self.postgres is not None:
            _admin_sql(f'DROP DATABASE IF EXISTS "{self.postgres}" WITH (FORCE)')


def _database_url(name: str) -> str:
    assert POSTGRES_URL is not None
    url = make_url(normalise_url(POSTGRES_URL)).set(database=name)
    return url.render_as_string(hide_password=False)


def _admin_sql(statement: str) -> None:
    assert POSTGRES_URL is not None
    admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    made = Templates(tmp_path_factory.mktemp("templates"))
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def engine(backend: str, settings: Settings, templates: Templates) -> Iterator[Engine]:
    """A database migrated to head: a copy of the process's template."""
    if backend == "sqlite":
        engine = templates.sqlite_copy(settings.database_url)
        yield engine
        engine.dispose()
        return
    engine, name = templates.postgres_copy()
    try:
        yield engine
    finally:
        engine.dispose()
        _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def runtime(settings: Settings, engine: Engine, standard: DataStandard) -> Runtime:
    return Runtime.build(settings, engine=engine, standard=standard)


@pytest.fixture
def app(settings: Settings, runtime: Runtime) -> FastAPI:
    return create_app(settings, runtime=runtime)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def operator(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.operator_token.get_secret_value()}"}
