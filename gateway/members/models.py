"""Registry tables. A member is also an OAuth client of the gateway."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, String, false
from sqlmodel import Field

from gateway.db import Table, UTCDateTime, utcnow


class MemberKind(StrEnum):
    platform = "platform"
    brand = "brand"


class MemberStatus(StrEnum):
    active = "active"
    disabled = "disabled"


class AuthMethod(StrEnum):
    """Token endpoint client authentication methods a member may register."""

    client_secret_basic = "client_secret_basic"  # noqa: S105 - a method name, not a secret
    client_secret_post = "client_secret_post"  # noqa: S105 - a method name, not a secret
    private_key_jwt = "private_key_jwt"
    none = "none"  # a public client: PKCE alone binds its code (RFC 7636)

    @property
    def has_secret(self) -> bool:
        return self in {AuthMethod.client_secret_basic, AuthMethod.client_secret_post}


class SigningAlg(StrEnum):
    """How the gateway signs a member's ID and access tokens."""

    ES256 = "ES256"
    RS256 = "RS256"  # for clients that cannot verify ECDSA


class Member(Table, table=True):
    __tablename__ = "member"
    __table_args__ = (
        CheckConstraint("kind IN ('platform', 'brand')", name="kind"),
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
        CheckConstraint(
            "auth_method IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt',"
            " 'none')",
            name="auth_method",
        ),
        CheckConstraint("signing_alg IN ('ES256', 'RS256')", name="signing_alg"),
        CheckConstraint("kind = 'platform' OR login_url IS NULL", name="login_url_platform"),
    )

    id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=16, index=True)
    name: str = Field(max_length=120)
    name_key: str = Field(max_length=120, unique=True)  # normalised name: no near-duplicates
    client_id: str = Field(max_length=64, unique=True)
    client_secret_hash: str | None = Field(default=None, max_length=128)
    auth_method: str = Field(max_length=32)
    contact_name: str = Field(max_length=120)
    contact_email: str = Field(max_length=254)
    contact_phone: str | None = Field(default=None, max_length=32)
    contact_address: str | None = Field(default=None, max_length=300)
    sector: str = Field(max_length=253)
    login_url: str | None = Field(default=None, max_length=2000)
    events_endpoint: str | None = Field(default=None, max_length=2000)
    jwks: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    signing_alg: str = Field(
        default=SigningAlg.ES256, max_length=8, sa_column_kwargs={"server_default": "ES256"}
    )
    # OIDC RP-Initiated Logout 1.0 §3.1: where the browser may go after logout (exact match).
    post_logout_redirect_uris: list[str] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    # RFC 9126 §6: only pushed authorization requests are accepted from this client.
    require_par: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    status: str = Field(default=MemberStatus.active, max_length=16)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    disabled_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


class MemberRedirectURI(Table, table=True):
    __tablename__ = "member_redirect_uri"

    member_id: str = Field(
        sa_column=Column(String(36), ForeignKey("member.id", ondelete="CASCADE"), primary_key=True)
    )
    uri: str = Field(primary_key=True, max_length=2000)
    position: int = Field(default=0)


class MemberPurpose(Table, table=True):
    __tablename__ = "member_purpose"

    member_id: str = Field(
        sa_column=Column(String(36), ForeignKey("member.id", ondelete="CASCADE"), primary_key=True)
    )
    purpose: str = Field(primary_key=True, max_length=120, index=True)


class AssertionJti(Table, table=True):
    """``jti`` values of client assertions already used, kept until they expire."""

    __tablename__ = "assertion_jti"

    client_id: str = Field(primary_key=True, max_length=64)
    jti: str = Field(primary_key=True, max_length=255)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
