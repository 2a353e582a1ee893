"""Security Event Tokens from the gateway, verified.

:func:`verify_set` checks a SET as RFC 8417 §4 and SSF 1.0 §4.1 ask: a pinned
signature algorithm, the explicit ``secevent+jwt`` type, the issuer, the audience,
``sub_id`` and the ``events`` claim. Each refusal carries the RFC 8935 §2.4 error code
a receiver answers with (``sdk.receiver`` serves a push endpoint with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from sdk.errors import AccordError

ALGORITHMS = ("ES256", "RS256")  # pinned: never "none", never HMAC with a public key
SET_TYPES = {"secevent+jwt", "application/secevent+jwt"}  # RFC 8417 §2.3, RFC 7515 §4.1.9
SET_MEDIA_TYPE = "application/secevent+jwt"  # RFC 8417 §7.2


class SetError(AccordError, ValueError):
    """A SET was refused; ``err`` is its RFC 8935 §2.4 error code."""

    def __init__(self, err: str, description: str) -> None:
        self.err = err
        self.description = description
        super().__init__(f"{err}: {description}")


@dataclass(frozen=True)
class SecurityEvent:
    """A verified SET. ``events`` maps each event type URI to its payload."""

    jti: str
    iss: str
    aud: str | list[str]
    iat: int
    sub_id: dict[str, Any]
    events: dict[str, dict[str, Any]]
    txn: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def event_type(self) -> str:
        """The event's type (SSF 1.0 §4.2.1: one event per SET)."""
        return next(iter(self.events))

    @property
    def payload(self) -> dict[str, Any]:
        return self.events[self.event_type]


def verify_set(
    token: str | bytes, *, jwks: Mapping[str, Any], issuer: str, audience: str
) -> SecurityEvent:
    """Verify a SET against the transmitter's JWKS; raise :class:`SetError` if it fails."""
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise SetError("invalid_request", "the body is not a compact JWS") from None
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise SetError("invalid_request", "the body is not a compact JWS") from None
    if str(header.get("typ", "")).lower() not in SET_TYPES:
        raise SetError("invalid_request", "typ is not secevent+jwt")
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise SetError("invalid_key", f"alg must be one of {', '.join(ALGORITHMS)}")
    key = _key(jwks, header.get("kid"), algorithm)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            options={"require": ["iss", "aud", "iat", "jti"], "verify_exp": False},
        )
    except jwt.InvalidAudienceError:
        raise SetError("invalid_audience", "the SET is for another audience") from None
    except jwt.InvalidIssuerError:
        raise SetError("invalid_issuer", "the SET is from another issuer") from None
    except jwt.InvalidSignatureError:
        raise SetError("invalid_key", "the signature does not verify") from None
    except jwt.PyJWTError as exc:
        raise SetError("invalid_request", f"the SET is malformed: {exc}") from None
    return _event(claims)


def _key(jwks: Mapping[str, Any], kid: object, algorithm: str) -> Any:
    keys = [k for k in jwks.get("keys", []) if isinstance(k, Mapping)]
    matching = [k for k in keys if k.get("kid") == kid] if kid is not None else keys
    if len(matching) != 1:
        raise SetError("invalid_key", "no single key in the JWKS matches the SET's kid")
    try:
        return jwt.PyJWK(dict(matching[0]), algorithm=algorithm).key
    except jwt.PyJWTError:
        raise SetError("invalid_key", "the matching JWK is not usable for this alg") from None


def _event(claims: dict[str, Any]) -> SecurityEvent:
    events = claims.get("events")
    if (
        not isinstance(events, dict)
        or not events
        or not all(isinstance(v, dict) for v in events.values())
    ):
        raise SetError("invalid_request", "the events claim is missing or malformed")
    if "sub" in claims:  # SSF 1.0 §4.1.2: the subject is sub_id, never sub
        raise SetError("invalid_request", "a SET must not carry a sub claim")
    sub_id = claims.get("sub_id")
    if not isinstance(sub_id, dict) or not isinstance(sub_id.get("format"), str):
        raise SetError("invalid_request", "sub_id is missing or has no format (RFC 9493)")
    txn = claims.get("txn")
    return SecurityEvent(
        jti=str(claims["jti"]),
        iss=str(claims["iss"]),
        aud=claims["aud"],
        iat=int(claims["iat"]),
        sub_id=sub_id,
        events=events,
        txn=txn if isinstance(txn, str) else None,
        claims=claims,
    )
