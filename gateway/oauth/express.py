"""The express lane: token requests that write nothing, answered from what the worker
remembers (:mod:`gateway.oauth.remembered`), in front of the framework.

Two requests qualify: client_credentials issuance at ``/token`` and introspection at
``/introspect``. They are by far the most frequent (every resource server call may
introspect), they write nothing, and once a worker remembers the client and the
token's state they need no database: the work left is client authentication, one
signature and one JSON answer, done on the event loop, with no thread hop.

The lane runs the same provider as the routes in :mod:`gateway.oauth.api`, built on a
stand-in session (:func:`gateway.db.no_session`). Whenever it cannot answer from
memory alone (an unknown client, a token not seen before, ``private_key_jwt`` whose
``jti`` must be spent, a counter not read lately, a malformed request), it steps aside
and the request goes through the framework's route untouched, body included, as if
the lane were not there. So every answer, errors included, is the route's answer.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.db import NeedsDatabase, no_session
from gateway.errors import GatewayError
from gateway.limits import content_length, replay_body
from gateway.oauth import http
from gateway.oauth.http import FormRequest
from gateway.oauth.server import Provider
from gateway.observability.requests import mark_route
from gateway.runtime import Runtime

ACTIONS = {"/token": "token", "/introspect": "introspection"}


def answer(provider: Provider, form: FormRequest, action: str) -> Response:
    """What the provider answers to a token-endpoint request (``action`` as in Authlib)."""
    if action == "token":
        response: Response = provider.create_token_response(form)
    else:
        response = provider.create_endpoint_response(action, form)
    return response


def from_memory(rt: Runtime, form: FormRequest, action: str) -> Response | None:
    """The answer from memory alone, or None when it needs the database."""
    if action == "token" and form.form.get("grant_type") != "client_credentials":
        return None
    if rt.changes.tag() is None:  # the counter was not read lately: trust nothing
        return None
    try:
        return answer(Provider(no_session(), rt), form, action)
    except NeedsDatabase:
        return None


class ExpressLane:
    """ASGI middleware: answer what it can from memory, pass the rest on."""

    def __init__(self, app: ASGIApp, runtime: Runtime, max_bytes: int) -> None:
        self.app = app
        self.rt = runtime
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        action = ACTIONS.get(scope.get("path", "")) if scope["type"] == "http" else None
        declared = content_length(scope) if action is not None else None
        if action is None or scope["method"] != "POST" or declared is None:
            await self.app(scope, receive, send)
            return
        if declared > self.max_bytes:
            await self.app(scope, receive, send)  # refused as too large by the app
            return
        body = await _read(receive)
        if body is None:  # the client went away
            return
        try:
            form = http.form_request(scope, Headers(scope=scope), body, self.rt.settings.issuer)
            response = from_memory(self.rt, form, action)
        except GatewayError:  # malformed: the route words the error
            response = None
        if response is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        mark_route(scope, scope["path"])  # the lane answers for the route of that path
        await response(scope, receive, send)


async def _read(receive: Receive) -> bytes | None:
    """The whole body (its length was declared and checked, and the server holds the
    client to it); None on a disconnect."""
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
