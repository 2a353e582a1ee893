"""An ASGI endpoint receiving pushed SETs (RFC 8935), for any ASGI server.

It answers 202 to a SET it verified and handled (RFC 8935 §2.2) and 400 with an
``err`` code from RFC 8935 §2.4 to one it refuses (§2.3); a SET pushed twice (the
gateway delivers at least once) reaches the handler once.
"""

from __future__ import annotations

import hmac
import inspect
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from sdk.events import SET_MEDIA_TYPE, SecurityEvent, SetError, verify_set

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[SecurityEvent], Awaitable[None] | None]
JwksProvider = Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]

MAX_SET_BYTES = 65_536
REMEMBERED_JTIS = 10_000
REFRESH_EVERY = 30.0  # seconds: an unknown kid refetches the JWKS at most this often


class _Receiver:
    def __init__(
        self,
        handler: Handler,
        *,
        jwks: Mapping[str, Any] | None,
        jwks_provider: JwksProvider | None,
        issuer: str,
        audience: str,
        authorization: str | None,
    ) -> None:
        self.handler = handler
        self.provider = jwks_provider
        self.issuer = issuer
        self.audience = audience
        self.authorization = authorization
        self.jwks = jwks
        self.fetched_at = float("-inf")
        self.seen: OrderedDict[str, None] = OrderedDict()  # recent jtis, oldest first

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            status, body = await self._answer(scope, receive)
            await _respond(send, status, body)

    async def _answer(
        self, scope: MutableMapping[str, Any], receive: Receive
    ) -> tuple[int, dict[str, str] | None]:
        if scope["method"] != "POST":
            return 405, None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            if self.authorization is not None and not hmac.compare_digest(
                headers.get("authorization", "").encode(), self.authorization.encode()
            ):
                raise SetError("authentication_failed", "the transmitter is not authenticated")
            body = await _read(receive, MAX_SET_BYTES)
            if body is None:
                return 413, None
            media_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type != SET_MEDIA_TYPE:
                raise SetError("invalid_request", f"Content-Type must be {SET_MEDIA_TYPE}")
            event = await self._verify(body)
        except SetError as exc:  # RFC 8935 §2.3: 400 with a JSON body naming the error
            return 400, {"err": exc.err, "description": exc.description}
        if event.jti not in self.seen:  # a SET delivered twice is handled once
            try:
                outcome = self.handler(event)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:  # not accepted: the transmitter retries it later
                return 500, None
            self.seen[event.jti] = None
            while len(self.seen) > REMEMBERED_JTIS:
                self.seen.popitem(last=False)
        return 202, None

    async def _verify(self, body: bytes) -> SecurityEvent:
        jwks = self.jwks if self.jwks is not None else await self._fetch()
        try:
            return verify_set(body, jwks=jwks, issuer=self.issuer, audience=self.audience)
        except SetError as exc:
            # A key rotated since the last fetch: fetch again (not too often) and retry once.
            if exc.err != "invalid_key" or self.provider is None:
                raise
            if time.monotonic() - self.fetched_at < REFRESH_EVERY:
                raise
            jwks = await self._fetch()
            return verify_set(body, jwks=jwks, issuer=self.issuer, audience=self.audience)

    async def _fetch(self) -> Mapping[str, Any]:
        if self.provider is None:
            raise SetError("invalid_key", "no JWKS to verify with")
        fetched = self.provider()
        jwks = await fetched if inspect.isawaitable(fetched) else fetched
        self.jwks, self.fetched_at = jwks, time.monotonic()
        return jwks


def set_receiver(
    handler: Handler,
    *,
    issuer: str,
    audience: str,
    jwks: Mapping[str, Any] | None = None,
    jwks_provider: JwksProvider | None = None,
    authorization: str | None = None,
) -> Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]:
    """An ASGI app receiving pushed SETs for ``handler`` (sync or async).

    ``authorization`` is the exact Authorization header value the stream was created
    with; a push without it is refused with ``authentication_failed``. SETs are
    deduplicated by ``jti`` among the last 10,000 in this process; a handler that
    raises makes the answer 500, so the gateway delivers the SET again later.
    """
    if (jwks is None) == (jwks_provider is None):
        raise ValueError("pass exactly one of jwks= and jwks_provider=")
    return _Receiver(
        handler,
        jwks=jwks,
        jwks_provider=jwks_provider,
        issuer=issuer,
        audience=audience,
        authorization=authorization,
    )


async def _read(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: dict[str, str] | None) -> None:
    content = json.dumps(body).encode() if body is not None else b""
    headers = [(b"content-length", str(len(content)).encode())]
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
