"""The thin Starlette adapter: HTTP requests in, Authlib's ``OAuth2Request`` out, and
Authlib's ``(status, body, headers)`` back as a response in the gateway's error format.

Parameters are read from the query (GET) or a form body (POST) only, never both; a
parameter sent twice is refused (RFC 6749 §3.1, §3.2), and so is an oversized one.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import Scope

from gateway.errors import PROBLEM_JSON, Entry, InvalidRequest, problem_body

FORM = "application/x-www-form-urlencoded"
MAX_PARAMETERS = 40
MAX_VALUE = 4096  # a client assertion or a request_uri fits; a 1 MB "state" does not
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# Public titles of the OAuth error codes (RFC 6749 §4.1.2.1, §5.2; RFC 7009; OIDC Core
# §3.1.2.6; RFC 9126), as the gateway's error catalog words them.
OAUTH_TITLES = {
    "invalid_request": "The request is malformed.",
    "invalid_client": "Client authentication failed.",
    "invalid_grant": "The grant is invalid, expired, revoked or was issued to another client.",
    "unauthorized_client": "The client may not use this grant or response type.",
    "unsupported_grant_type": "The grant type is not supported.",
    "unsupported_response_type": "The response type is not supported.",
    "unsupported_token_type": "The token type is not supported.",
    "invalid_scope": "The scope is invalid or beyond what the client may ask for.",
    "access_denied": "The person or the platform refused the request.",
    "login_required": "The person must sign in.",
    "consent_required": "The person must consent.",
    "interaction_required": "The person must interact with the gateway.",
    "invalid_request_uri": "The request_uri is invalid, expired or already used.",
    "invalid_token": "The access token is invalid, expired or revoked.",
    "invalid_target": "The requested audience is unknown or may not be served.",
    "server_error": "The gateway failed to handle the request.",
}


class Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, params: dict[str, list[str]]) -> None:
        self._datalist = defaultdict(list, params)
        self._data = {key: values[0] for key, values in params.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class FormRequest(OAuth2Request):  # type: ignore[misc]
    """An OAuth request whose parameters were read and checked already."""

    def __init__(self, method: str, uri: str, headers: Headers, params: dict[str, list[str]]):
        super().__init__(method, uri, headers=headers)
        self.payload = Payload(params)

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data


def parameters(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    if len(pairs) > MAX_PARAMETERS:
        raise InvalidRequest(f"at most {MAX_PARAMETERS} parameters")
    params: dict[str, list[str]] = {}
    for key, value in pairs:
        if len(value) > MAX_VALUE or len(key) > 64:
            raise InvalidRequest(f"parameter {key[:64]!r} is longer than {MAX_VALUE} characters")
        if key in params:
            raise InvalidRequest(f"parameter {key!r} is repeated (RFC 6749 §3.2)")
        params[key] = [value]
    return params


async def read(request: Request, issuer: str) -> FormRequest:
    """The OAuth request of an HTTP request: query for GET, form body for POST."""
    body = b"" if request.method == "GET" else await request.body()
    return form_request(request.scope, request.headers, body, issuer)


def form_request(scope: Scope, headers: Headers, body: bytes, issuer: str) -> FormRequest:
    """:func:`read`, given the body already read."""
    uri = issuer + scope["path"]
    query = scope["query_string"].decode("latin-1")
    method = scope["method"]
    if method == "GET":
        pairs = parse_qsl(query, keep_blank_values=True)
    else:
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != FORM:
            raise InvalidRequest(f"send the parameters as {FORM}")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest("the form body is not UTF-8") from None
        pairs = parse_qsl(text, keep_blank_values=True)
        if query:
            raise InvalidRequest("send the parameters in the body, not the query")
    return FormRequest(method, uri, headers, parameters(pairs))


def respond(status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
    """Authlib's answer as a response; errors in the gateway's problem format."""
    extra = {k: v for k, v in headers if k.lower() in {"www-authenticate", "location"}}
    if 300 <= status < 400:
        return RedirectResponse(extra["Location"], status_code=status, headers=NO_STORE)
    if status >= 400 and isinstance(body, dict) and "error" in body:
        code = str(body["error"])
        entry = Entry(status, code, OAUTH_TITLES.get(code, "The request failed."))
        problem = problem_body(entry, body.get("error_description"))
        return JSONResponse(
            problem,
            status_code=status,
            headers={**NO_STORE, **extra},
            media_type=PROBLEM_JSON,
        )
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **extra})
