"""Client authentication of a member at the gateway's token endpoint.

- :class:`ClientSecretBasic`: RFC 6749 §2.3.1, HTTP Basic with the form-urlencoded
  client id and secret.
- :class:`PrivateKeyJWT`: RFC 7523 §2.2 / OIDC Core §9, a short-lived JWT signed with
  the member's private key, unique ``jti`` per request.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol
from urllib.parse import quote

import jwt
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from sdk.calls import Request

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = {"EC": "ES256", "RSA": "RS256", "OKP": "EdDSA"}


class ClientAuth(Protocol):
    client_id: str

    def apply(self, request: Request, *, audience: str) -> Request:
        """Authenticate a token-endpoint request (form body)."""
        ...

    def authorize(self, request: Request, *, audience: str) -> Request:
        """Authenticate a member-API request (the Authorization header)."""
        ...


class ClientSecretBasic:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self._secret = client_secret

    def __repr__(self) -> str:  # never show the secret
        return f"ClientSecretBasic(client_id={self.client_id!r})"

    def apply(self, request: Request, *, audience: str) -> Request:
        # RFC 6749 §2.3.1: each part is form-urlencoded before joining with ":".
        raw = f"{_form_encode(self.client_id)}:{_form_encode(self._secret)}".encode()
        header = "Basic " + base64.b64encode(raw).decode("ascii")
        return replace(request, headers={**request.headers, "Authorization": header})

    def authorize(self, request: Request, *, audience: str) -> Request:
        return self.apply(request, audience=audience)  # the same header serves both


class PrivateKeyJWT:
    """Sign client assertions with a private JWK (dict or JSON) or PEM key."""

    def __init__(
        self,
        client_id: str,
        private_key: Mapping[str, Any] | str | bytes,
        *,
        kid: str | None = None,
        algorithm: str | None = None,
        lifetime: int = 60,
    ) -> None:
        if not 1 <= lifetime <= 300:
            raise ValueError("assertion lifetime must be 1 to 300 seconds")
        self.client_id = client_id
        self.lifetime = lifetime
        self._key, self.kid, self.algorithm = _load_key(private_key, kid, algorithm)

    def __repr__(self) -> str:
        return f"PrivateKeyJWT(client_id={self.client_id!r}, kid={self.kid!r})"

    def assertion(self, audience: str, *, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "jti": secrets.token_urlsafe(24),
            "iat": issued,
            "exp": issued + self.lifetime,
        }
        headers = {"kid": self.kid} if self.kid else None
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)

    def apply(self, request: Request, *, audience: str) -> Request:
        form = {
            **(request.form or {}),
            "client_id": self.client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(audience),
        }
        return replace(request, form=form)

    def authorize(self, request: Request, *, audience: str) -> Request:
        # RFC 7523 §2.2's assertion, presented as a bearer credential: a fresh jti each
        # call, so the gateway's replay cache refuses a captured header.
        header = "Bearer " + self.assertion(audience)
        return replace(request, headers={**request.headers, "Authorization": header})


def _form_encode(value: str) -> str:
    # %20, not "+": servers that decode with unquote (not unquote_plus) read it too.
    return quote(value, safe="")


def _load_key(
    key: Mapping[str, Any] | str | bytes, kid: str | None, algorithm: str | None
) -> tuple[Any, str | None, str]:
    if isinstance(key, str | bytes) and not _looks_like_json(key):
        return key, kid, algorithm or "ES256"  # PEM: PyJWT loads it when signing
    jwk = dict(key) if isinstance(key, Mapping) else json.loads(key)
    kty = jwk.get("kty")
    if kty not in ALGORITHMS:
        raise ValueError("private key must be an EC, RSA or OKP JWK")
    if "d" not in jwk:
        raise ValueError("the JWK holds no private key")
    text = json.dumps(jwk)
    loaded: Any
    if kty == "EC":
        loaded = ECAlgorithm.from_jwk(text)
    elif kty == "RSA":
        loaded = RSAAlgorithm.from_jwk(text)
    else:
        loaded = OKPAlgorithm.from_jwk(text)
    return loaded, kid or jwk.get("kid"), algorithm or jwk.get("alg") or ALGORITHMS[kty]


def _looks_like_json(key: str | bytes) -> bool:
    return key.lstrip()[:1] in ("{", b"{")
