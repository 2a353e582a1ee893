"""Alembic, driven from code: ``accord db upgrade`` and the tests use these.

Revisions are named by date (``YYYYMMDD_NN_slug.py``, revision id ``YYYYMMDD_NN``)
so their order reads from the file names.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).parent / "migrations"
REVISION_FILE = re.compile(r"^(?P<rev>\d{8}_\d{2})_[a-z0-9_]+\.py$")


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        command.upgrade(config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        command.downgrade(config(connection), revision)


def heads() -> set[str]:
    """The revisions the code expects. Read once per process (some 12 ms: every revision
    file is loaded), as the files do not change under a running process."""
    return set(_heads())


@functools.cache
def _heads() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(config()).get_heads())


def current(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def is_current(engine: Engine) -> bool:
    return current(engine) == heads()


def next_revision_id(today: datetime | None = None) -> str:
    """The next dated revision id: today's date and a two-digit sequence."""
    day = (today or datetime.now(UTC)).strftime("%Y%m%d")
    taken = [
        int(m.group("rev")[-2:])
        for path in (MIGRATIONS / "versions").glob("*.py")
        if (m := REVISION_FILE.match(path.name)) and m.group("rev").startswith(day)
    ]
    return f"{day}_{max(taken, default=0) + 1:02d}"


def revision(message: str, *, engine: Engine) -> None:
    """Autogenerate a new dated revision from the models (developer command)."""
    with engine.begin() as connection:
        command.revision(
            config(connection), message=message, autogenerate=True, rev_id=next_revision_id()
        )
