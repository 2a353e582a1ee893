"""The SDK's public surface is pinned: changing it is a deliberate, visible act."""

from __future__ import annotations

import sdk

PUBLIC = [
    "AttributeProblem",
    "AttributeRecord",
    "AttributeValue",
    "Budget",
    "Group",
    "PushResult",
    "RecordError",
    "SandboxResult",
    "Source",
    "ValueCounts",
    "View",
    "AllianceSalt",
    "SaltVersion",
    "hash_identifier",
    "APIError",
    "AccordError",
    "AsyncBrandClient",
    "AsyncPlatformClient",
    "AuthenticationError",
    "AuthorizationRefusedError",
    "AuthorizationRequest",
    "AuthorizationResponseError",
    "BadRequestError",
    "BrandClient",
    "CategoryInfo",
    "ChallengeInfo",
    "Checkpoint",
    "CheckpointError",
    "ClientAuth",
    "ClientSecretBasic",
    "ConflictError",
    "Consent",
    "ConsentEventInfo",
    "Decision",
    "DeliverySummary",
    "EligibleAccount",
    "EligiblePage",
    "ExchangedToken",
    "GoneError",
    "Health",
    "IDToken",
    "IDTokenError",
    "KeyCache",
    "LocalText",
    "LogInfo",
    "NewConsent",
    "NotFoundError",
    "Notice",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PlatformClient",
    "PolledEvents",
    "PrivateKeyJWT",
    "ProviderMetadata",
    "PurposeInfo",
    "RateLimitError",
    "ReceiptError",
    "ResponseError",
    "RightsRequestInfo",
    "SecurityEvent",
    "ServerError",
    "SetError",
    "SignIn",
    "StandardDocument",
    "StreamConfig",
    "StreamDelivery",
    "StreamStatus",
    "TokenSet",
    "TransmitterConfig",
    "TransportError",
    "UserInfo",
    "VerifiedIdentifier",
    "VerifiedReceipt",
    "__version__",
    "open_checkpoint",
    "set_receiver",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusion_of_hash",
    "verify_receipt",
    "verify_set",
]


def test_public_names_are_pinned() -> None:
    assert sorted(sdk.__all__) == sorted(PUBLIC)
    for name in sdk.__all__:
        assert hasattr(sdk, name), name


def test_error_hierarchy() -> None:
    for name in (
        "BadRequestError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "ConflictError",
        "PayloadTooLargeError",
        "RateLimitError",
        "ServerError",
    ):
        assert issubclass(getattr(sdk, name), sdk.APIError)
    for name in (
        "APIError",
        "TransportError",
        "ResponseError",
        "AuthorizationResponseError",
        "IDTokenError",
    ):
        assert issubclass(getattr(sdk, name), sdk.AccordError)
    assert issubclass(sdk.AuthorizationRefusedError, sdk.AuthorizationResponseError)
