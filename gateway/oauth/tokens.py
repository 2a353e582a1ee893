"""Tokens the gateway signs: RFC 9068 JWT access tokens and OpenID Connect ID tokens.

Both are signed with the gateway's active key for the client's algorithm (ES256 by
default, RS256 per client) and carry the key's ``kid``; verification pins the
algorithms and finds the key by ``kid`` among the published ones, so a rotated key
keeps verifying through its overlap window. ``alg: none`` and HMAC are never
accepted: the key decides the algorithm, not the token's header.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms
from jwt.utils import base64url_encode

from gateway.keys import ALGORITHMS, KeyRing
from gateway.oauth.remembered import Remembered

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - RFC 9068 §2.1 media type, not a secret
LEEWAY = 30


SIGNING = {alg: get_default_algorithms()[alg] for alg in ALGORITHMS}


@functools.lru_cache(maxsize=64)
def _header(alg: str, kid: str, typ: str) -> bytes:
    header = {"alg": alg, "kid": kid, "typ": typ}
    return base64url_encode(json.dumps(header, separators=(",", ":")).encode())


class InvalidToken(Exception):
    """The token is malformed, forged, expired or not ours; callers answer uniformly."""


@dataclass(frozen=True)
class Lifetimes:
    access: timedelta
    id_token: timedelta
    refresh: timedelta
    code: timedelta


@dataclass(frozen=True)
class AccessClaims:
    """What an access token says (RFC 9068 §2.2)."""

    client_id: str
    sub: str
    scope: str
    audience: str
    grant_id: str | None = None  # the token family, for revocation; None for client tokens
    auth_time: int | None = None
    acr: str | None = None
    amr: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Signer:
    def __init__(
        self,
        keys: KeyRing,
        issuer: str,
        lifetimes: Lifetimes,
        remembered: Remembered | None = None,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.lifetimes = lifetimes
        self.remembered = remembered

    def access_token(
        self, claims: AccessClaims, alg: str, *, now: datetime, lifetime: timedelta | None = None
    ) -> tuple[str, int]:
        """A signed access token and its lifetime in seconds."""
        seconds = int((lifetime or self.lifetimes.access).total_seconds())
        issued = int(now.timestamp())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": claims.sub,
            "aud": claims.audience,
            "client_id": claims.client_id,
            "iat": issued,
            "exp": issued + seconds,
            "jti": secrets.token_urlsafe(16),
            "scope": claims.scope,
        }
        if claims.grant_id is not None:
            payload["gid"] = claims.grant_id
        if claims.auth_time is not None:
            payload["auth_time"] = claims.auth_time
        if claims.acr:
            payload["acr"] = claims.acr
        if claims.amr:
            payload["amr"] = claims.amr
        payload.update(claims.extra)
        return self._sign(payload, alg, ACCESS_TOKEN_TYPE, now), seconds

    def id_token(self, claims: dict[str, Any], audience: str, alg: str, *, now: datetime) -> str:
        issued = int(now.timestamp())
        payload = {
            "iss": self.issuer,
            "aud": audience,
            "iat": issued,
            "exp": issued + int(self.lifetimes.id_token.total_seconds()),
            **claims,
        }
        return self._sign(payload, alg, "JWT", now)

    def _sign(self, payload: dict[str, Any], alg: str, typ: str, now: datetime) -> str:
        """A JWS compact serialization (RFC 7515 §7.1), put together here around
        PyJWT's signing primitive: ``jwt.encode`` re-validates and re-serializes the
        header on every call, a fifth of an access token's cost."""
        key = self.keys.active(alg, now=now)
        body = json.dumps(payload, separators=(",", ":")).encode()
        signing_input = _header(alg, key.kid, typ) + b"." + base64url_encode(body)
        signature = SIGNING[alg].sign(signing_input, key.signer())
        return (signing_input + b"." + base64url_encode(signature)).decode("ascii")

    def verify_access_token(self, token: str, *, now: datetime) -> dict[str, Any]:
        """The claims of a valid, unexpired access token issued here; else InvalidToken.
        A token verified before is not verified again; its key must still be published."""
        known = self.remembered.verified(token) if self.remembered is not None else None
        if known is None:
            kid, claims = self._verify_access_token(token, now=now)
            if self.remembered is not None:
                self.remembered.keep_verified(token, kid, claims)
        else:
            kid, claims = known
            try:
                self.keys.verification_key(kid, now=now)
            except KeyError:
                raise InvalidToken from None
        if claims["exp"] < now.timestamp() - LEEWAY:  # the caller's clock, not the host's
            raise InvalidToken
        return dict(claims)

    def _verify_access_token(self, token: str, *, now: datetime) -> tuple[str, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken from None
        kid, alg, typ = header.get("kid"), header.get("alg"), header.get("typ")
        if not isinstance(kid, str) or alg not in ALGORITHMS or typ != ACCESS_TOKEN_TYPE:
            raise InvalidToken
        try:
            key = self.keys.verification_key(kid, now=now)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[str(alg)],
                issuer=self.issuer,
                leeway=LEEWAY,
                options={
                    "require": ["iss", "sub", "exp", "iat", "jti", "client_id"],
                    "verify_aud": False,  # the resource server checks its audience
                },
            )
        except (KeyError, jwt.PyJWTError, ValueError):
            raise InvalidToken from None
        return kid, claims

    def verify_id_token_hint(self, token: str) -> dict[str, Any]:
        """The claims of an ID token this provider signed, expired or not: an
        ``id_token_hint`` (RP-Initiated Logout 1.0 §2) may outlive the token. An access
        token or a SET, signed with the same keys, is not an ID token."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken from None
        kid, alg = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or alg not in ALGORITHMS or header.get("typ") != "JWT":
            raise InvalidToken
        try:
            key = self.keys.verification_key(kid)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[str(alg)],
                issuer=self.issuer,
                options={
                    "require": ["iss", "sub", "aud", "iat"],
                    "verify_exp": False,
                    "verify_aud": False,  # checked against the client by the endpoint
                },
            )
        except (KeyError, jwt.PyJWTError, ValueError):
            raise InvalidToken from None
        return claims


def half_hash(value: str, alg: str) -> str:
    """``at_hash`` (OIDC Core §3.1.3.6): the left half of the SHA-256 digest, base64url."""
    if alg not in ALGORITHMS:  # both ES256 and RS256 use SHA-256
        raise ValueError(alg)
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")
