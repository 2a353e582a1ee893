"""Signing Security Event Tokens (RFC 8417) as the Shared Signals Framework profiles them.

A SET is signed when it is sent, with the key active then, so a key rotation between
the change and its delivery never leaves a SET signed by a retired key. The header is
explicitly typed (RFC 8417 §2.3, SSF 1.0 §4.1.1); there is no ``sub`` (the subject is
``sub_id``, SSF 1.0 §4.1.2) and no ``exp`` (SSF 1.0 §4.1.7), so a SET cannot pass for
an ID token or an access token (RFC 8417 §4).
"""

from __future__ import annotations

from typing import Any

import jwt

from gateway.events.models import SecurityEvent
from gateway.events.types import SET_TYP
from gateway.keys import KeyRing


def claims_of(row: SecurityEvent | Any, *, issuer: str, audience: str) -> dict[str, Any]:
    """The SET's claims: the stored payload plus who issued it, for whom, and when."""
    stored: dict[str, Any] = row.claims
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": int(row.created_at.timestamp()),  # when the change happened, on every retry
        "jti": row.jti,
        "sub_id": stored["sub_id"],
        "events": stored["events"],
    }
    if "txn" in stored:
        claims["txn"] = stored["txn"]
    return claims


def sign(row: SecurityEvent | Any, *, issuer: str, audience: str, keys: KeyRing) -> str:
    key = keys.active()
    return jwt.encode(
        claims_of(row, issuer=issuer, audience=audience),
        key.signer(),
        algorithm=key.alg,
        headers={"typ": SET_TYP, "kid": key.kid},
    )
