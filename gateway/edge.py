"""The request edge: it reaches the runtime and owns each request's transaction."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlmodel import Session

from gateway.db import transaction
from gateway.errors import Unauthorized
from gateway.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def _runtime(request: Request) -> Runtime:
    return runtime(request)  # async: a dependency that does no I/O takes no thread hop


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


def _session(rt: RuntimeDep) -> Iterator[Session]:
    # scope="function": commit (or roll back) before the response leaves, so a client
    # never sees success for a write that did not land.
    with transaction(rt.sessions) as session:
        yield session


SessionDep = Annotated[Session, Depends(_session, scope="function")]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def require_operator(request: Request) -> None:
    """The admin API's credential: ``Authorization: Bearer <ACCORD_OPERATOR_TOKEN>``."""
    presented = _bearer(request)
    expected = runtime(request).settings.operator_token.get_secret_value()
    # Compare digests, so neither length nor content leaks through timing.
    if presented is None or not hmac.compare_digest(
        hashlib.sha256(presented.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    ):
        raise Unauthorized("a valid operator credential is required")


class OperatorRoute(APIRoute):
    """A route that checks the operator credential before anything else, the body
    included: an unauthenticated caller learns nothing about what it sent."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            require_operator(request)
            return await handler(request)

        return guarded


class PlainRoute(APIRoute):
    """A documented route whose endpoint takes the request as it is and returns a
    response: no dependency solved, no body parsed, no response model. For the busiest
    endpoints (the token endpoint), whose handlers read the request themselves."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return handler
