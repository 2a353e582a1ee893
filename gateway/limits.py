"""Request size limits, enforced before any handler reads the body."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import CATALOG, PROBLEM_JSON, PayloadTooLarge, problem_body


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
                await _refuse(send, max_bytes)
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
                await _refuse(send, max_bytes)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replay_body(b"".join(chunks), receive), send)


def replay_body(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later reads wait for the disconnect, as usual

    return replay


def content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, max_bytes: int) -> None:
    entry = CATALOG[PayloadTooLarge]
    detail = f"The request body exceeds {max_bytes} bytes."
    body = json.dumps(problem_body(entry, detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": entry.status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
