"""Shapes of a registration request and of a registered member on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.members.models import AuthMethod, MemberKind, MemberStatus, SigningAlg


class Contact(BaseModel):
    """The recipient's contact, shown to people before they consent (PIPL Art. 23)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=120)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=300)


class MemberSpec(BaseModel):
    """What the operator registers. Rules beyond shape live in ``members.rules``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    contact: Contact | None = None
    redirect_uris: list[str] = Field(default_factory=list, max_length=50)
    sector: str | None = Field(default=None, max_length=300)
    post_logout_redirect_uris: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="where the browser may return after logout (OIDC RP-Initiated Logout)",
    )
    login_url: str | None = Field(default=None, max_length=4000)
    events_endpoint: str | None = Field(default=None, max_length=4000)
    jwks: dict[str, Any] | None = None
    auth_method: AuthMethod | None = Field(
        default=None, description="default: private_key_jwt with jwks, else client_secret_basic"
    )
    purposes: list[str] = Field(default_factory=list, max_length=50)
    id_token_signed_response_alg: SigningAlg = Field(
        default=SigningAlg.ES256, description="ES256, or RS256 for clients without ECDSA"
    )
    require_pushed_authorization_requests: bool = Field(
        default=False, description="accept authorization requests only through /par (RFC 9126)"
    )


class MemberView(BaseModel):
    id: str
    kind: MemberKind
    name: str
    client_id: str
    auth_method: AuthMethod
    contact: Contact
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    sector: str
    login_url: str | None
    events_endpoint: str | None
    jwks: dict[str, Any] | None
    purposes: list[str]
    id_token_signed_response_alg: SigningAlg
    require_pushed_authorization_requests: bool
    status: MemberStatus
    created_at: datetime
    disabled_at: datetime | None


class Registration(MemberView):
    client_secret: str | None = Field(
        description="shown once, at registration; only its hash is stored"
    )
