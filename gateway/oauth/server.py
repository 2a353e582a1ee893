"""The OpenID Provider: Authlib's ``AuthorizationServer`` with our grants, endpoints,
client authentication and tokens registered on it.

A provider is built per request around that request's database session (building one
is a few list appends); grants and endpoints reach storage through it. Extending the
provider means registering another grant or endpoint here, never an ``if`` in a route.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749 import OAuth2Request
from sqlmodel import Session
from starlette.responses import Response

from gateway.db import utcnow
from gateway.errors import GatewayError
from gateway.identity.persons import Persons
from gateway.members.auth import verify_assertion
from gateway.members.models import MemberKind
from gateway.oauth import grants, http
from gateway.oauth.clients import Client, load_client
from gateway.oauth.endpoints import Introspection, Revocation
from gateway.oauth.exchange import TokenExchangeGrant
from gateway.oauth.pushed import PushedAuthorization
from gateway.oauth.store import Store, Subject
from gateway.oauth.tokens import AccessClaims, Lifetimes, Signer
from gateway.observability.context import note_client
from gateway.runtime import Runtime
from gateway.secret_hash import new_secret

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def lifetimes(rt: Runtime) -> Lifetimes:
    s = rt.settings
    return _lifetimes(s.access_token_ttl, s.id_token_ttl, s.refresh_token_ttl, s.code_ttl)


@functools.cache
def _lifetimes(access: int, id_token: int, refresh: int, code: int) -> Lifetimes:
    return Lifetimes(
        access=timedelta(seconds=access),
        id_token=timedelta(seconds=id_token),
        refresh=timedelta(seconds=refresh),
        code=timedelta(seconds=code),
    )


class Issuer:
    """RFC 9207: ``iss`` in every authorization response, errors included."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def __call__(self, server: AuthorizationServer) -> Issuer:
        server.register_hook("after_create_authorization_response", self.add)
        return self

    def add(self, _server: AuthorizationServer, response: Response) -> None:
        location = response.headers.get("location")
        if location:
            response.headers["location"] = add_params_to_uri(location, [("iss", self.issuer)])


