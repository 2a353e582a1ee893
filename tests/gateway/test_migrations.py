"""Alembic: up, down to base and up again on every backend; models and migrations agree."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, Table, inspect
from sqlalchemy.engine import Engine

from gateway import migrate
from gateway.tables import metadata

APP_TABLES = {"member", "member_redirect_uri", "member_purpose"}


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def _drift(engine: Engine, target: MetaData) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, target))


def test_upgrade_downgrade_upgrade(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    assert _tables(empty_engine) >= APP_TABLES
    assert migrate.is_current(empty_engine)
    migrate.downgrade(empty_engine, "base")
    assert _tables(empty_engine) == set()
    assert migrate.current(empty_engine) == set()
    migrate.upgrade(empty_engine)
    assert _tables(empty_engine) == set(metadata.tables)
    assert migrate.is_current(empty_engine)


def test_models_and_migrations_do_not_drift(engine: Engine) -> None:
    assert _drift(engine, metadata) == []


def test_the_drift_check_catches_a_model_change(engine: Engine) -> None:
    """A column added to a model but not to a migration is reported."""
    changed = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(changed)
    Table("member", changed, Column("shoe_size", Integer), extend_existing=True)
    diff = _drift(engine, changed)
    assert any(op[0] == "add_column" and op[3].name == "shoe_size" for op in diff)  # type: ignore[index]


def test_constraint_names_follow_the_convention(engine: Engine) -> None:
    inspector = inspect(engine)
    assert inspector.get_pk_constraint("member")["name"] in {"pk_member", None}
    foreign = inspector.get_foreign_keys("member_redirect_uri")
    assert [fk["name"] for fk in foreign] == ["fk_member_redirect_uri_member_id_member"]
    uniques = {u["name"] for u in inspector.get_unique_constraints("member")}
    assert uniques == {"uq_member_client_id", "uq_member_name_key"}


def test_revisions_are_dated_and_linear() -> None:
    script = ScriptDirectory.from_config(migrate.config())
    assert len(script.get_heads()) == 1
    files = sorted(p.name for p in (migrate.MIGRATIONS / "versions").glob("*.py"))
    assert files
    for name in files:
        match = migrate.REVISION_FILE.match(name)
        assert match, f"{name} is not named YYYYMMDD_NN_slug.py"
        assert script.get_revision(match.group("rev")) is not None


def test_next_revision_id_counts_within_the_day(tmp_path: Path) -> None:
    existing = migrate.next_revision_id(datetime(2026, 11, 24, tzinfo=UTC))
    assert existing.startswith("20261124_") and int(existing[-2:]) >= 2
    assert migrate.next_revision_id(datetime(2031, 1, 2, tzinfo=UTC)) == "20310102_01"


def test_the_expected_revisions_are_read_once_per_process(engine: Engine) -> None:
    """Readiness asks for them on every probe: the revision files are loaded once."""
    script = ScriptDirectory.from_config(migrate.config())
    assert migrate.heads() == set(script.get_heads())
    loaded = migrate._heads.cache_info().misses
    for _ in range(3):
        assert migrate.is_current(engine)
        migrate.heads().clear()  # a caller's copy: what is remembered stays whole
    assert migrate._heads.cache_info().misses == loaded <= 1
    assert migrate.heads() == set(script.get_heads())
