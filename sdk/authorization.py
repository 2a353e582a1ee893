"""The authorization request and its response, as the relying party sees them (sans I/O).

The request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) carries PKCE S256 (RFC 7636 §4), a
``state`` against CSRF and a ``nonce`` bound into the ID token; it goes in the browser's
URL or, pushed first (RFC 9126), as a ``request_uri`` only. The app keeps the
:class:`AuthorizationRequest` (its own session) until the browser comes back.

The response is accepted only when its ``state`` is the request's (compared in constant
time) and its ``iss`` names this gateway (RFC 9207 §2.4, errors included: a mix-up
attacker may forge either). Then an error is raised as the gateway gave it, or the code
is returned for redemption.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from sdk.errors import AuthorizationRefusedError, AuthorizationResponseError

# Parameters the SDK sets itself; ``extra`` may not override them.
OWN = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "request_uri",
    }
)


class AuthorizationRequest(BaseModel):
    """One sign-in attempt: send the browser to ``url``, keep the rest for the callback.

    Store it server-side (``model_dump_json``/``model_validate_json``); the verifier is a
    secret, so it is left out of ``repr``."""

    model_config = ConfigDict(frozen=True)

    url: str
    redirect_uri: str
    state: str
    nonce: str
    code_verifier: str = Field(repr=False, min_length=43, max_length=128)
    max_age: int | None = None
    expires_in: int | None = None  # a pushed request's lifetime: send the browser now


def code_verifier() -> str:
    """A PKCE verifier: 64 characters from 48 random bytes (RFC 7636 §4.1, 43-128)."""
    return secrets.token_urlsafe(48)


def code_challenge(verifier: str) -> str:
    """``S256``: base64url(SHA-256(verifier)) without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def scope_with_openid(scope: str | Iterable[str]) -> str:
    parts = scope.split() if isinstance(scope, str) else list(scope)
    return " ".join(["openid", *(p for p in dict.fromkeys(parts) if p != "openid")])


@dataclass(frozen=True)
class Draft:
    """An authorization request's parameters and the secrets the callback needs."""

    parameters: dict[str, str]
    redirect_uri: str
    state: str
    nonce: str
    code_verifier: str
    max_age: int | None

    def request(self, url: str, expires_in: int | None = None) -> AuthorizationRequest:
        return AuthorizationRequest(
            url=url,
            redirect_uri=self.redirect_uri,
            state=self.state,
            nonce=self.nonce,
            code_verifier=self.code_verifier,
            max_age=self.max_age,
            expires_in=expires_in,
        )


def draft(
    client_id: str,
    redirect_uri: str,
    scope: str | Iterable[str],
    *,
    prompt: str | None = None,
    max_age: int | None = None,
    extra: Mapping[str, str] | None = None,
) -> Draft:
    """A fresh request: new PKCE verifier, ``state`` and ``nonce`` every time."""
    clash = OWN & set(extra or {})
    if clash:
        raise ValueError(f"set by the SDK, not by extra: {', '.join(sorted(clash))}")
    if max_age is not None and max_age < 0:
        raise ValueError("max_age must be >= 0")
    verifier, state, nonce = code_verifier(), secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    parameters = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope_with_openid(scope),
        "state": state,
        "nonce": nonce,
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
        **(extra or {}),
    }
    if prompt is not None:
        parameters["prompt"] = prompt
    if max_age is not None:
        parameters["max_age"] = str(max_age)
    return Draft(parameters, redirect_uri, state, nonce, verifier, max_age)


def with_query(endpoint: str, parameters: Mapping[str, str]) -> str:
    """``endpoint`` with ``parameters`` added, keeping a query it already has (OIDC Core
    §3.1.2.1 allows one)."""
    separator = "&" if urlsplit(endpoint).query else "?"
    return endpoint + separator + urlencode(parameters)


def callback_parameters(callback: str | Mapping[str, str]) -> dict[str, str]:
    """The response's parameters, from the callback URL (or its query) or a mapping."""
    if isinstance(callback, Mapping):
        return {str(k): str(v) for k, v in callback.items()}
    query = urlsplit(callback).query if "?" in callback or "://" in callback else callback
    parsed = parse_qs(query.lstrip("?"), keep_blank_values=True)
    repeated = sorted(name for name, values in parsed.items() if len(values) > 1)
    if repeated:  # RFC 6749 §3.1: parameters must not be included more than once
        raise AuthorizationResponseError(f"repeated parameters: {', '.join(repeated)}")
    return {name: values[0] for name, values in parsed.items()}


def authorization_code(
    callback: str | Mapping[str, str], request: AuthorizationRequest, issuer: str
) -> str:
    """The code in a callback that answers ``request`` from ``issuer``; else raise
    AuthorizationResponseError (AuthorizationRefusedError when the gateway said no)."""
    parameters = callback_parameters(callback)
    state = parameters.get("state", "")
    if not hmac.compare_digest(state.encode(), request.state.encode()):
        raise AuthorizationResponseError("state does not match the authorization request")
    iss = parameters.get("iss")
    if iss is None:
        raise AuthorizationResponseError("the response has no iss (RFC 9207)")
    if not hmac.compare_digest(iss.encode(), issuer.encode()):
        raise AuthorizationResponseError("the response is from another issuer (RFC 9207)")
    if "error" in parameters:
        raise AuthorizationRefusedError(
            parameters["error"],
            parameters.get("error_description", ""),
            parameters.get("error_uri"),
        )
    code = parameters.get("code")
    if not code:
        raise AuthorizationResponseError("the response carries neither a code nor an error")
    return code
