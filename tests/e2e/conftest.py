"""A live alliance on 127.0.0.1: the gateway, and member platforms whose login pages are
built on the SDK, each a real HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from consent.taxonomy import DataStandard
from gateway import migrate
from gateway.app import create_app
from gateway.db import make_engine
from gateway.runtime import Runtime
from sdk import AsyncPlatformClient, ClientSecretBasic, SecurityEvent
from tests.conftest import make_settings
from tests.e2e.demo_platform import platform_app
from tests.e2e.live import free_port, serving
from tests.gateway.members.cases import brand_spec, platform_spec

PURPOSES = ["identity.linking", "identity.sso", "personalize.content"]


@dataclass
class Platform:
    id: str
    name: str
    client_id: str
    secret: str
    url: str
    received: list[SecurityEvent] = field(default_factory=list)


@dataclass
class LiveAlliance:
    issuer: str
    operator: dict[str, str]
    runtime: Runtime
    platforms: list[Platform]

    def register_brand(self, name: str, host_url: str, **metadata: Any) -> dict[str, Any]:
        spec = brand_spec(
            name=name,
            redirect_uris=[f"{host_url}/cb"],
            purposes=["identity.sso", "marketing.brand_view"],
            **metadata,
        )
        response = httpx.post(f"{self.issuer}/v1/admin/brands", json=spec, headers=self.operator)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def live(tmp_path: Path, standard: DataStandard) -> Iterator[LiveAlliance]:
    gateway_port = free_port()
    issuer = f"http://127.0.0.1:{gateway_port}"
    settings = make_settings(tmp_path, issuer=issuer, events_interval=0.2)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    runtime = Runtime.build(settings, engine=engine, standard=standard)
    operator = {"Authorization": f"Bearer {settings.operator_token.get_secret_value()}"}
    names = [("Lumen Social Shop", "lumen"), ("Pulse Video Mall", "pulse")]
    ports = [free_port() for _ in names]
    with serving(create_app(settings, runtime=runtime), gateway_port):
        platforms = []
        for (name, slug), port in zip(names, ports, strict=True):
            url = f"http://127.0.0.1:{port}"
            spec = platform_spec(
                name=name,
                contact={"name": f"{name} DPO", "email": f"dpo@{slug}.example"},
                redirect_uris=[f"{url}/cb"],
                login_url=f"{url}/login",
                events_endpoint=None,
                purposes=PURPOSES,
            )
            registered = httpx.post(f"{issuer}/v1/admin/platforms", json=spec, headers=operator)
            assert registered.status_code == 201, registered.text
            body = registered.json()
            platforms.append(
                Platform(body["id"], name, body["client_id"], body["client_secret"], url)
            )
        with _platform_servers(issuer, platforms, ports):
            yield LiveAlliance(issuer, operator, runtime, platforms)
    engine.dispose()


class _platform_servers:  # noqa: N801 - a context manager used like a function
    def __init__(self, issuer: str, platforms: list[Platform], ports: list[int]) -> None:
        self.issuer, self.platforms, self.ports = issuer, platforms, ports
        self._stack: list[Any] = []

    def __enter__(self) -> None:
        for platform, port in zip(self.platforms, self.ports, strict=True):
            client = AsyncPlatformClient(
                self.issuer, auth=ClientSecretBasic(platform.client_id, platform.secret)
            )
            app, received = platform_app(platform.name, client)
            platform.received = received
            server = serving(app, port)
            server.__enter__()
            self._stack.append(server)

    def __exit__(self, *exc: object) -> None:
        while self._stack:
            self._stack.pop().__exit__(None, None, None)
