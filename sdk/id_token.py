"""ID-token validation (OpenID Connect Core 1.0 §3.1.3.7), sans I/O.

:func:`read_header` takes what is needed to find the key (``alg`` pinned to ES256 or
RS256, never ``none`` nor HMAC; a ``kid``); :func:`verify_id_token` checks the signature
with that key, then ``iss``, ``aud`` and ``azp``, ``exp`` and ``iat`` with a small leeway,
the ``nonce`` of the request, ``auth_time`` against ``max_age`` and ``at_hash`` against the
access token (§3.1.3.8). Every failure raises :class:`~sdk.errors.IDTokenError`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

import jwt
from pydantic import BaseModel, ConfigDict, ValidationError

from sdk.errors import IDTokenError
from sdk.jwks import KEY_TYPES

ALGORITHMS = tuple(KEY_TYPES)  # ES256 and RS256 only (RFC 8725 §3.1)
ACCESS_TOKEN_TYPES = {"at+jwt", "application/at+jwt"}  # RFC 9068 §4: never an ID token
LEEWAY = 30  # seconds of clock skew tolerated on exp, iat and auth_time


class IDToken(BaseModel):
    """The claims of a verified ID token. ``sub`` is the relying party's pairwise subject."""

    model_config = ConfigDict(extra="allow", frozen=True)

    iss: str
    sub: str
    aud: str | list[str]
    exp: int
    iat: int
    auth_time: int | None = None
    nonce: str | None = None
    acr: str | None = None
    amr: list[str] | None = None
    sid: str | None = None
    azp: str | None = None
    at_hash: str | None = None
    platform_user_id: str | None = None  # a platform's own user id; never sent to brands


@dataclass(frozen=True)
class Header:
    alg: str
    kid: str


@dataclass(frozen=True)
class Expected:
    """What the token must say: who issued it, to whom, for which request."""

    issuer: str
    client_id: str
    nonce: str | None = None  # the authorization request's; None after a refresh
    access_token: str | None = None  # issued with it: at_hash must match when present
    max_age: int | None = None  # the request's max_age: auth_time must be recent enough
    leeway: int = LEEWAY


def read_header(token: str) -> Header:
    """The header's ``alg`` and ``kid``, refused unless the algorithm is pinned."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise IDTokenError("the ID token is not a compact JWS") from None
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise IDTokenError(f"alg {alg!r} is not accepted: only {', '.join(ALGORITHMS)}")
    if str(header.get("typ", "JWT")).lower() in ACCESS_TOKEN_TYPES:
        raise IDTokenError("an access token is not an ID token")
    if not isinstance(kid, str) or not kid:
        raise IDTokenError("the ID token names no kid")
    return Header(alg=str(alg), kid=kid)


def half_hash(value: str, alg: str) -> str:
    """``at_hash``: base64url of the left half of the hash ``alg`` uses (§3.1.3.6)."""
    if alg not in ALGORITHMS:  # ES256 and RS256 both hash with SHA-256
        raise ValueError(alg)
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def verify_id_token(
    token: str, key: Any, header: Header, expected: Expected, *, now: float | None = None
) -> IDToken:
    """The verified claims of ``token``, signed with ``key`` (found by ``header.kid``)."""
    now = time.time() if now is None else now
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[header.alg],
            audience=expected.client_id,
            issuer=expected.issuer,
            leeway=expected.leeway,
            # The time window is checked below, against ``now`` (which tests may set).
            options={
                "require": ["iss", "sub", "aud", "exp", "iat"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise IDTokenError("the signature does not verify") from None
    except jwt.InvalidAudienceError:
        raise IDTokenError("the ID token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise IDTokenError("the ID token is from another issuer") from None
    except jwt.PyJWTError as exc:
        raise IDTokenError(f"the ID token is malformed: {exc}") from None
    _check_window(claims, now, expected.leeway)
    _check_parties(claims, expected.client_id)
    _check_nonce(claims, expected.nonce)
    _check_auth_time(claims, expected, now)
    _check_at_hash(claims, expected.access_token, header.alg)
    try:
        return IDToken.model_validate(claims)
    except ValidationError as exc:
        raise IDTokenError(f"the ID token's claims are malformed: {exc}") from None


def _check_window(claims: dict[str, Any], now: float, leeway: int) -> None:
    exp, iat = claims["exp"], claims["iat"]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (exp, iat)):
        raise IDTokenError("exp and iat must be numbers (RFC 7519 §2 NumericDate)")
    if exp < now - leeway:
        raise IDTokenError("the ID token has expired")
    if iat > now + leeway:
        raise IDTokenError("the ID token is issued in the future")


def _check_parties(claims: dict[str, Any], client_id: str) -> None:
    # §3.1.3.7 steps 3-5: with several audiences, azp names the party it was issued to.
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        raise IDTokenError("the ID token has several audiences and no azp")
    if azp is not None and azp != client_id:
        raise IDTokenError("the ID token was issued to another party (azp)")


def _check_nonce(claims: dict[str, Any], nonce: str | None) -> None:
    if nonce is None:
        return
    found = claims.get("nonce")
    if not isinstance(found, str) or not hmac.compare_digest(found.encode(), nonce.encode()):
        raise IDTokenError("the nonce does not match the authorization request")


def _check_auth_time(claims: dict[str, Any], expected: Expected, now: float) -> None:
    if expected.max_age is None:
        return
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, int):
        raise IDTokenError("max_age was requested but the ID token has no auth_time")
    if auth_time + expected.max_age < now - expected.leeway:
        raise IDTokenError("the sign-in is older than the requested max_age")


def _check_at_hash(claims: dict[str, Any], access_token: str | None, alg: str) -> None:
    at_hash = claims.get("at_hash")
    if at_hash is None or access_token is None:
        return
    if not isinstance(at_hash, str) or not hmac.compare_digest(
        at_hash.encode(), half_hash(access_token, alg).encode()
    ):
        raise IDTokenError("at_hash does not match the access token")
