"""Fixtures of the Shared Signals tests: members with credentials, SET receivers.

The background dispatcher is off here (``events_interval=0``): tests drive a
:class:`Dispatcher` themselves, with their own transport and clock.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.settings import Settings
from sdk.events import SecurityEvent
from sdk.receiver import set_receiver
from tests.conftest import make_settings
from tests.gateway.members.cases import brand_spec, platform_spec

RECEIVER_URL = "https://receiver.example/events"
RECEIVER_AUTH = "Bearer receiver-secret-0123456789"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, events_interval=0)


@dataclass(frozen=True)
class Registered:
    id: str
    client_id: str
    headers: dict[str, str]


def register(
    client: TestClient, operator: dict[str, str], *, brand: bool = False, name: str | None = None
) -> Registered:
    spec = brand_spec() if brand else platform_spec()
    if name is not None:
        spec["name"] = name
    collection = "brands" if brand else "platforms"
    response = client.post(f"/v1/admin/{collection}", json=spec, headers=operator)
    assert response.status_code == 201, response.text
    body = response.json()
    raw = f"{body['client_id']}:{body['client_secret']}".encode()
    headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    return Registered(body["id"], body["client_id"], headers)


@pytest.fixture
def platform(client: TestClient, operator: dict[str, str]) -> Registered:
    return register(client, operator)


@pytest.fixture
def brand(client: TestClient, operator: dict[str, str]) -> Registered:
    return register(client, operator, brand=True)


def push_stream(
    client: TestClient, member: Registered, url: str = RECEIVER_URL, **extra: Any
) -> dict[str, Any]:
    delivery = {"method": "urn:ietf:rfc:8935", "endpoint_url": url}
    delivery["authorization_header"] = RECEIVER_AUTH
    response = client.post(
        "/v1/ssf/stream", json={"delivery": delivery, **extra}, headers=member.headers
    )
    assert response.status_code == 201, response.text
    stream: dict[str, Any] = response.json()
    return stream


def asgi_transport(app: Callable[..., Any]) -> httpx.MockTransport:
    """A sync transport into an ASGI app: the dispatcher is sync, the receiver is ASGI."""

    async def forward(request: httpx.Request) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.send(request)
            await response.aread()
            return httpx.Response(
                response.status_code, headers=response.headers, content=response.content
            )

    return httpx.MockTransport(lambda request: asyncio.run(forward(request)))


class Inbox:
    """A receiver built with the SDK, recording what it accepted."""

    def __init__(self, *, jwks: dict[str, Any], issuer: str, audience: str) -> None:
        self.events: list[SecurityEvent] = []
        self.calls = 0
        self.down = False
        self.app = set_receiver(
            self.events.append,
            jwks=jwks,
            issuer=issuer,
            audience=audience,
            authorization=RECEIVER_AUTH,
        )
        self._inner = asgi_transport(self.app)

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.calls += 1
            if self.down:
                raise httpx.ConnectError("connection refused", request=request)
            return self._inner.handle_request(request)

        return httpx.MockTransport(handle)

    @property
    def types(self) -> list[str]:
        return [event.event_type for event in self.events]
