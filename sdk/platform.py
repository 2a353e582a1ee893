"""The member-platform client (sync and async)."""

from __future__ import annotations

from sdk.attributes import AttributeOperations
from sdk.client import AsyncClient, SyncClient
from sdk.consents import ConsentReading, ConsentRecording
from sdk.hints import HintOperations
from sdk.relying_party import RelyingPartyOperations
from sdk.rights import RightsOperations
from sdk.signin import SignInOperations
from sdk.standard import GatewayOperations
from sdk.streams import StreamOperations
from sdk.training import ModelOperations


class PlatformOperations(
    GatewayOperations,
    ConsentReading,
    ConsentRecording,
    RightsOperations,
    StreamOperations,
    SignInOperations,
    HintOperations,
    RelyingPartyOperations,
    AttributeOperations,
    ModelOperations,
):
    """Operations of a member platform."""


class PlatformClient(SyncClient, PlatformOperations):
    """A member platform's client of the gateway."""


class AsyncPlatformClient(AsyncClient, PlatformOperations):
    """A member platform's asyncio client of the gateway."""
