"""Pairwise subject identifiers (OIDC Core §8.1).

``sub = b64url(HMAC-SHA256(pairwise_key, sector || person_id))``: two sectors never
see the same ``sub`` for a person, one sector always sees the same one, and without
the key nobody can link them. ``person_id`` is a fixed-length UUID, so the
concatenation splits in exactly one way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def pairwise_sub(key: bytes, sector: str, person_id: str) -> str:
    digest = hmac.new(key, sector.encode("utf-8") + person_id.encode("ascii"), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")
