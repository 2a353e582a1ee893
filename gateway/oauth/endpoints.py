"""Introspection (RFC 7662) and revocation (RFC 7009) of the provider's tokens.

A client may introspect or revoke only tokens issued to it (or exchanged for it,
RFC 8693); any other token, like an unknown, expired or revoked one, introspects as
``{"active": false}`` and nothing more.
Revoking a refresh token revokes its whole grant, access tokens included (RFC 7009
§2.1); revoking an access token denies its ``jti`` until it would have expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from gateway.oauth.clients import AUTH_METHODS, CONFIDENTIAL_METHODS, Client, load_member_client
from gateway.oauth.store import Reason
from gateway.oauth.tokens import LEEWAY, InvalidToken

if TYPE_CHECKING:
    from gateway.oauth.server import Provider


@dataclass(frozen=True)
class KnownToken:
    """A token this provider issued, as introspection and revocation see it."""

    kind: str  # access_token | refresh_token
    client_id: str
    active: bool
    claims: dict[str, Any]
    grant_id: str | None
    expires_at: datetime

    def is_expired(self) -> bool:
        return False  # folded into ``active`` with the caller's clock

    def is_revoked(self) -> bool:
        return not self.active

    def check_client(self, client: Client) -> bool:
        """Issued to this client, or (a token exchanged for it, RFC 8693) meant for it."""
        audience = self.claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        return client.client_id == self.client_id or client.client_id in audiences


def find(provider: Provider, value: str, hint: str | None) -> KnownToken | None:
    """An access token (a JWT of ours) or a refresh token; the hint only orders the
    lookups (RFC 7662 §2.1)."""
    lookups = [_access, _refresh]
    if hint == "refresh_token":
        lookups.reverse()
    for lookup in lookups:
        found = lookup(provider, value)
        if found is not None:
            return found
    return None


def _access(provider: Provider, value: str) -> KnownToken | None:
    if value.count(".") != 2:
        return None
    now = provider.now()
    try:
        claims = provider.signer.verify_access_token(value, now=now)
    except InvalidToken:
        return None
    grant_id = claims.get("gid")
    revoked = provider.store.access_revoked(str(claims["jti"]), grant_id)
    return KnownToken(
        kind="access_token",
        client_id=str(claims["client_id"]),
        active=not revoked,
        claims=claims,
        grant_id=grant_id,
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
    )


def _refresh(provider: Provider, value: str) -> KnownToken | None:
    state = provider.store.refresh_state(value)
    if state is None:
        return None
    subject, expires_at, usable = state
    now = provider.now()
    client = load_member_client(
        provider.session, provider.rt.hasher, provider.rt.standard, subject.member_id
    )
    if client is None:
        return None
    claims = {
        "client_id": client.client_id,
        "scope": subject.scope,
        "sub": provider.persons.sub_of(subject.person_id, client.member),
        "exp": int(expires_at.timestamp()),
        "iss": provider.issuer,
        "token_type": "refresh_token",
    }
    return KnownToken(
        kind="refresh_token",
        client_id=client.client_id,
        active=usable and expires_at > now,
        claims=claims,
        grant_id=subject.grant_id,
        expires_at=expires_at,
    )


def _token_given(request: OAuth2Request) -> None:
    """The token must be there; its hint is only a hint. RFC 7662 §2.1: a hint the
    server does not know is ignored; RFC 7009 §2.1: the search extends to every type.
    (Authlib refused an unknown hint with a 401 that carried no challenge.)"""
    if not request.form.get("token"):
        raise InvalidRequestError("the token parameter is required")


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def __init__(self, provider: Provider) -> None:
        super().__init__(provider)
        self.provider = provider

    def check_params(self, request: OAuth2Request, client: Client) -> None:
        _token_given(request)

    def query_token(self, token_string: str, token_type_hint: str | None) -> KnownToken | None:
        return find(self.provider, token_string, token_type_hint)

    def check_permission(self, token: KnownToken, client: Client, request: OAuth2Request) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: KnownToken) -> dict[str, Any]:
        claims = token.claims
        payload = {
            "active": True,
            "client_id": token.client_id,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "scope": claims.get("scope", ""),
            "sub": claims.get("sub"),
            "iss": claims.get("iss"),
            "exp": claims.get("exp"),
        }
        for name in ("aud", "iat", "jti", "auth_time", "acr", "amr", "act"):
            if name in claims:
                payload[name] = claims[name]
        return payload


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = AUTH_METHODS  # a public client may revoke its own tokens

    def __init__(self, provider: Provider) -> None:
        super().__init__(provider)
        self.provider = provider

    def check_params(self, request: OAuth2Request, client: Client) -> None:
        _token_given(request)

    def query_token(self, token_string: str, token_type_hint: str | None) -> KnownToken | None:
        return find(self.provider, token_string, token_type_hint)

    def revoke_token(self, token: KnownToken, request: OAuth2Request) -> None:
        now = self.provider.now()
        if token.kind == "refresh_token" and token.grant_id:
            self.provider.store.revoke_grant(token.grant_id, Reason.revoked, now)
        else:
            # Kept past the expiry by the verification leeway: until then the token still
            # verifies, and a pruned revocation would make it active again.
            until = token.expires_at + timedelta(seconds=LEEWAY)
            self.provider.store.revoke_access(str(token.claims["jti"]), until)
