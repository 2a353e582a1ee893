"""The member as an OpenID Connect relying party of the gateway.

Sign-in is two calls around the browser's round trip::

    request = client.start_sign_in("https://shop.example/cb", pushed=True)
    # keep ``request`` in the app's session, redirect the browser to request.url
    signed_in = client.finish_sign_in(callback_url, request)
    signed_in.claims.sub  # the verified ID token's pairwise subject

then :meth:`~RelyingPartyOperations.refresh_tokens` (rotation: store the refresh token
it returns, the old one is spent), :meth:`~RelyingPartyOperations.exchange_token`
(RFC 8693), :meth:`~RelyingPartyOperations.userinfo`,
:meth:`~RelyingPartyOperations.revoke_token` (RFC 7009) and
:meth:`~RelyingPartyOperations.logout_url` (RP-Initiated Logout 1.0). Endpoints come
from the discovery document and keys from its JWKS, both cached on the client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Literal, TypeVar

import httpx

from sdk.auth import ClientAuth
from sdk.authorization import AuthorizationRequest, authorization_code, draft, with_query
from sdk.calls import Call, Request, Steps, operation
from sdk.discovery import ProviderMetadata, endpoint_path, fetch_metadata
from sdk.errors import IDTokenError, ResponseError
from sdk.id_token import LEEWAY, Expected, IDToken, read_header, verify_id_token
from sdk.jwks import KeyCache, UnsuitableKey, fetch_jwks
from sdk.tokens import (
    ACCESS_TOKEN,
    TOKEN_EXCHANGE,
    ExchangedToken,
    SignIn,
    TokenSet,
    UserInfo,
    exchanged_token,
    token_set,
)

T = TypeVar("T")


def _pushed(response: httpx.Response) -> tuple[str, int]:
    body = response.json()
    uri, expires_in = body["request_uri"], body["expires_in"]
    if not isinstance(uri, str) or not isinstance(expires_in, int):
        raise ValueError("not a pushed authorization response (RFC 9126 §2.2)")
    return uri, expires_in


class RelyingPartyOperations:
    """Signing people in with the gateway and using the tokens it issues.

    ``jwks_refetch_interval`` (seconds) bounds how often an unknown ``kid`` may refetch
    the JWKS, ``jwks_max_age`` how long a fetched JWKS is used, ``id_token_leeway`` the
    clock skew allowed; set them on a client before its first verification, or set
    ``key_cache`` to a :class:`~sdk.jwks.KeyCache` of your own (one shared by clients)."""

    issuer: str
    auth: ClientAuth | None
    jwks_refetch_interval: float = 60.0
    jwks_max_age: float = 3600.0
    id_token_leeway: int = LEEWAY
    key_cache: KeyCache | None = None
    _provider: ProviderMetadata | None = None

    # --- the steps every operation shares ----------------------------------------------

    def _client_id(self) -> str:
        if self.auth is None:
            raise ValueError("relying-party calls need the client's credentials: pass auth=")
        return self.auth.client_id

    def _metadata(self) -> Steps[ProviderMetadata]:
        if self._provider is not None:
            return self._provider
        metadata: ProviderMetadata = yield fetch_metadata(self.issuer)
        self._provider = metadata
        return metadata

    def _key_cache(self) -> KeyCache:
        if self.key_cache is None:
            self.key_cache = KeyCache(
                refetch_interval=self.jwks_refetch_interval, max_age=self.jwks_max_age
            )
        return self.key_cache

    def _token(self, form: Mapping[str, str], parse: Callable[[httpx.Response], T]) -> Steps[T]:
        """POST a client-authenticated form to the token endpoint."""
        metadata = yield from self._metadata()
        path = endpoint_path(metadata, "token_endpoint")
        result: T = yield Call(Request("POST", path, form=form, client_auth=True), parse)
        return result

    def _verified(self, id_token: str, expected: Expected) -> Steps[IDToken]:
        metadata = yield from self._metadata()
        header = read_header(id_token)
        cache = self._key_cache()
        jwks = fetch_jwks(endpoint_path(metadata, "jwks_uri"))
        if cache.stale():
            cache.load((yield jwks))
        elif not cache.knows(header.kid) and cache.claim_refetch():
            try:
                cache.load((yield jwks))  # perhaps a rotation: one refetch per interval
            finally:
                cache.end_refetch()
        try:
            key = cache.key(header.kid, header.alg)
        except KeyError:
            raise IDTokenError(f"no key {header.kid!r} in the gateway's JWKS") from None
        except UnsuitableKey as exc:
            raise IDTokenError(str(exc)) from None
        return verify_id_token(id_token, key, header, expected)

    def _expected(
        self,
        metadata: ProviderMetadata,
        *,
        nonce: str | None = None,
        access_token: str | None = None,
        max_age: int | None = None,
    ) -> Expected:
        return Expected(
            issuer=metadata.issuer,
            client_id=self._client_id(),
            nonce=nonce,
            access_token=access_token,
            max_age=max_age,
            leeway=self.id_token_leeway,
        )

    # --- sign-in ---------------------------------------------------------------------

    @operation
    def openid_configuration(self) -> Steps[ProviderMetadata]:
        """The gateway's discovery document (fetched once, then cached)."""
        return (yield from self._metadata())

    @operation
    def start_sign_in(
        self,
        redirect_uri: str,
        *,
        scope: str | Iterable[str] = "openid",
        pushed: bool = False,
        prompt: str | None = None,
        max_age: int | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> Steps[AuthorizationRequest]:
        """A new authorization request (PKCE S256, ``state``, ``nonce``; ``openid`` is
        always in the scope). ``pushed`` sends it by PAR (RFC 9126), so the browser's URL
        holds only a ``request_uri``."""
        client_id = self._client_id()
        attempt = draft(client_id, redirect_uri, scope, prompt=prompt, max_age=max_age, extra=extra)
        metadata = yield from self._metadata()
        if not pushed:
            return attempt.request(with_query(metadata.authorization_endpoint, attempt.parameters))
        path = endpoint_path(metadata, "pushed_authorization_request_endpoint")
        push = Call(Request("POST", path, form=attempt.parameters, client_auth=True), _pushed)
        request_uri, expires_in = yield push
        url = with_query(
            metadata.authorization_endpoint, {"client_id": client_id, "request_uri": request_uri}
        )
        return attempt.request(url, expires_in)

    @operation
    def finish_sign_in(
        self, callback: str | Mapping[str, str], request: AuthorizationRequest
    ) -> Steps[SignIn]:
        """Check the redirect back (``state``, RFC 9207 ``iss``, or the gateway's error),
        redeem the code and verify the ID token against ``request``."""
        code = authorization_code(callback, request, self.issuer)  # before any I/O
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
            "code_verifier": request.code_verifier,
        }
        tokens = yield from self._token(form, token_set)
        if tokens.id_token is None:
            raise IDTokenError("the token response holds no ID token")
        metadata = yield from self._metadata()
        expected = self._expected(
            metadata,
            nonce=request.nonce,
            access_token=tokens.access_token,
            max_age=request.max_age,
        )
        claims = yield from self._verified(tokens.id_token, expected)
        return SignIn(tokens=tokens, claims=claims)

    @operation
    def verify_id_token(
        self,
        id_token: str,
        *,
        nonce: str | None,
        access_token: str | None = None,
        max_age: int | None = None,
    ) -> Steps[IDToken]:
        """Verify an ID token from this gateway for this client; ``nonce`` is the
        authorization request's (None only for a token that answers none, e.g. a
        refresh)."""
        metadata = yield from self._metadata()
        expected = self._expected(metadata, nonce=nonce, access_token=access_token, max_age=max_age)
        return (yield from self._verified(id_token, expected))

    # --- using the tokens --------------------------------------------------------------

    @operation
    def refresh_tokens(self, refresh_token: str, *, scope: str | None = None) -> Steps[TokenSet]:
        """New tokens for a refresh token. The gateway rotates it: store the
        ``refresh_token`` returned, the one sent can no longer be used."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if scope is not None:
            form["scope"] = scope
        tokens = yield from self._token(form, token_set)
        if tokens.id_token is not None:  # OIDC Core §12.2: verified, with no nonce
            metadata = yield from self._metadata()
            expected = self._expected(metadata, access_token=tokens.access_token)
            yield from self._verified(tokens.id_token, expected)
        if tokens.refresh_token is None:  # RFC 6749 §6: not rotated, the old one stays
            tokens = tokens.model_copy(update={"refresh_token": refresh_token})
        return tokens

    @operation
    def exchange_token(
        self, subject_token: str, audience: str, *, scope: str | None = None
    ) -> Steps[ExchangedToken]:
        """Token exchange (RFC 8693): an access token issued to this client for one
        usable by the member ``audience`` (its client_id)."""
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN,
            "audience": audience,
        }
        if scope is not None:
            form["scope"] = scope
        return (yield from self._token(form, exchanged_token))

    @operation
    def userinfo(self, access_token: str, *, sub: str | None = None) -> Steps[UserInfo]:
        """The UserInfo claims for an access token; pass the ID token's ``sub`` to have
        it checked (OIDC Core §5.3.4: a mismatch means a substituted token)."""
        metadata = yield from self._metadata()
        headers = {"Authorization": f"Bearer {access_token}"}
        request = Request("GET", endpoint_path(metadata, "userinfo_endpoint"), headers=headers)

        def parse(response: httpx.Response) -> UserInfo:
            info = UserInfo.model_validate(response.json())
            if sub is not None and info.sub != sub:
                raise ValueError("the UserInfo sub is not the ID token's")
            return info

        info: UserInfo = yield Call(request, parse)
        return info

    @operation
    def revoke_token(
        self,
        token: str,
        *,
        token_type_hint: Literal["access_token", "refresh_token"] | None = None,
    ) -> Steps[None]:
        """Revoke a token (RFC 7009); a refresh token takes its whole grant with it."""
        metadata = yield from self._metadata()
        form = {"token": token}
        if token_type_hint is not None:
            form["token_type_hint"] = token_type_hint
        path = endpoint_path(metadata, "revocation_endpoint")
        yield Call(Request("POST", path, form=form, client_auth=True), lambda _: None)

    @operation
    def logout_url(
        self,
        *,
        id_token_hint: str | None = None,
        post_logout_redirect_uri: str | None = None,
        state: str | None = None,
        ui_locales: str | None = None,
    ) -> Steps[str]:
        """Where to send the browser to end its gateway session (OIDC RP-Initiated
        Logout 1.0 §2); ``post_logout_redirect_uri`` must be registered."""
        metadata = yield from self._metadata()
        endpoint = metadata.end_session_endpoint
        if not endpoint:
            raise ResponseError("the gateway publishes no end_session_endpoint")
        parameters = {
            "id_token_hint": id_token_hint,
            "client_id": self.auth.client_id if self.auth is not None else None,
            "post_logout_redirect_uri": post_logout_redirect_uri,
            "state": state,
            "ui_locales": ui_locales,
        }
        return with_query(endpoint, {k: v for k, v in parameters.items() if v is not None})
