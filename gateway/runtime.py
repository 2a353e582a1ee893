"""What one gateway process holds: settings, the database, the data standard.

Built once from settings by the app factory or the CLI, then passed down; no
module-level state anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from consent.taxonomy import DataStandard, load_standard
from gateway.changes import Changes
from gateway.db import SessionFactory, make_engine, session_factory
from gateway.keys import KeyRing
from gateway.oauth.remembered import Remembered
from gateway.observability import spending
from gateway.observability.metrics import Metrics
from gateway.ratelimit.gcra import Limiter
from gateway.ratelimit.policies import Limits
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
    changes: Changes
    remembered: Remembered
    metrics: Metrics
    limits: Limits

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        engine: Engine | None = None,
        standard: DataStandard | None = None,
        limiter: Limiter | None = None,
    ) -> Runtime:
        engine = engine or make_engine(
            settings.database_url, pool_size=settings.db_pool_size, max_overflow=10
        )
        sessions = session_factory(engine)
        changes = Changes()
        changes.watch(sessions)  # every write of this process counts, the CLI's too
        metrics = Metrics.for_process()
        spending.watch(sessions, metrics)  # ε counted as charges commit
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            standard=standard or load_standard(),
            hasher=SecretHasher(settings.hash_key.get_secret_value().encode()),
            keys=KeyRing(settings.key_dir),
            changes=changes,
            remembered=Remembered(changes),
            metrics=metrics,
            limits=Limits.build(settings, limiter),
        )

    def close(self) -> None:
        self.engine.dispose()
