"""The request being served, as every log line written while serving it sees it.

A context variable, not a global: each request runs in a task of its own (and the
threads it hands work to get a copy of its context), so each sees only its own. The
object in it is mutable on purpose: what is learnt deeper down (which client
authenticated) is seen by the request edge that writes the access line.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass
class RequestContext:
    request_id: str
    method: str
    route: str | None = None  # the route template, once routed
    client_id: str | None = None  # the authenticated member's client id, once known


# Where the request edge leaves the id in the ASGI scope, for what answers outside it
# (the handler of unhandled errors runs in Starlette's outermost middleware).
REQUEST_ID_KEY = "accord.request_id"

_current: ContextVar[RequestContext | None] = ContextVar("accord_request", default=None)


def current() -> RequestContext | None:
    return _current.get()


def enter(context: RequestContext) -> Token[RequestContext | None]:
    return _current.set(context)


def leave(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


def note_client(client_id: str) -> None:
    """The request's client authenticated as ``client_id`` (a member, never a person)."""
    context = _current.get()
    if context is not None:
        context.client_id = client_id
