"""The SDK's error hierarchy.

Every error the gateway returns is an RFC 9457 problem document carrying the OAuth
``error`` code; :func:`error_from_response` maps it to one class per HTTP status and
keeps the code, description and the whole body.
"""

from __future__ import annotations

from typing import Any

import httpx


class AccordError(Exception):
    """Root of every error the SDK raises."""


class TransportError(AccordError):
    """The gateway could not be reached (connection refused, timeout, TLS)."""


class ResponseError(AccordError):
    """The gateway answered with something the SDK cannot read."""


class AuthorizationResponseError(AccordError):
    """The redirect back from the gateway is not the answer to this request: its ``state``
    or ``iss`` does not match (RFC 6749 §10.12, RFC 9207 §2.4), or it carries no code.
    Nothing in it may be used."""


class AuthorizationRefusedError(AuthorizationResponseError):
    """The gateway answered the authorization request with an error (RFC 6749 §4.1.2.1):
    ``code`` is its OAuth error, e.g. ``access_denied`` or ``login_required``."""

    def __init__(self, code: str, description: str = "", uri: str | None = None) -> None:
        self.code = code
        self.description = description
        self.uri = uri
        super().__init__(f"{code}: {description}" if description else code)


class IDTokenError(AccordError, ValueError):
    """An ID token failed verification (OIDC Core §3.1.3.7); none of its claims may be
    trusted. The message names the check that failed."""


class APIError(AccordError):
    """The gateway refused the request; ``code`` is its OAuth-style error code."""

    def __init__(
        self, status: int, code: str, description: str, body: dict[str, Any] | None = None
    ) -> None:
        self.status = status
        self.code = code
        self.description = description
        self.body = body or {}
        super().__init__(f"{status} {code}: {description}")


class BadRequestError(APIError):
    """400: malformed or unacceptable input."""


class AuthenticationError(APIError):
    """401: missing or invalid credentials."""


class PermissionDeniedError(APIError):
    """403: the credential does not allow this."""


class NotFoundError(APIError):
    """404: no such resource (or one the caller may not know exists)."""


class ConflictError(APIError):
    """409: conflicts with existing data, e.g. a name already taken."""


class GoneError(APIError):
    """410: no longer usable, e.g. an expired sign-in challenge."""


class PayloadTooLargeError(APIError):
    """413: the request body is over the gateway's limit."""


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` seconds, when the gateway said."""

    retry_after: float | None = None


class ServerError(APIError):
    """5xx: the gateway failed or is not ready; the request may be retried."""


class ServiceUnavailableError(ServerError):
    """503: the gateway cannot serve this now (its database is unreachable, or the worker
    is at its limit of requests); retry after ``retry_after`` seconds, when it said."""

    retry_after: float | None = None


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}


def error_from_problem(status: int, body: dict[str, Any], reason: str = "") -> APIError:
    """The error a problem document describes (a response's, or one item's of a batch)."""
    code = str(body.get("error") or "http_error")
    description = str(body.get("error_description") or body.get("detail") or reason)
    if status == 503:
        cls: type[APIError] = ServiceUnavailableError
    else:
        cls = ServerError if status >= 500 else _BY_STATUS.get(status, APIError)
    return cls(status, code, description, body)


def error_from_response(response: httpx.Response) -> APIError:
    body: dict[str, Any] | None = None
    try:
        loaded = response.json()
        body = loaded if isinstance(loaded, dict) else None
    except ValueError:
        body = None
    error = error_from_problem(response.status_code, body or {}, response.reason_phrase or "")
    if isinstance(error, RateLimitError | ServiceUnavailableError):
        try:
            error.retry_after = float(response.headers.get("retry-after", ""))
        except ValueError:
            error.retry_after = None
    return error
