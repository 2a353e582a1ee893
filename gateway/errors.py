"""The gateway's error tree, its catalog, and the one wire format for errors.

Every error leaves as an RFC 9457 problem document that also carries the OAuth
``error`` / ``error_description`` members (RFC 6749 §5.2), so OAuth clients and
API clients read the same body. The catalog fixes status, code and title per error;
only the ``detail`` a raiser chooses is added, and it must be safe to show.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from consent.errors import ConsentError, catalog_entry
from gateway.observability.context import REQUEST_ID_KEY

log = logging.getLogger("accord.errors")

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Entry:
    status: int
    code: str
    title: str


class GatewayError(Exception):
    """Root of the gateway's errors. ``detail`` is public: never put secrets in it."""

    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail
        super().__init__(detail or type(self).__name__)

    def response_headers(self) -> dict[str, str]:
        """The headers its response carries; a subclass may add some of its own."""
        return dict(type(self).headers)


class InvalidRequest(GatewayError):
    pass


class Unauthorized(GatewayError):
    headers: ClassVar[dict[str, str]] = {
        "WWW-Authenticate": 'Bearer realm="accord", error="invalid_token"'
    }


class MissingToken(Unauthorized):
    """No credential at all: RFC 6750 §3.1 names no error code in the challenge then."""

    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="accord"'}


class Forbidden(GatewayError):
    pass


class InsufficientScope(Forbidden):
    headers: ClassVar[dict[str, str]] = {
        "WWW-Authenticate": 'Bearer realm="accord", error="insufficient_scope", scope="openid"'
    }


class NotFound(GatewayError):
    pass


class Conflict(GatewayError):
    pass


class PayloadTooLarge(GatewayError):
    pass


class URITooLong(GatewayError):
    pass


class HeadersTooLarge(GatewayError):
    pass


class RateLimited(GatewayError):
    """Over a rate limit (RFC 6585 §4): ``headers`` say when to come back (Retry-After)
    and which limit it is (the RateLimit fields of draft-ietf-httpapi-ratelimit-headers)."""

    def __init__(self, detail: str, headers: Mapping[str, str]) -> None:
        super().__init__(detail)
        self.limit_headers = dict(headers)

    def response_headers(self) -> dict[str, str]:
        return {**super().response_headers(), **self.limit_headers}


class KeyReused(GatewayError):
    """An Idempotency-Key sent again with another body (the IETF idempotency-key draft)."""


class InvalidRedirectURI(GatewayError):
    pass


class InvalidClientMetadata(GatewayError):
    pass


class NotReady(GatewayError):
    pass


class Unavailable(GatewayError):
    """The gateway cannot serve the request now (its database is unreachable or busy, or
    the worker is at its limit of requests); ``Retry-After`` says when to come back."""

    headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}


class ChallengeExpired(GatewayError):
    pass


class ChallengeUsed(Conflict):
    pass


CATALOG: dict[type[GatewayError], Entry] = {
    GatewayError: Entry(500, "server_error", "The gateway failed to handle the request."),
    InvalidRequest: Entry(400, "invalid_request", "The request is malformed."),
    Unauthorized: Entry(401, "invalid_token", "Authentication is required."),
    Forbidden: Entry(403, "access_denied", "The credential does not allow this."),
    InsufficientScope: Entry(
        403, "insufficient_scope", "The access token's scope does not allow this."
    ),
    NotFound: Entry(404, "not_found", "No such resource."),
    Conflict: Entry(409, "conflict", "The request conflicts with existing data."),
    PayloadTooLarge: Entry(413, "invalid_request", "The request body is too large."),
    URITooLong: Entry(414, "invalid_request", "The request URI is too long."),
    HeadersTooLarge: Entry(431, "invalid_request", "The request header fields are too large."),
    # RFC 6749 has no code for a rate limit and RFC 8628's slow_down is the device flow's
    # polling contract (add 5 s to the interval); temporarily_unavailable (§4.1.2.1) is
    # the registered "try again later". The 429 and Retry-After say which limit and when.
    RateLimited: Entry(
        429, "temporarily_unavailable", "Too many requests: a rate limit is reached."
    ),
    KeyReused: Entry(422, "invalid_request", "The idempotency key was used for another request."),
    # RFC 7591 §3.2.2 error codes for client (member) registration.
    InvalidRedirectURI: Entry(400, "invalid_redirect_uri", "A redirect URI is not acceptable."),
    InvalidClientMetadata: Entry(
        400, "invalid_client_metadata", "The registration data is not acceptable."
    ),
    NotReady: Entry(503, "temporarily_unavailable", "The gateway is not ready."),
    Unavailable: Entry(
        503, "temporarily_unavailable", "The gateway cannot serve this now; retry later."
    ),
    ChallengeExpired: Entry(410, "expired_challenge", "The sign-in challenge has expired."),
    ChallengeUsed: Entry(409, "challenge_used", "The sign-in challenge was already answered."),
}

# Framework errors (routing, methods, media types) by HTTP status.
_BY_STATUS: dict[int, Entry] = {
    400: CATALOG[InvalidRequest],
    401: CATALOG[Unauthorized],
    403: CATALOG[Forbidden],
    404: CATALOG[NotFound],
    405: Entry(405, "invalid_request", "The method is not allowed here."),
    406: Entry(406, "invalid_request", "No acceptable representation."),
    413: CATALOG[PayloadTooLarge],
    414: CATALOG[URITooLong],
    415: Entry(415, "invalid_request", "The media type is not supported."),
}


