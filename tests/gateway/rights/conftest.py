"""The gateway tests' alliance (tests/gateway/alliance.py), with the rights routers
mounted (until app.py mounts them) and clients that speak the rights operations."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from gateway.rights import api as rights_api
from gateway.runtime import Runtime
from gateway.settings import Settings
from sdk import AsyncBrandClient, AsyncPlatformClient, ClientSecretBasic, PrivateKeyJWT
from sdk.rights import RightsOperations
from tests.gateway.alliance import Alliance


class RightsPlatform(AsyncPlatformClient, RightsOperations):
    """A platform client with the rights operations (sdk.platform does not mix them in yet)."""


class RightsBrand(AsyncBrandClient, RightsOperations):
    """A brand client that tries the rights operations (a brand may not submit)."""


def platform(alliance: Alliance, keyed: bool = False) -> RightsPlatform:
    transport = httpx.ASGITransport(app=alliance.app)
    if keyed:
        auth = PrivateKeyJWT(alliance.keyed_platform["client_id"], alliance.keyed_platform_key)
        return RightsPlatform(alliance.issuer, auth=auth, transport=transport)
    basic = ClientSecretBasic(alliance.platform["client_id"], alliance.platform_secret)
    return RightsPlatform(alliance.issuer, auth=basic, transport=transport)


def brand(alliance: Alliance) -> RightsBrand:
    auth = ClientSecretBasic(alliance.brand_a["client_id"], alliance.brand_a_secret)
    return RightsBrand(alliance.issuer, auth=auth, transport=httpx.ASGITransport(app=alliance.app))


@pytest.fixture
def app(settings: Settings, runtime: Runtime) -> FastAPI:
    app = create_app(settings, runtime=runtime)
    mounted = {getattr(route, "path", None) for route in app.routes}
    if "/v1/rights/requests" not in mounted:
        app.include_router(rights_api.member_router())
    if "/v1/admin/rights/process" not in mounted:
        app.include_router(rights_api.operator_router())
    return app


@pytest.fixture
async def redleaf(alliance: Alliance) -> AsyncIterator[RightsPlatform]:
    async with platform(alliance) as client:
        yield client
