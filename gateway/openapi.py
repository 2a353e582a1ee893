"""The OpenAPI document as the gateway answers, not as FastAPI guesses.

FastAPI declares ``422`` with its ``HTTPValidationError`` for every operation that takes
input, and no other error. The gateway never answers 422 for validation: every error
is an RFC 9457 problem document with the OAuth ``error`` members (gateway/errors.py),
400 for malformed input. So each API operation declares instead:

- ``4XX``: a ``Problem`` (400 malformed, 401 no or a bad credential, 403 not allowed,
  404 unknown, 409 conflict, 413/414/431 too large, 429 rate limited, ...);
- ``503``: a ``Problem`` with ``Retry-After`` (the database unreachable, the worker at
  its limit of requests).

The browser pages (tagged "sign-in pages" and "consent center") answer HTML: their
success and their errors are declared ``text/html``, and their redirects ``303``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from gateway.errors import PROBLEM_JSON

BROWSER_TAGS = frozenset({"sign-in pages", "consent center"})
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error: an RFC 9457 problem document with the OAuth error members "
    "(RFC 6749 §5.2).",
    "type": "object",
    "required": ["type", "title", "status", "error", "error_description"],
    "properties": {
        "type": {"type": "string", "description": "urn:accord:error:<error>"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "error": {"type": "string", "description": "the OAuth error code"},
        "error_description": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "each field at fault, for malformed input",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
HTML = {"text/html": {"schema": {"type": "string"}}}
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def install(app: FastAPI) -> None:
    """Make ``app.openapi`` answer the refined document (built once)."""
    build: Callable[[], dict[str, Any]] = app.openapi
    refined: list[dict[str, Any]] = []

    def document() -> dict[str, Any]:
        if not refined:
            refined.append(refine(build()))
        return refined[0]

    app.openapi = document  # type: ignore[method-assign]


def refine(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace every operation's 422 with the errors it really answers."""
    for item in schema.get("paths", {}).values():
        for method in METHODS:
            operation = item.get(method)
            if operation is not None:
                _declare_errors(operation)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    if not _refers(schema.get("paths", {}), "HTTPValidationError"):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
    return schema


def _declare_errors(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    if BROWSER_TAGS.intersection(operation.get("tags", ())):
        for status, answer in responses.items():
            if status.startswith("2"):
                answer["content"] = dict(HTML)
        responses.setdefault("303", {"description": "On to the next page (a redirect)"})
        responses["4XX"] = {"description": "An error page", "content": dict(HTML)}
        return
    problem = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
    responses["4XX"] = {
        "description": "The request is refused: a problem document says why",
        "content": problem,
    }
    responses["503"] = {
        "description": "Unavailable for now (the database, or the worker at its limit)",
        "headers": RETRY_AFTER,
        "content": problem,
    }


def _refers(node: Any, name: str) -> bool:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.endswith("/" + name):
            return True
        return any(_refers(value, name) for value in node.values())
    if isinstance(node, list):
        return any(_refers(value, name) for value in node)
    return False