def entry_for(error: GatewayError) -> Entry:
    for cls in type(error).__mro__:
        if cls in CATALOG:
            return CATALOG[cls]
    return CATALOG[GatewayError]


# RFC 6749 §4.1.2.1 and §5.2: an error_description holds only %x20-21 / %x23-5B /
# %x5D-7E. The gateway's own details cite sections and name ε; a platform's rejection
# or a client's parameter may hold anything.
_SPELLED = str.maketrans(
    {"§": "section ", "ε": "epsilon", "δ": "delta", "≤": "<=", "≥": ">=", "×": "x",
     "—": "-", "–": "-", "’": "'", "‘": "'", "“": "'", "”": "'", '"': "'", "\\": "/",
     "\t": " ", "\n": " ", "\r": " "}
)  # fmt: skip


def oauth_text(text: str) -> str:
    """``text`` as an OAuth error_description may hold it: what has a plain spelling is
    spelled so, anything else outside the allowed characters becomes ``?``."""
    spelled = text.translate(_SPELLED)
    return "".join(c if 0x20 <= ord(c) <= 0x7E else "?" for c in spelled)


def problem_body(
    entry: Entry, detail: str | None = None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:accord:error:{entry.code}",
        "title": entry.title,
        "status": entry.status,
        "error": entry.code,
        "error_description": oauth_text(detail or entry.title),
    }
    if detail:
        body["detail"] = detail
    if extra:
        body.update(extra)
    return body


def problem_of(error: GatewayError | ConsentError) -> dict[str, Any]:
    """The problem document an error answers with, as a body (e.g. for one item of a
    batch); the same as the handlers below send."""
    if isinstance(error, GatewayError):
        return problem_body(entry_for(error), error.detail)
    consent = catalog_entry(error)
    detail = str(error) if consent.status < 500 else None
    return problem_body(Entry(consent.status, consent.code, consent.message), detail)


def problem(
    entry: Entry,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    return JSONResponse(
        problem_body(entry, detail, extra),
        status_code=entry.status,
        headers=headers,
        media_type=PROBLEM_JSON,
    )


def install(app: FastAPI) -> None:
    """Route every error the app can raise to :func:`problem`."""

    @app.exception_handler(GatewayError)
    async def _gateway(_: Request, exc: GatewayError) -> JSONResponse:
        entry = entry_for(exc)
        if entry.status >= 500:
            log.error("gateway error", exc_info=exc)
        return problem(entry, exc.detail, headers=exc.response_headers() or None)

    @app.exception_handler(ConsentError)
    async def _consent(_: Request, exc: ConsentError) -> JSONResponse:
        # The raiser's message names the rule and the keys at fault, never personal data.
        body = problem_of(exc)
        if body["status"] >= 500:
            log.error("consent error", exc_info=exc)
        return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Name the fields and what is wrong with them; never echo the input back.
        errors = [
            {"field": ".".join(str(p) for p in error.get("loc", ())), "message": error["msg"]}
            for error in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem(CATALOG[InvalidRequest], detail, extra={"errors": errors[:50]})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        entry = _BY_STATUS.get(exc.status_code) or Entry(
            exc.status_code, "invalid_request" if exc.status_code < 500 else "server_error", ""
        )
        return problem(entry, headers=dict(exc.headers) if exc.headers else None)

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        if not storage_unavailable(exc):
            return _server_error(request, exc)
        # An outage, not a bug: one line without the traceback, and a 503 to retry.
        log.warning(
            "database unavailable: %s",
            type(getattr(exc, "orig", None) or exc).__name__,
            extra={"request_id": request.scope.get(REQUEST_ID_KEY)},
        )
        return problem(
            CATALOG[Unavailable],
            "The gateway's database is unavailable; retry later.",
            headers=Unavailable().response_headers(),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _server_error(request, exc)


def _server_error(request: Request, exc: Exception) -> JSONResponse:
    # Answered outside the request edge's middleware: the request id comes from the
    # scope, for the log line and for the response the client can quote.
    request_id = request.scope.get(REQUEST_ID_KEY)
    log.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
    headers = {"X-Request-ID": request_id} if isinstance(request_id, str) else None
    return problem(CATALOG[GatewayError], headers=headers)


# SQLite's errors of a database that is there but cannot be used now; any other
# OperationalError (no such table, a syntax error) is a bug and stays a 500.
_SQLITE_TRANSIENT = ("database is locked", "database is busy", "unable to open", "disk i/o")


def storage_unavailable(exc: BaseException) -> bool:
    """Whether a database error means "unreachable or busy now" rather than a bug: the
    pool's timeout, a connection lost or refused, a server shutting down or cancelling
    a statement, SQLite's lock timeout."""
    if isinstance(exc, SATimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        if isinstance(orig, psycopg.OperationalError):
            return True
        if isinstance(orig, sqlite3.OperationalError):
            return str(orig).lower().startswith(_SQLITE_TRANSIENT)
    return False
