"""What one gateway process holds: settings, the database, the data standard.

Built once from settings by the app factory or the CLI, then passed down; no
module-level state anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from consent.taxonomy import DataStandard, load_standard
from gateway.db import SessionFactory, make_engine, session_factory
from gateway.keys import KeyRing
from gateway.secret_hash import SecretHasher
from gateway.settings import Settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Engine
    sessions: SessionFactory
    standard: DataStandard
    hasher: SecretHasher
    keys: KeyRing

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        engine: Engine | None = None,
        standard: DataStandard | None = None,
    ) -> Runtime:
        engine = engine or make_engine(
            settings.database_url, pool_size=settings.db_pool_size, max_overflow=10
        )
        return cls(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            standard=standard or load_standard(),
            hasher=SecretHasher(settings.hash_key.get_secret_value().encode()),
            keys=KeyRing(settings.key_dir),
        )

    def close(self) -> None:
        self.engine.dispose()