class Provider(AuthorizationServer):  # type: ignore[misc]
    def __init__(
        self, session: Session, rt: Runtime, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        super().__init__()
        self.session = session
        self.rt = rt
        self.issuer = rt.settings.issuer
        self.now = clock
        self.lifetimes = lifetimes(rt)
        self.store = Store(session, rt.hasher, rt.remembered)
        self.signer = Signer(rt.keys, self.issuer, self.lifetimes, rt.remembered)
        self._subs: dict[tuple[str, str], str] = {}
        self.persons = Persons(session, rt.settings.pairwise_key.get_secret_value().encode())
        self.register_client_auth_method("private_key_jwt", self._private_key_jwt)
        self.register_grant(
            grants.AuthorizationCodeGrant, [grants.RequiredS256(), grants.OpenIDCode(self)]
        )
        self.register_grant(grants.RefreshTokenGrant)
        self.register_grant(grants.ClientCredentialsGrant)
        self.register_grant(TokenExchangeGrant)
        self.register_endpoint(Introspection(self))
        self.register_endpoint(Revocation(self))
        self.register_endpoint(PushedAuthorization(self))
        self.register_extension(Issuer(self.issuer))

    # --- what Authlib asks of a framework integration -------------------------------------

    def get_authorization_grant(self, request: OAuth2Request) -> Any:
        _printable(request, "response_type")
        return super().get_authorization_grant(request)

    def get_token_grant(self, request: OAuth2Request) -> Any:
        _printable(request, "grant_type")
        return super().get_token_grant(request)

    def query_client(self, client_id: str) -> Client | None:
        rt = self.rt
        return load_client(self.session, rt.hasher, rt.standard, client_id, rt.remembered)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if not isinstance(request, OAuth2Request):
            raise TypeError("the adapter hands over requests already read")
        return request

    def create_json_request(self, request: Any) -> Any:
        """Authlib reads JSON only for dynamic client registration (RFC 7591), which the
        provider does not serve: members are registered by the operator."""
        raise TypeError("the provider has no JSON endpoints")

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        return http.respond(status, body, headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal bus: what must happen after an event is done by the grant itself."""

    def authenticate_client(self, request: Any, methods: Any, endpoint: str = "token") -> Client:
        client: Client = super().authenticate_client(request, methods, endpoint)
        note_client(client.client_id)  # the request's log lines name the member
        return client

    # --- tokens ---------------------------------------------------------------------

    def generate_token(
        self,
        grant_type: str,
        client: Client,
        user: Subject | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        now = self.now()
        self.rt.metrics.token_issued(grant_type)
        if user is None:  # the client's own token
            claims = AccessClaims(client.client_id, client.client_id, scope or "", self.issuer)
        else:
            claims = AccessClaims(
                client_id=client.client_id,
                sub=self.sub_for(user, client),
                scope=scope or "",
                audience=self.issuer,
                grant_id=user.grant_id,
                auth_time=int(user.auth_time.timestamp()),
                acr=user.acr,
                amr=list(user.amr) or None,
            )
        access, seconds = self.signer.access_token(claims, client.member.signing_alg, now=now)
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": seconds,
        }
        if scope:
            token["scope"] = scope
        if include_refresh_token and user is not None:
            token["refresh_token"] = new_secret()
        return token

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        refresh = token.get("refresh_token")
        if refresh:
            self.store.save_refresh(
                refresh, request.user, now=self.now(), ttl=self.lifetimes.refresh
            )

    # --- claims about the person --------------------------------------------------------

    def live_subject(self, claims: dict[str, Any]) -> Subject | None:
        """The person behind a verified access token (one naming a grant), unless the
        token or its grant was revoked."""
        grant_id = claims.get("gid")
        if not isinstance(grant_id, str) or self.store.access_revoked(str(claims["jti"]), None):
            return None
        found = self.store.grant(grant_id)
        return None if found is None or found[1] else found[0]

    def sub_for(self, subject: Subject, client: Client) -> str:
        """The client's pairwise ``sub``, remembered so it can name the person later."""
        key = (subject.person_id, client.member.id)
        if key not in self._subs:  # the access and the ID token of one response share it
            self._subs[key] = self.persons.subject(subject.person_id, client.member)
        return self._subs[key]

    def platform_claims(self, subject: Subject, client: Client) -> dict[str, str]:
        """A platform also learns its own user id for the person, and nothing more."""
        if client.member.kind != MemberKind.platform:
            return {}
        account = self.persons.account_at(subject.person_id, client.member.id)
        return {"platform_user_id": account} if account else {}

    def session_claim(self, session_id: str, client: Client) -> str:
        """``sid`` for one client: the session, without the cookie's hash and without
        letting two clients correlate it."""
        key = self.rt.settings.secret_key.get_secret_value().encode()
        digest = hmac.new(key, f"sid|{client.client_id}|{session_id}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()[:18]).decode("ascii")

    # --- client authentication ------------------------------------------------------------

    def _private_key_jwt(self, query_client: Any, request: OAuth2Request) -> Client | None:
        """``private_key_jwt`` (RFC 7523 §2.2): the assertion's audience is the issuer or
        the endpoint called; its ``jti`` is spent whatever happens next."""
        form = request.form
        assertion = form.get("client_assertion")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
            return None
        try:
            member = verify_assertion(self.session, self.rt, assertion, [self.issuer, request.uri])
        except GatewayError:
            return None
        claimed = form.get("client_id")
        if claimed is not None and claimed != member.client_id:
            return None
        client: Client | None = query_client(member.client_id)
        return client


def _printable(request: OAuth2Request, name: str) -> None:
    """Percent-encode a parameter holding characters an error description may not (RFC
    6749 §4.1.2.1: %x20-21 / %x23-5B / %x5D-7E). Authlib words its refusal of an
    unsupported response or grant type with the value, and then refuses its own words
    (a ValueError: a 500); an encoded value is refused as unsupported like any other."""
    data = request.payload.data
    value = data.get(name)
    if isinstance(value, str) and invalid_error_characters(value):
        data[name] = quote(value, safe="")
