"""What one gateway process holds: settings, the database, the data standard.

Built once from settings by the app factory or the CLI, then passed down; no
module-level state anywhere.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from consent.taxonomy import DataStandard, load_standard
from gateway.changes import Changes
from gateway.consents.notices import CurrentVersions
from gateway.db import SessionFactory, autocommitting, make_engine, session_factory
from gateway.keys import KeyRing
from gateway.oauth.remembered import Remembered
from gateway.observability import spending
from gateway.observability.metrics import Metrics
from gateway.ratelimit.gcra import Limiter
from gateway.ratelimit.policies import Limits
from gateway.secret_hash import SecretHasher
from gateway.settings import Settings

POOL_OVERFLOW = 10  # connections a worker may open past db_pool_size, briefly


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Engine
    sessions: SessionFactory
    # Sessions whose statements commit one by one (PostgreSQL; SQLite: as ``sessions``):
    # for reads whose only write is one last statement (the views and their access log).
    autocommit: SessionFactory
    standard: DataStandard
    hasher: SecretHasher
    keys: KeyRing
    changes: Changes
    remembered: Remembered
    notices: CurrentVersions  # the current notice versions, as this worker remembers them
    metrics: Metrics
    limits: Limits
    # Reads ahead on a second pooled connection (a batch of views) take a slot here
    # without waiting, or are done on the request's own connection: with at most a
    # quarter of the pool's connections spent on them, no request can wait for a
    # connection that only requests waiting the same way would give back.
    read_ahead: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(1)
    )

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
            settings.database_url, pool_size=settings.db_pool_size, max_overflow=POOL_OVERFLOW
        )
        sessions = session_factory(engine)
        autocommit = session_factory(autocommitting(engine))
        changes = Changes()
        for factory in (sessions, autocommit):
            changes.watch(factory)  # every write of this process counts, the CLI's too
        metrics = Metrics.for_process()
        spending.watch(sessions, metrics)  # ε counted as charges commit
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            autocommit=autocommit,
            standard=standard or load_standard(),
            hasher=SecretHasher(settings.hash_key.get_secret_value().encode()),
            keys=KeyRing(settings.key_dir),
            changes=changes,
            remembered=Remembered(changes),
            notices=CurrentVersions(changes),
            metrics=metrics,
            limits=Limits.build(settings, limiter),
            read_ahead=threading.BoundedSemaphore(
                max(1, (settings.db_pool_size + POOL_OVERFLOW) // 4)
            ),
        )

    def close(self) -> None:
        self.engine.dispose()
