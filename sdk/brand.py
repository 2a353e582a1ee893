"""The brand client (sync and async)."""

from __future__ import annotations

from sdk.client import AsyncClient, SyncClient
from sdk.standard import GatewayOperations


class BrandOperations(GatewayOperations):
    """Operations of a brand (views and the sandbox come next)."""


class BrandClient(SyncClient, BrandOperations):
    """A brand's client of the gateway."""


class AsyncBrandClient(AsyncClient, BrandOperations):
    """A brand's asyncio client of the gateway."""
