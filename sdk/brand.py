"""The brand client (sync and async)."""

from __future__ import annotations

from sdk.client import AsyncClient, SyncClient
from sdk.consents import ConsentReading
from sdk.relying_party import RelyingPartyOperations
from sdk.sandbox import SandboxOperations
from sdk.standard import GatewayOperations
from sdk.streams import StreamOperations
from sdk.views import ViewOperations


class BrandOperations(
    GatewayOperations,
    ConsentReading,
    StreamOperations,
    RelyingPartyOperations,
    ViewOperations,
    SandboxOperations,
):
    """Operations of a brand: views, the sandbox, consents, streams, sign-in."""


class BrandClient(SyncClient, BrandOperations):
    """A brand's client of the gateway."""


class AsyncBrandClient(AsyncClient, BrandOperations):
    """A brand's asyncio client of the gateway."""
