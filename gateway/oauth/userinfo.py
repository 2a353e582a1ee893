"""The UserInfo endpoint (OIDC Core §5.3): what a relying party may know of the person
behind an access token, which is little by design.

The token must be one of ours, unexpired, not revoked (on its own or with its grant,
e.g. after logout or a withdrawn consent), issued for use at the gateway (``aud`` is
the issuer: a token exchanged for another member is that member's, not ours), and
carry a person and the ``openid`` scope. The claims are the client's pairwise ``sub``
(equal to the ID token's) and, for a platform, its own user id for the person.

Bearer tokens come in the ``Authorization`` header (RFC 6750 §2.1) or, on POST, the
form body (§2.2); never in the query, where they would end up in logs.

Every answer is a read of the person's data, so it is written to their access log
(the consent center shows it), in the answer's own transaction.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import InsufficientScope, InvalidRequest, MissingToken, Unauthorized
from gateway.oauth import scopes
from gateway.oauth.server import Provider
from gateway.oauth.tokens import InvalidToken
from gateway.views.access_log import AccessLog, What

MAX_TOKEN = 4096
# What the ``platform_user_id`` claim is, in the data standard: the platform's own id.
PLATFORM_ACCOUNT = "user.account.platform_account"


def bearer(authorization: str | None, form_token: str | None) -> str:
    """The access token a request presents, by exactly one method (RFC 6750 §2)."""
    header_token = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("send the access token as 'Authorization: Bearer <token>'")
        header_token = value.strip()
    if header_token and form_token:
        raise InvalidRequest("send the access token one way only (RFC 6750 §2)")
    token = header_token or form_token
    if not token:
        raise MissingToken("an access token is required")
    if len(token) > MAX_TOKEN:
        raise Unauthorized("the access token is not valid")
    return token


class UserInfo:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def claims(self, token: str) -> dict[str, Any]:
        provider = self.provider
        try:
            claims = provider.signer.verify_access_token(token, now=provider.now())
        except InvalidToken:
            raise Unauthorized("the access token is invalid or expired") from None
        audience = claims.get("aud")
        if audience != provider.issuer:
            raise Unauthorized("this access token is not for the gateway")
        if not isinstance(claims.get("gid"), str):
            raise InsufficientScope("a client's own token names no person")
        if scopes.OPENID not in scopes.split(str(claims.get("scope", ""))):
            raise InsufficientScope("the token was not granted the 'openid' scope")
        subject = provider.live_subject(claims)
        if subject is None:
            raise Unauthorized("the access token was revoked")
        client = provider.query_client(claims["client_id"])
        if client is None or client.member.id != subject.member_id:
            raise Unauthorized("the client of this token is no longer active")
        info: dict[str, Any] = {"sub": claims["sub"]}
        info.update(provider.platform_claims(subject, client))
        read = [scopes.SSO_CATEGORY]
        if "platform_user_id" in info:
            read.append(PLATFORM_ACCOUNT)
        AccessLog(provider.session).record(
            subject.person_id,
            subject.member_id,
            purpose=scopes.SSO_PURPOSE,
            categories=read,
            what=What.userinfo,
            at=provider.now(),
        )
        return info
