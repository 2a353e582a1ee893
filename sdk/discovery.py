"""The gateway's OpenID Provider metadata (OIDC Discovery 1.0 §4, RFC 8414).

Fetched once per client from ``/.well-known/openid-configuration`` and kept: the relying
party reads its endpoints from it, never from constants. Its ``issuer`` must be exactly
the one the client was built for (Discovery §4.3), else an attacker's document could
name other endpoints and keys.
"""

from __future__ import annotations

import httpx
from pydantic import BaseModel, ConfigDict

from sdk.calls import Call, Request
from sdk.errors import ResponseError

PATH = "/.well-known/openid-configuration"


class ProviderMetadata(BaseModel):
    """What the gateway says it is and serves; fields it may add later are kept."""

    model_config = ConfigDict(extra="allow", frozen=True)

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    pushed_authorization_request_endpoint: str | None = None
    require_pushed_authorization_requests: bool = False
    userinfo_endpoint: str | None = None
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    end_session_endpoint: str | None = None
    grant_types_supported: list[str] = ["authorization_code"]
    id_token_signing_alg_values_supported: list[str] = []
    code_challenge_methods_supported: list[str] = []
    authorization_response_iss_parameter_supported: bool = False


def fetch_metadata(issuer: str) -> Call[ProviderMetadata]:
    """``GET`` the document, refused unless it is the issuer's own."""

    def parse(response: httpx.Response) -> ProviderMetadata:
        metadata = ProviderMetadata.model_validate(response.json())
        if metadata.issuer != issuer:
            raise ValueError(f"the document is for issuer {metadata.issuer!r}, not {issuer!r}")
        return metadata

    return Call(Request("GET", PATH), parse)


def endpoint_path(metadata: ProviderMetadata, name: str) -> str:
    """The path of the endpoint ``name`` under the issuer (the client's base URL)."""
    url = getattr(metadata, name, None)
    if not isinstance(url, str) or not url:
        raise ResponseError(f"the gateway publishes no {name}")
    if not url.startswith(metadata.issuer + "/"):
        raise ResponseError(f"{name} {url!r} is not under the issuer")
    return url.removeprefix(metadata.issuer)
