"""Accord SDK for member platforms and brands.

Depends on httpx, pyjwt and pydantic only; imports nothing else of Accord.
"""

from sdk.auth import ClientAuth, ClientSecretBasic, PrivateKeyJWT
from sdk.brand import AsyncBrandClient, BrandClient
from sdk.client import VERSION
from sdk.errors import (
    AccordError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ResponseError,
    ServerError,
    TransportError,
)
from sdk.merkle import (
    Checkpoint,
    CheckpointError,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_inclusion_of_hash,
)
from sdk.platform import AsyncPlatformClient, PlatformClient
from sdk.standard import CategoryInfo, Health, LocalText, PurposeInfo, StandardDocument

__version__ = VERSION

__all__ = [
    "APIError",
    "AccordError",
    "AsyncBrandClient",
    "AsyncPlatformClient",
    "AuthenticationError",
    "BadRequestError",
    "BrandClient",
    "CategoryInfo",
    "Checkpoint",
    "CheckpointError",
    "ClientAuth",
    "ClientSecretBasic",
    "ConflictError",
    "Health",
    "LocalText",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PlatformClient",
    "PrivateKeyJWT",
    "PurposeInfo",
    "RateLimitError",
    "ResponseError",
    "ServerError",
    "StandardDocument",
    "TransportError",
    "__version__",
    "open_checkpoint",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusion_of_hash",
]
