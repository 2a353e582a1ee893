"""Shared fixtures: settings, a fresh database per test on every backend, the app.

Storage runs on SQLite always and on PostgreSQL too when ACCORD_TEST_POSTGRES_URL is
set; each PostgreSQL test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from consent.taxonomy import DataStandard, load_standard
from gateway import migrate
from gateway.app import create_app
from gateway.db import make_engine
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
def empty_engine(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Engine]:
    """An empty database on each configured backend."""
    if request.param == "postgres":
        yield request.getfixturevalue("pg_schema_engine")
        return
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """A database migrated to head."""
    migrate.upgrade(empty_engine)
    return empty_engine


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
