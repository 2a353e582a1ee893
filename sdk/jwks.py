"""The gateway's signing keys as a relying party holds them: a JWK Set (RFC 7517) cache.

Keys are found by ``kid``. A token naming a ``kid`` the cache does not hold may mean the
gateway rotated its keys, so the set is fetched again, but at most once per
``refetch_interval``: a flood of tokens with made-up ``kid`` values costs the gateway one
request per interval, not one per token. The whole set is also refreshed once it is
older than ``max_age``, so a key the gateway withdrew stops verifying.

A key serves one algorithm only (RFC 8725 §3.1): ES256 needs an EC P-256 key, RS256 an
RSA key; a JWK's own ``alg``, ``use`` and ``key_ops`` must allow it too. The algorithm
therefore comes from the key, never from a token's header alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jwt

from sdk.calls import Call, Request

# The algorithms a gateway signature may use, with the JWK that can verify each.
KEY_TYPES: dict[str, tuple[str, str | None]] = {"ES256": ("EC", "P-256"), "RS256": ("RSA", None)}


class UnsuitableKey(ValueError):
    """The JWK exists but may not verify this algorithm."""


def fetch_jwks(path: str) -> Call[dict[str, Any]]:
    """``GET`` the JWK Set at ``path`` (the discovery document's ``jwks_uri``)."""

    def parse(response: httpx.Response) -> dict[str, Any]:
        document = response.json()
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWK Set: no keys array")
        return document

    return Call(Request("GET", path), parse)


def verification_key(jwk: Mapping[str, Any], algorithm: str) -> Any:
    """The public key in ``jwk``, if it may verify ``algorithm``; else UnsuitableKey."""
    if algorithm not in KEY_TYPES:
        raise UnsuitableKey(f"alg {algorithm!r} is not accepted")
    kty, curve = KEY_TYPES[algorithm]
    if jwk.get("kty") != kty or (curve is not None and jwk.get("crv") != curve):
        raise UnsuitableKey(f"key {jwk.get('kid')!r} is not a {curve or kty} key for {algorithm}")
    if jwk.get("alg", algorithm) != algorithm:
        raise UnsuitableKey(f"key {jwk.get('kid')!r} is for {jwk['alg']}, not {algorithm}")
    if jwk.get("use", "sig") != "sig":  # RFC 7517 §4.2
        raise UnsuitableKey(f"key {jwk.get('kid')!r} is not a signature key")
    operations = jwk.get("key_ops")  # RFC 7517 §4.3: a public key's operation is verify
    if operations is not None and "verify" not in operations:
        raise UnsuitableKey(f"key {jwk.get('kid')!r} may not verify")
    if "d" in jwk:
        raise UnsuitableKey("a published key must not hold a private part")
    try:
        return jwt.PyJWK(dict(jwk), algorithm=algorithm).key
    except jwt.PyJWTError as exc:
        raise UnsuitableKey(f"key {jwk.get('kid')!r} is unreadable: {exc}") from None


class KeyCache:
    """The last JWK Set fetched, indexed by ``kid``; it decides when to fetch again."""

    def __init__(
        self,
        *,
        refetch_interval: float = 60.0,
        max_age: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if refetch_interval < 0 or max_age <= 0:
            raise ValueError("refetch_interval must be >= 0 and max_age > 0")
        self.refetch_interval = refetch_interval
        self.max_age = max_age
        self._clock = clock
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._refetched_at: float | None = None
        self._refetching = 0  # refetches claimed and not yet ended
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KeyCache(kids={sorted(self._keys)!r})"

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def stale(self) -> bool:
        """Whether the set must be fetched before use: never fetched, or too old."""
        return self._fetched_at is None or self._clock() - self._fetched_at >= self.max_age

    def knows(self, kid: str) -> bool:
        return kid in self._keys

    def claim_refetch(self) -> bool:
        """Whether an unknown ``kid`` may trigger a fetch now; claiming it starts the
        interval at once, so a flood of unknown ``kid`` values fetches once per interval.
        While a claimed refetch is under way, others may fetch too: a verification
        cannot wait for another's fetch, and failing it because a fetch of the key it
        needs is in flight would refuse the first tokens of a rotated key. Every
        claim granted must be ended with :meth:`end_refetch`."""
        with self._lock:
            now = self._clock()
            if self._refetching == 0:
                last = self._refetched_at
                if last is not None and now - last < self.refetch_interval:
                    return False
                self._refetched_at = now
            self._refetching += 1
            return True

    def end_refetch(self) -> None:
        """A claimed refetch is over (loaded or failed)."""
        with self._lock:
            self._refetching = max(0, self._refetching - 1)

    def load(self, jwks: Mapping[str, Any]) -> None:
        """Replace the keys with a freshly fetched set (keys without a ``kid`` cannot be
        found, so they are left out; of two keys with one ``kid`` the first is kept)."""
        keys: dict[str, dict[str, Any]] = {}
        for jwk in jwks.get("keys", []):
            if isinstance(jwk, Mapping) and isinstance(jwk.get("kid"), str):
                keys.setdefault(jwk["kid"], dict(jwk))
        self._keys = keys
        self._fetched_at = self._clock()

    def key(self, kid: str, algorithm: str) -> Any:
        """The key to verify ``algorithm`` under ``kid``: KeyError if the set has no such
        ``kid``, UnsuitableKey if that key may not verify the algorithm."""
        return verification_key(self._keys[kid], algorithm)
