"""Accord SDK for member platforms and brands.

Depends on httpx, pyjwt and pydantic only; imports nothing else of Accord.
"""

from sdk.attributes import (
    AttributeProblem,
    AttributeRecord,
    PushResult,
    RecordError,
    ValueCounts,
)
from sdk.auth import ClientAuth, ClientSecretBasic, PrivateKeyJWT
from sdk.authorization import AuthorizationRequest
from sdk.brand import AsyncBrandClient, BrandClient
from sdk.client import VERSION
from sdk.consents import (
    Consent,
    ConsentEventInfo,
    Decision,
    EligibleAccount,
    EligiblePage,
    LogInfo,
    NewConsent,
    Notice,
)
from sdk.discovery import ProviderMetadata
from sdk.errors import (
    AccordError,
    APIError,
    AuthenticationError,
    AuthorizationRefusedError,
    AuthorizationResponseError,
    BadRequestError,
    ConflictError,
    GoneError,
    IDTokenError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ResponseError,
    ServerError,
    ServiceUnavailableError,
    TransportError,
)
from sdk.events import SecurityEvent, SetError, verify_set
from sdk.hints import AllianceSalt, SaltVersion, hash_identifier
from sdk.id_token import IDToken
from sdk.jwks import KeyCache
from sdk.kpis import Kpis
from sdk.merkle import (
    Checkpoint,
    CheckpointError,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_inclusion_of_hash,
)
from sdk.operator import AsyncOperatorClient, OperatorClient
from sdk.platform import AsyncPlatformClient, PlatformClient
from sdk.receipts import ReceiptError, VerifiedReceipt, verify_receipt
from sdk.receiver import set_receiver
from sdk.rights import RightsRequestInfo
from sdk.sandbox import Budget, Group, SandboxResult
from sdk.signin import ChallengeInfo, VerifiedIdentifier
from sdk.standard import CategoryInfo, Health, LocalText, PurposeInfo, StandardDocument
from sdk.streams import (
    DeliverySummary,
    PolledEvents,
    StreamConfig,
    StreamDelivery,
    StreamStatus,
    TransmitterConfig,
)
from sdk.tokens import ExchangedToken, SignIn, TokenSet, UserInfo
from sdk.training import (
    ModelInfo,
    OperatorToken,
    RoundPlan,
    RoundRecord,
    SampledAccount,
    TrainingBudget,
    TrainingRun,
)
from sdk.views import AttributeValue, Source, View

__version__ = VERSION

__all__ = [
    "APIError",
    "AccordError",
    "AllianceSalt",
    "AsyncBrandClient",
    "AsyncOperatorClient",
    "AsyncPlatformClient",
    "AttributeProblem",
    "AttributeRecord",
    "AttributeValue",
    "AuthenticationError",
    "AuthorizationRefusedError",
    "AuthorizationRequest",
    "AuthorizationResponseError",
    "BadRequestError",
    "BrandClient",
    "Budget",
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
    "Group",
    "Health",
    "IDToken",
    "IDTokenError",
    "KeyCache",
    "Kpis",
    "LocalText",
    "LogInfo",
    "ModelInfo",
    "NewConsent",
    "NotFoundError",
    "Notice",
    "OperatorClient",
    "OperatorToken",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PlatformClient",
    "PolledEvents",
    "PrivateKeyJWT",
    "ProviderMetadata",
    "PurposeInfo",
    "PushResult",
    "RateLimitError",
    "ReceiptError",
    "RecordError",
    "ResponseError",
    "RightsRequestInfo",
    "RoundPlan",
    "RoundRecord",
    "SaltVersion",
    "SampledAccount",
    "SandboxResult",
    "SecurityEvent",
    "ServerError",
    "ServiceUnavailableError",
    "SetError",
    "SignIn",
    "Source",
    "StandardDocument",
    "StreamConfig",
    "StreamDelivery",
    "StreamStatus",
    "TokenSet",
    "TrainingBudget",
    "TrainingRun",
    "TransmitterConfig",
    "TransportError",
    "UserInfo",
    "ValueCounts",
    "VerifiedIdentifier",
    "VerifiedReceipt",
    "View",
    "__version__",
    "hash_identifier",
    "open_checkpoint",
    "set_receiver",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusion_of_hash",
    "verify_receipt",
    "verify_set",
]
