"""Pushed authorization requests (RFC 9126).

The client posts its authorization request to ``/par``, authenticated, and receives a
``request_uri`` to send the browser with instead; the request is validated when pushed
(so errors reach the client directly, not through the browser), kept only as a hash of
its URI, and used once. A client registered with ``require_pushed_authorization_requests``
is refused any other way in.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.endpoint import Endpoint
from sqlalchemy import delete

from gateway.db import core
from gateway.oauth.clients import AUTH_METHODS, Client
from gateway.oauth.http import FormRequest
from gateway.oauth.models import PushedRequest
from gateway.oauth.sessions import new_handle

if TYPE_CHECKING:
    from gateway.oauth.server import Provider

PUSHED = core(PushedRequest)
URN = "urn:ietf:params:oauth:request_uri:"
LIFETIME = timedelta(seconds=60)
CLIENT_AUTH = {"client_secret", "client_assertion", "client_assertion_type"}


class InvalidRequestURI(OAuth2Error):  # type: ignore[misc]
    error = "invalid_request_uri"  # RFC 9126 §2.3 via RFC 9101


class PushedAuthorization(Endpoint):  # type: ignore[misc]
    """``/par``: validate and keep an authorization request, answer its ``request_uri``."""

    ENDPOINT_NAME = "pushed_authorization"

    def __init__(self, provider: Provider) -> None:
        super().__init__(provider)
        self.provider = provider

    def create_endpoint_response(self, form: FormRequest) -> tuple[int, Any, list[Any]]:
        provider = self.provider
        try:
            client: Client = provider.authenticate_client(form, AUTH_METHODS, self.ENDPOINT_NAME)
            data = form.payload.data
            if "request_uri" in data:
                raise InvalidRequestError("request_uri is not allowed in a pushed request")
            if data.get("client_id", client.client_id) != client.client_id:
                raise InvalidRequestError("client_id does not match the authenticated client")
            parameters = {k: v for k, v in data.items() if k not in CLIENT_AUTH}
            parameters["client_id"] = client.client_id
            request = FormRequest(form.method, form.uri, form.headers, _lists(parameters))
            provider.get_consent_grant(request, end_user=_Validating())  # all but sign-in
        except OAuth2Error as error:
            error.redirect_uri = None  # answered to the client itself, never by redirect
            raise
        handle = new_handle()
        provider.session.execute(
            PUSHED.insert().values(
                id=provider.rt.hasher.hash(handle),
                member_id=client.member.id,
                parameters=parameters,
                expires_at=provider.now() + LIFETIME,
            )
        )
        body = {"request_uri": URN + handle, "expires_in": int(LIFETIME.total_seconds())}
        return 201, body, []


def resolve(provider: Provider, form: FormRequest) -> tuple[FormRequest, bool]:
    """The authorization request a ``request_uri`` stands for (used up), or the request
    as sent; and whether it was pushed."""
    data = form.payload.data
    uri = data.get("request_uri")
    if uri is None:
        return form, False
    if not isinstance(uri, str) or not uri.startswith(URN):
        raise InvalidRequestURI("request_uri is not one this server issued")
    key = provider.rt.hasher.hash(uri.removeprefix(URN))
    # Taken in one statement, so two uses of one request_uri cannot both get it.
    row = provider.session.execute(
        delete(PUSHED).where(PUSHED.c.id == key).returning(PUSHED.c.parameters, PUSHED.c.expires_at)
    ).first()
    if row is None or row.expires_at <= provider.now():
        raise InvalidRequestURI("request_uri is unknown, expired or already used")
    parameters: dict[str, Any] = row.parameters
    if data.get("client_id") != parameters.get("client_id"):
        raise InvalidRequestURI("request_uri was pushed by another client")
    return FormRequest(form.method, form.uri, form.headers, _lists(parameters)), True


def _lists(parameters: dict[str, Any]) -> dict[str, list[str]]:
    return {key: [str(value)] for key, value in parameters.items()}


class _Validating:
    """Stands in for a signed-in person while a pushed request is checked."""
