"""Request size limits, enforced before any handler reads the request: the body
(:class:`BodyLimit`), and the query string and header fields (:class:`HeadLimit`).

uvicorn's default parser (httptools) refuses a request target over about 64 KiB, but
takes header fields of any size; the limits here are the gateway's own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import (
    CATALOG,
    PROBLEM_JSON,
    Entry,
    HeadersTooLarge,
    InvalidRequest,
    PayloadTooLarge,
    URITooLong,
    problem_body,
)

# A view may name up to 200 categories in its query (gateway/views/api.py): all 149 of
# the standard's take about 6 KiB. Nothing else comes near.
MAX_QUERY_BYTES = 16_384
MAX_QUERY_PARAMETERS = 256
# Every header field line together, names included: a cookie, a client assertion and
# a DPoP proof fit many times over (the common proxy default is 4 x 8 KiB).
MAX_HEADER_BYTES = 32_768


class HeadLimit:
    """Refuse a query string over :data:`MAX_QUERY_BYTES` (414) or with more than
    :data:`MAX_QUERY_PARAMETERS` parameters (400), and header fields over
    :data:`MAX_HEADER_BYTES` together (431), before anything parses them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = refusal_of_head(scope)
            if refusal is not None:
                await send_problem(send, *refusal, close=True)
                return
        await self.app(scope, receive, send)


def refusal_of_head(scope: Scope) -> tuple[Entry, str] | None:
    query: bytes = scope.get("query_string", b"")
    if len(query) > MAX_QUERY_BYTES:
        return CATALOG[URITooLong], f"The query string exceeds {MAX_QUERY_BYTES} bytes."
    if query and sum(1 for pair in query.split(b"&") if pair) > MAX_QUERY_PARAMETERS:
        detail = f"The query has more than {MAX_QUERY_PARAMETERS} parameters."
        return CATALOG[InvalidRequest], detail
    size = sum(len(name) + len(value) + 4 for name, value in scope.get("headers", []))
    if size > MAX_HEADER_BYTES:
        detail = f"The header fields exceed {MAX_HEADER_BYTES} bytes together."
        return CATALOG[HeadersTooLarge], detail
    return None


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413, whether declared or streamed (chunked).

    A declared length is checked up front (the server enforces it). A body without
    one is read here, at most ``max_bytes + 1`` bytes, and replayed to the app:
    frameworks turn errors raised while they read a body into 400s, and an oversized
    request must be a 413 that no handler ever sees.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, wider: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.wider = wider or {}  # exact path -> its own limit (bulk uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.wider.get(scope.get("path", ""), self.max_bytes)
        declared = content_length(scope)
        if declared is not None:
            if declared > max_bytes:
                await _too_large(send, max_bytes)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # disconnect: nothing to serve
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                await _too_large(send, max_bytes)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replay_body(b"".join(chunks), receive), send)


def replay_body(body: bytes, receive: Receive, *, more: bool = False) -> Receive:
    """``receive`` as if ``body`` had not been read yet; ``more``: the rest of the body
    is still to come from ``receive``."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()  # later reads wait for the disconnect, as usual

    return replay


async def read_body(receive: Receive, max_bytes: int) -> tuple[bytes, bool] | None:
    """The body, read until it ends or passes ``max_bytes``: (what was read, whether
    that is all of it); None when the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > max_bytes:
            return b"".join(chunks), False


def content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send, max_bytes: int) -> None:
    detail = f"The request body exceeds {max_bytes} bytes."
    await send_problem(send, CATALOG[PayloadTooLarge], detail, close=True)


async def send_problem(
    send: Send,
    entry: Entry,
    detail: str,
    headers: Iterable[tuple[str, str]] = (),
    *,
    close: bool = False,
) -> None:
    """A problem response sent from a middleware, in front of the framework; ``close``
    when the request's body was left unread."""
    body = json.dumps(problem_body(entry, detail)).encode()
    fields = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in headers),
    ]
    if close:
        fields.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": entry.status, "headers": fields})
    await send({"type": "http.response.body", "body": body})
