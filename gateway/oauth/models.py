"""OpenID Provider tables: grants (token families), codes, refresh tokens, revoked
access tokens, pushed authorization requests and sign-in sessions.

Codes, refresh tokens, session cookies and request URIs are stored only as keyed
hashes (see ``secret_hash.py``): a copy of the database gives no one a usable credential.
Access tokens are signed JWTs (RFC 9068) and are not stored; a revoked one is
remembered by its ``jti`` until it would have expired anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, String
from sqlmodel import Field

from gateway.db import Table, UTCDateTime


class SignInSession(Table, table=True):
    """A browser signed in at the gateway through one member platform."""

    __tablename__ = "signin_session"

    id: str = Field(primary_key=True, max_length=80)  # hash of the session cookie
    person_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("person.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    platform_id: str = Field(
        sa_column=Column(String(36), ForeignKey("member.id", ondelete="CASCADE"), nullable=False)
    )
    acr: str | None = Field(default=None, max_length=64)
    amr: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    auth_time: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class Grant(Table, table=True):
    """What a person authorised one client to do, and the family of every token issued
    under it: revoking the grant (refresh or code reuse, logout, the person) ends them all."""

    __tablename__ = "oauth_grant"

    id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("member.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    person_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("person.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    session_id: str | None = Field(default=None, max_length=80, index=True)
    scope: str = Field(max_length=4000)
    acr: str | None = Field(default=None, max_length=64)
    amr: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    auth_time: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    revoked_reason: str | None = Field(default=None, max_length=32)


class AuthorizationCode(Table, table=True):
    """A one-time code (RFC 6749 §4.1.2), bound to its PKCE challenge (RFC 7636)."""

    __tablename__ = "oauth_code"

    id: str = Field(primary_key=True, max_length=80)  # hash of the code
    grant_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("oauth_grant.id", ondelete="CASCADE"), nullable=False
        )
    )
    redirect_uri: str = Field(max_length=2000)
    code_challenge: str = Field(max_length=128)
    nonce: str | None = Field(default=None, max_length=255)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class RefreshToken(Table, table=True):
    """One refresh token of a grant; rotated on use (RFC 9700 §4.14.2)."""

    __tablename__ = "oauth_refresh_token"

    id: str = Field(primary_key=True, max_length=80)  # hash of the token
    grant_id: str = Field(
        sa_column=Column(
            String(36),
            ForeignKey("oauth_grant.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    issued_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class RevokedToken(Table, table=True):
    """An access token revoked on its own (RFC 7009), until it would have expired."""

    __tablename__ = "oauth_revoked_token"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class PushedRequest(Table, table=True):
    """A pushed authorization request (RFC 9126), usable once, briefly."""

    __tablename__ = "oauth_pushed_request"

    id: str = Field(primary_key=True, max_length=80)  # hash of the request_uri
    member_id: str = Field(
        sa_column=Column(String(36), ForeignKey("member.id", ondelete="CASCADE"), nullable=False)
    )
    parameters: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class Interaction(Table, table=True):
    """An authorization request the browser is completing: validated at ``/authorize``,
    resumed after sign-in and consent. Bound to the browser that made it."""

    __tablename__ = "oauth_interaction"

    id: str = Field(primary_key=True, max_length=80)  # hash of the interaction handle
    member_id: str = Field(
        sa_column=Column(String(36), ForeignKey("member.id", ondelete="CASCADE"), nullable=False)
    )
    browser_hash: str = Field(max_length=80)
    parameters: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    session_id: str | None = Field(default=None, max_length=80)  # set once signed in
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
