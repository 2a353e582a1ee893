"""A real gateway for the guides' samples: served on 127.0.0.1 in a thread, SETs pushed
every 0.2 s, on a fresh SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from consent.taxonomy import DataStandard
from gateway import migrate
from gateway.app import create_app
from gateway.db import make_engine
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.conftest import make_settings
from tests.e2e.live import free_port, serving

SANDBOX_MIN_GROUP = 20  # the brands' guide's alliance has 80 people, not thousands


@dataclass(frozen=True)
class Gateway:
    url: str
    settings: Settings
    runtime: Runtime

    @property
    def operator_token(self) -> str:
        return self.settings.operator_token.get_secret_value()

    @property
    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.operator_token}"}

    def environment(self) -> dict[str, str]:
        """The gateway's settings as the ``accord`` command reads them (ACCORD_*)."""
        s = self.settings
        return {
            "ACCORD_ENV": s.env.value,
            "ACCORD_ISSUER": s.issuer,
            "ACCORD_DATABASE_URL": s.database_url,
            "ACCORD_KEY_DIR": str(s.key_dir),
            "ACCORD_SECRET_KEY": s.secret_key.get_secret_value(),
            "ACCORD_PAIRWISE_KEY": s.pairwise_key.get_secret_value(),
            "ACCORD_HASH_KEY": s.hash_key.get_secret_value(),
            "ACCORD_OPERATOR_TOKEN": self.operator_token,
            "ACCORD_SANDBOX_MIN_GROUP": str(s.sandbox_min_group),
        }


@pytest.fixture
def gateway(tmp_path: Path, standard: DataStandard) -> Iterator[Gateway]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(
        tmp_path / "gateway",
        issuer=url,
        events_interval=0.2,
        sandbox_min_group=SANDBOX_MIN_GROUP,
    )
    (tmp_path / "gateway").mkdir()
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    runtime = Runtime.build(settings, engine=engine, standard=standard)
    try:
        with serving(create_app(settings, runtime=runtime), port):
            yield Gateway(url, settings, runtime)
    finally:
        engine.dispose()
