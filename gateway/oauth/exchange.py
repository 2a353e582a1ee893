"""Token exchange (RFC 8693): a member holding a person's access token obtains a token
for another member, naming the person by that member's pairwise ``sub``.

The exchange is single sign-on between members, so it rests on one consent: the
person's ``identity.sso`` consent to the *target* member, checked by the one policy
decision at the moment of the exchange. Without it the answer is ``invalid_grant``;
the token says nothing the target could not learn by signing the person in itself.

- ``subject_token`` must be an access token of ours, issued to the calling client,
  live, and naming a person; ``subject_token_type`` says so (§2.1). Other token types
  and ``actor_token`` are refused (§2.2.2 ``invalid_request``).
- ``audience`` names the target member by its ``client_id``; ``resource`` is not
  served. An unknown, disabled or own audience is ``invalid_target``.
- ``scope`` may be ``openid`` only (the default).
- The issued token: ``sub`` the target's pairwise subject, ``aud`` the target,
  ``client_id`` the caller with ``act`` naming it (§4.1), the family's ``gid`` (so
  revoking the family or logging out ends it too), and it lives no longer than the
  subject token. No refresh token.

Each exchange is written to the person's access log: the target is the reader.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.grants import BaseGrant, TokenEndpointMixin

from consent import policy
from consent.taxonomy import RecipientKind
from gateway.consents.service import Consents
from gateway.oauth import scopes
from gateway.oauth.clients import CONFIDENTIAL_METHODS, Client
from gateway.oauth.tokens import AccessClaims, InvalidToken
from gateway.views.access_log import AccessLog, What

if TYPE_CHECKING:
    from gateway.oauth.server import Provider

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN


class InvalidTarget(OAuth2Error):  # type: ignore[misc]
    """RFC 8693 §2.2.2."""

    error = "invalid_target"


class TokenExchangeGrant(BaseGrant, TokenEndpointMixin):  # type: ignore[misc]
    GRANT_TYPE = GRANT_TYPE
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = CONFIDENTIAL_METHODS

    @property
    def provider(self) -> Provider:
        server: Provider = self.server
        return server

    def validate_token_request(self) -> None:
        client: Client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(GRANT_TYPE):
            raise UnauthorizedClientError("this client may not exchange tokens")
        self.request.client = client
        form = self.request.form
        if form.get("subject_token_type") != ACCESS_TOKEN_TYPE:
            raise InvalidRequestError(f"subject_token_type must be {ACCESS_TOKEN_TYPE}")
        if form.get("requested_token_type", ACCESS_TOKEN_TYPE) != ACCESS_TOKEN_TYPE:
            raise InvalidRequestError("only access tokens are issued")
        if form.get("actor_token") or form.get("actor_token_type"):
            raise InvalidRequestError("actor tokens are not accepted")
        if form.get("resource"):
            raise InvalidTarget("name the target member with 'audience', not 'resource'")
        if scopes.split(form.get("scope") or scopes.OPENID) != [scopes.OPENID]:
            raise InvalidScopeError("a token exchange grants 'openid' only")
        if not form.get("subject_token"):
            raise InvalidRequestError("subject_token is required")
        if not form.get("audience"):
            raise InvalidRequestError("audience (the target member's client_id) is required")

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        provider = self.provider
        client: Client = self.request.client
        form = self.request.form
        now = provider.now()
        claims = self._subject_claims(str(form["subject_token"]), client, now)
        target = provider.query_client(form["audience"])
        if target is None or target.client_id == client.client_id:
            raise InvalidTarget("the audience is not another active member")
        subject = provider.live_subject(claims)
        if subject is None:
            raise InvalidGrantError("the subject token was revoked")
        if not self._sso_in_force(subject.person_id, target, now):
            raise InvalidGrantError(
                "the person has not consented to sign-in at the audience (identity.sso)"
            )
        remaining = int(claims["exp"]) - int(now.timestamp())
        lifetime = min(provider.lifetimes.access.total_seconds(), remaining)
        if lifetime <= 0:
            raise InvalidGrantError("the subject token has expired")
        issued = AccessClaims(
            client_id=client.client_id,
            sub=provider.sub_for(subject, target),
            scope=scopes.OPENID,
            audience=target.client_id,
            grant_id=subject.grant_id,
            auth_time=claims.get("auth_time"),
            acr=claims.get("acr"),
            amr=claims.get("amr"),
            extra={"act": {"sub": client.client_id}},
        )
        token, seconds = provider.signer.access_token(
            issued, target.member.signing_alg, now=now, lifetime=timedelta(seconds=lifetime)
        )
        # The target obtains the person's pseudonym: a read, in the person's access log.
        AccessLog(provider.session).record(
            subject.person_id,
            target.member.id,
            purpose=scopes.SSO_PURPOSE,
            categories=[scopes.SSO_CATEGORY],
            what=What.token_exchange,
            at=now,
        )
        body = {
            "access_token": token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": seconds,
            "scope": scopes.OPENID,
        }
        return 200, body, self.TOKEN_RESPONSE_HEADER

    def _subject_claims(self, token: str, client: Client, now: datetime) -> dict[str, Any]:
        provider = self.provider
        try:
            claims = provider.signer.verify_access_token(token, now=now)
        except InvalidToken:
            raise InvalidGrantError("the subject token is invalid or expired") from None
        if claims["client_id"] != client.client_id or claims.get("aud") != provider.issuer:
            raise InvalidGrantError("the subject token was not issued to this client")
        if not isinstance(claims.get("gid"), str):
            raise InvalidGrantError("the subject token names no person")
        return claims

    def _sso_in_force(self, person_id: str, target: Client, now: datetime) -> bool:
        question = policy.Question(
            person_id=person_id,
            recipient_id=target.member.id,
            recipient_kind=RecipientKind(target.member.kind),
            purpose=scopes.SSO_PURPOSE,
            categories=frozenset({scopes.SSO_CATEGORY}),
            at=now,
        )
        return Consents(self.provider.session, self.provider.rt).decide(question).allowed
