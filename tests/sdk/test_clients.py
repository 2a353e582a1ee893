"""The SDK against the gateway: async through ASGITransport, sync over a real socket."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any, assert_type

import httpx
import pytest
from fastapi import FastAPI

from consent.taxonomy import DataStandard
from gateway.serving import in_thread
from sdk import (
    AsyncBrandClient,
    AsyncPlatformClient,
    AuthenticationError,
    BrandClient,
    ClientSecretBasic,
    ConflictError,
    Health,
    NotFoundError,
    PlatformClient,
    ResponseError,
    ServerError,
    StandardDocument,
    TransportError,
)
from sdk.calls import Call, Request

ISSUER = "http://gateway.test"
pytestmark = pytest.mark.anyio


@pytest.fixture
async def aclient(app: FastAPI) -> AsyncIterator[AsyncPlatformClient]:
    transport = httpx.ASGITransport(app=app)
    async with AsyncPlatformClient(ISSUER, transport=transport) as client:
        yield client


async def test_async_health_and_standard(
    aclient: AsyncPlatformClient, standard: DataStandard
) -> None:
    health = await aclient.health()
    assert_type(health, Health)
    assert health.status == "ok"
    document = await aclient.data_standard()
    assert_type(document, StandardDocument)
    assert document.version == standard.version
    assert document.digest == standard.digest
    assert document.purpose("marketing.brand_view").separate_consent is True
    assert document.category("user.minor.under_14").sensitive == "minor_under_14"
    schema = await aclient.attribute_schema()
    assert schema["$defs"]["record"]["required"] == ["platform_user_id", "attributes"]


async def test_the_standard_is_revalidated_with_its_etag(app: FastAPI) -> None:
    seen: list[tuple[str | None, int]] = []

    async def record(response: httpx.Response) -> None:
        seen.append((response.request.headers.get("if-none-match"), response.status_code))

    transport = httpx.ASGITransport(app=app)
    async with AsyncBrandClient(ISSUER, transport=transport) as client:
        client._http.event_hooks["response"] = [record]
        first = await client.data_standard()
        second = await client.data_standard()
    assert second is first  # served from the cache on 304
    assert seen[0] == (None, 200)
    assert seen[1][1] == 304 and seen[1][0] is not None


async def test_errors_map_to_the_hierarchy(aclient: AsyncPlatformClient) -> None:
    forbidden: Call[Any] = Call(Request("GET", "/v1/admin/brands"), lambda r: r.json())
    with pytest.raises(AuthenticationError) as caught:
        await aclient._execute(forbidden)
    assert caught.value.status == 401
    assert caught.value.code == "invalid_token"
    assert caught.value.body["type"] == "urn:accord:error:invalid_token"
    missing: Call[Any] = Call(Request("GET", "/v1/nothing"), lambda r: r.json())
    with pytest.raises(NotFoundError):
        await aclient._execute(missing)


async def test_conflicts_and_unreadable_responses(app: FastAPI, settings: Any) -> None:
    operator = {"Authorization": f"Bearer {settings.operator_token.get_secret_value()}"}
    spec = {
        "name": "Aurora",
        "contact": {"name": "C", "email": "c@aurora.example"},
        "redirect_uris": ["https://aurora.example/cb"],
    }
    register: Call[Any] = Call(
        Request("POST", "/v1/admin/brands", json=spec, headers=operator), lambda r: r.json()
    )
    transport = httpx.ASGITransport(app=app)
    async with AsyncBrandClient(ISSUER, transport=transport) as client:
        assert (await client._execute(register))["name"] == "Aurora"
        with pytest.raises(ConflictError, match="already exists"):
            await client._execute(register)
        not_json: Call[Any] = Call(Request("GET", "/healthz"), lambda r: r.json()["missing"])
        with pytest.raises(ResponseError):
            await client._execute(not_json)


async def test_server_errors_and_unreachable_gateways() -> None:
    def broken(_: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": "temporarily_unavailable"})

    async with AsyncBrandClient(ISSUER, transport=httpx.MockTransport(broken)) as client:
        with pytest.raises(ServerError) as caught:
            await client.health()
        assert caught.value.code == "temporarily_unavailable"

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with AsyncBrandClient(f"http://127.0.0.1:{port}", timeout=2) as client:
        with pytest.raises(TransportError):
            await client.health()


def test_client_authentication_is_applied_only_where_asked() -> None:
    seen: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "ok"})

    auth = ClientSecretBasic("brd_x", "secret")
    with BrandClient(ISSUER, auth=auth, transport=httpx.MockTransport(capture)) as client:
        client.health()
        token: Call[Any] = Call(
            Request("POST", "/token", form={"a": "b"}, client_auth=True), lambda r: r.json()
        )
        client._execute(token)
    assert "authorization" not in seen[0].headers
    assert seen[1].headers["authorization"].startswith("Basic ")
    assert seen[1].headers["user-agent"].startswith("accord-sdk/")

    with (
        BrandClient(ISSUER, transport=httpx.MockTransport(capture)) as client,
        pytest.raises(ValueError, match="needs client authentication"),
    ):
        client._execute(token)


def test_sync_client_over_a_real_socket(app: FastAPI, standard: DataStandard) -> None:
    with in_thread(app) as base_url, PlatformClient(base_url) as client:
        health = client.health()
        assert_type(health, Health)
        assert health.status == "ok"
        document = client.data_standard()
        assert_type(document, StandardDocument)
        assert document.digest == standard.digest
        assert client.data_standard() is document  # revalidated: 304
