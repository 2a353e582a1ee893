"""An alliance for consent tests: one platform (secret), one platform (private key),
two brands, and a published notice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.settings import Settings
from sdk import AsyncBrandClient, AsyncPlatformClient, ClientSecretBasic, PrivateKeyJWT
from tests.gateway.members.cases import brand_spec, ec_jwk, platform_spec

NOTICE_TEXT = "Redleaf privacy notice, version one. We use your interests to tailor content."


@dataclass
class Alliance:
    app: FastAPI
    issuer: str
    operator: dict[str, str]
    platform: dict[str, Any]
    platform_secret: str
    keyed_platform: dict[str, Any]
    keyed_platform_key: dict[str, Any]
    brand_a: dict[str, Any]
    brand_a_secret: str
    brand_b: dict[str, Any]
    brand_b_secret: str

    def platform_client(self) -> AsyncPlatformClient:
        auth = ClientSecretBasic(self.platform["client_id"], self.platform_secret)
        return AsyncPlatformClient(
            self.issuer, auth=auth, transport=httpx.ASGITransport(app=self.app)
        )

    def keyed_client(self) -> AsyncPlatformClient:
        auth = PrivateKeyJWT(self.keyed_platform["client_id"], self.keyed_platform_key)
        return AsyncPlatformClient(
            self.issuer, auth=auth, transport=httpx.ASGITransport(app=self.app)
        )

    def brand_client(self, which: str = "a") -> AsyncBrandClient:
        member, secret = (
            (self.brand_a, self.brand_a_secret)
            if which == "a"
            else (self.brand_b, self.brand_b_secret)
        )
        auth = ClientSecretBasic(member["client_id"], secret)
        return AsyncBrandClient(self.issuer, auth=auth, transport=httpx.ASGITransport(app=self.app))


def _register(
    client: TestClient, operator: dict[str, str], kind: str, spec: dict[str, Any]
) -> dict[str, Any]:
    response = client.post(f"/v1/admin/{kind}", json=spec, headers=operator)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def alliance(
    app: FastAPI, client: TestClient, operator: dict[str, str], settings: Settings
) -> Alliance:
    purposes = [
        "identity.sso",
        "personalize.content",
        "train_ai_system.profile_model",
        "personalize.nearby_offers",
    ]
    platform = _register(client, operator, "platforms", platform_spec(purposes=purposes))
    key = ec_jwk("pk1", private=True)
    public = {k: v for k, v in key.items() if k != "d"}
    keyed = _register(
        client,
        operator,
        "platforms",
        platform_spec(
            name="Bluefin Live",
            redirect_uris=["https://bluefin.example/cb"],
            login_url="https://bluefin.example/login",
            jwks={"keys": [public]},
            purposes=purposes,
        ),
    )
    brand_a = _register(client, operator, "brands", brand_spec())
    brand_b = _register(
        client,
        operator,
        "brands",
        brand_spec(name="Borealis Sports", redirect_uris=["https://borealis.example/cb"]),
    )
    published = client.post(
        "/v1/admin/notices/redleaf-privacy/versions",
        json={"text": NOTICE_TEXT, "language": "zh-CN"},
        headers=operator,
    )
    assert published.status_code == 201, published.text
    return Alliance(
        app=app,
        issuer=settings.issuer,
        operator=operator,
        platform=platform,
        platform_secret=platform["client_secret"],
        keyed_platform=keyed,
        keyed_platform_key=key,
        brand_a=brand_a,
        brand_a_secret=brand_a["client_secret"],
        brand_b=brand_b,
        brand_b_secret=brand_b["client_secret"],
    )


@pytest.fixture
async def redleaf(alliance: Alliance) -> AsyncIterator[AsyncPlatformClient]:
    async with alliance.platform_client() as sdk_client:
        yield sdk_client
