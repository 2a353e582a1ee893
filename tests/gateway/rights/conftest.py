"""Clients for the rights tests, on the gateway tests' alliance (tests/gateway/alliance.py)."""

from __future__ import annotations

import httpx

from sdk import AsyncBrandClient, AsyncPlatformClient, ClientSecretBasic, PrivateKeyJWT
from sdk.rights import RightsOperations
from tests.gateway.alliance import Alliance


class BrandProbe(AsyncBrandClient, RightsOperations):
    """A brand client that tries the platform-only rights operations (it must be refused)."""


def platform(alliance: Alliance, keyed: bool = False) -> AsyncPlatformClient:
    transport = httpx.ASGITransport(app=alliance.app)
    if keyed:
        auth = PrivateKeyJWT(alliance.keyed_platform["client_id"], alliance.keyed_platform_key)
        return AsyncPlatformClient(alliance.issuer, auth=auth, transport=transport)
    basic = ClientSecretBasic(alliance.platform["client_id"], alliance.platform_secret)
    return AsyncPlatformClient(alliance.issuer, auth=basic, transport=transport)


def brand(alliance: Alliance) -> BrandProbe:
    auth = ClientSecretBasic(alliance.brand_a["client_id"], alliance.brand_a_secret)
    return BrandProbe(alliance.issuer, auth=auth, transport=httpx.ASGITransport(app=alliance.app))
