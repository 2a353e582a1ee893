"""The request edge's telemetry: a request id, the latency histogram, the access line,
and (when on) the request's span. Pure ASGI, outermost of the app's middleware, so what
the express lane answers from memory is measured like the rest.

**Request id.** An incoming ``X-Request-ID`` is kept when it is 1-64 characters of
``A-Z a-z 0-9 . _ -`` and nothing in it looks like a credential (a JWT, a long random
string); otherwise a fresh one is made. Either way it is in the response's
``X-Request-ID``, in every log line written while serving the request, and in the scope
(:data:`REQUEST_ID_KEY`) for the error handler that answers an unhandled exception
outside this middleware.

**Route.** The route's template (``/v1/views/{sub}``), never the path, which holds
subjects and ids. A request no route matched is ``unmatched``. The express lane marks
what it answers with :func:`mark_route`.

**Access line.** ``accord.access`` at INFO: method, route, status, duration, and the
client once authenticated. No query string, no path, no client address.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from typing import Any

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.observability import context
from gateway.observability.context import REQUEST_ID_KEY
from gateway.observability.metrics import METHODS, Metrics
from gateway.observability.redaction import redact
from gateway.observability.tracing import Tracing

log = logging.getLogger("accord.access")

HEADER = b"x-request-id"
SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
ROUTE_KEY = "accord.route"
UNMATCHED = "unmatched"
_PREFIX = os.urandom(8).hex()  # each process its own: spawned workers import anew
_COUNT = itertools.count()


def _reseed() -> None:
    global _PREFIX, _COUNT  # a forked child must not repeat its parent's ids
    _PREFIX, _COUNT = os.urandom(8).hex(), itertools.count()


os.register_at_fork(after_in_child=_reseed)


def mark_route(scope: Scope, template: str) -> None:
    """Name the route that answered, for a request answered before routing."""
    scope[ROUTE_KEY] = template


def request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            offered: str = value.decode("latin-1")
            if SAFE_ID.fullmatch(offered) and redact(offered) == offered:
                return offered
            break
    return fresh_request_id()


def fresh_request_id() -> str:
    """32 hexadecimal digits, unique across processes: this process's random prefix
    (64 bits) and its count of requests. A correlation id, not a secret, so no system
    call for randomness per request (``uuid4`` took some 8 µs of a token's 300)."""
    return f"{_PREFIX}{next(_COUNT):016x}"


def route_of(scope: Scope) -> str:
    marked = scope.get(ROUTE_KEY)
    if isinstance(marked, str):
        return marked
    route = scope.get("route")  # FastAPI's routes put themselves here when they match
    template = getattr(route, "path_format", None)
    if isinstance(template, str):
        return template
    endpoint = scope.get("endpoint")  # Starlette's plain routes (the OpenAPI pages) do not
    if endpoint is not None:
        for candidate in getattr(scope.get("app"), "routes", ()):
            if isinstance(candidate, Route) and candidate.endpoint is endpoint:
                return str(candidate.path_format)
    return UNMATCHED


class RequestTelemetry:
    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        access_log: bool = True,
        tracing: Tracing | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope)
        scope[REQUEST_ID_KEY] = rid
        method = scope["method"] if scope["method"] in METHODS else "other"
        here = context.RequestContext(rid, method)
        token = context.enter(here)
        span = self.tracing.begin(method, scope.get("headers", [])) if self.tracing else None
        status = 500  # unless a response starts
        failed = False
        stamp = (HEADER, rid.encode("ascii"))

        async def stamped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() != HEADER]
                message = {**message, "headers": [*headers, stamp]}
            await send(message)

        try:
            await self.app(scope, receive, stamped)
        except BaseException:
            failed = True
            raise
        finally:
            seconds = time.perf_counter() - started
            route = here.route = route_of(scope)
            self.metrics.request(method, route, status, seconds)
            if self.access_log:
                self._access(method, route, status, seconds)
            if span is not None:
                span.end(method, route, status, rid, failed)
            context.leave(token)

    @staticmethod
    def _access(method: str, route: str, status: int, seconds: float) -> None:
        extra: dict[str, Any] = {
            "method": method,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
        }
        log.info("%s %s %s", method, route, status, extra=extra)
