"""The grants the provider registers: Authlib's, completed with our storage and rules.

- authorization_code, with PKCE S256 required of every client (RFC 9700 §2.1.1) and
  the OpenID Connect extension that adds the ID token;
- refresh_token, rotated on every use, a reuse revoking the family;
- client_credentials, for a member's own ``member_api`` token.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from authlib.oauth2.rfc6749 import (
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants

from gateway.oauth import scopes
from gateway.oauth.clients import AUTH_METHODS, CONFIDENTIAL_METHODS, Client
from gateway.oauth.store import RedeemedCode, RedeemedRefresh, Subject
from gateway.oauth.tokens import half_hash

if TYPE_CHECKING:
    from gateway.oauth.server import Provider

CHALLENGE = re.compile(r"^[A-Za-z0-9_\-]{43}$")  # base64url of a SHA-256 digest


def provider_of(grant: Any) -> Provider:
    server: Provider = grant.server
    return server


class RequiredS256(CodeChallenge):  # type: ignore[misc]
    """PKCE for every client, S256 only: a request without ``code_challenge`` or with
    ``plain`` (also what an absent method means, RFC 7636 §4.3) is refused."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if not challenge:
            raise InvalidRequestError("PKCE is required: send code_challenge (S256)")
        if method != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        if not CHALLENGE.match(challenge):
            raise InvalidRequestError("code_challenge must be a base64url SHA-256 digest")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        provider = provider_of(self)
        subject: Subject = request.user
        data = request.payload.data
        provider.store.save_code(
            code,
            subject,
            redirect_uri=data["redirect_uri"],
            code_challenge=data["code_challenge"],
            nonce=data.get("nonce"),
            expires_at=provider.now() + provider.lifetimes.code,
        )

    def query_authorization_code(self, code: str, client: Client) -> RedeemedCode | None:
        provider = provider_of(self)
        return provider.store.redeem_code(code, client.member, provider.now())

    def delete_authorization_code(self, authorization_code: RedeemedCode) -> None:
        """Kept, marked used, until it expires: a second use must be recognised."""

    def authenticate_user(self, authorization_code: RedeemedCode) -> Subject:
        return authorization_code.subject


class OpenIDCode(oidc_grants.OpenIDCode):  # type: ignore[misc]
    """Adds the ID token to the code grant's response, signed with our keys."""

    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=False)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        client: Client = request.client
        return self.provider.store.nonce_used(client.member, nonce)

    def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
        client: Client = request.client
        subject: Subject = request.user
        code: RedeemedCode = request.authorization_code
        alg = client.member.signing_alg
        claims: dict[str, Any] = {
            "sub": self.provider.sub_for(subject, client),
            "auth_time": code.get_auth_time(),
            "at_hash": half_hash(token["access_token"], alg),
        }
        if code.nonce:
            claims["nonce"] = code.nonce
        if subject.acr:
            claims["acr"] = subject.acr
        if subject.amr:
            claims["amr"] = list(subject.amr)
        if subject.session_id:
            claims["sid"] = self.provider.session_claim(subject.session_id, client)
        claims.update(self.provider.platform_claims(subject, client))
        return self.provider.signer.id_token(claims, client.client_id, alg, now=self.provider.now())


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation

    def authenticate_refresh_token(self, refresh_token: str) -> RedeemedRefresh | None:
        provider = provider_of(self)
        client: Client = self.request.client
        return provider.store.redeem_refresh(refresh_token, client.member, provider.now())

    def authenticate_user(self, refresh_token: RedeemedRefresh) -> Subject:
        return refresh_token.subject

    def revoke_old_credential(self, refresh_token: RedeemedRefresh) -> None:
        """Nothing left to do: redeeming it marked it used."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def validate_requested_scope(self) -> None:
        if scopes.split(self.request.payload.scope) not in ([], [scopes.MEMBER_API]):
            raise InvalidScopeError(f"client_credentials grants only {scopes.MEMBER_API!r}")
