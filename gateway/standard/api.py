"""``GET /v1/schema``: the versioned data standard and the attribute JSON Schema.

Rendered once per process (the standard does not change while it runs) and served
with a strong ETag, so members can poll it cheaply.
"""

from __future__ import annotations

import json
from functools import cached_property

from fastapi import APIRouter, Request, Response

from consent.taxonomy import DataStandard, attribute_schema, to_document

router = APIRouter(tags=["data standard"])


class Rendered:
    def __init__(self, standard: DataStandard) -> None:
        self.standard = standard
        self.etag = '"' + standard.digest.removeprefix("sha256:") + '"'

    @cached_property
    def document(self) -> bytes:
        return _dumps(to_document(self.standard))

    @cached_property
    def attributes(self) -> bytes:
        return _dumps(attribute_schema(self.standard))


def _dumps(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _serve(request: Request, rendered: Rendered, body: bytes, media_type: str) -> Response:
    headers = {
        "ETag": rendered.etag,
        "Cache-Control": "public, max-age=300",
        "X-Accord-Standard-Version": rendered.standard.version,
    }
    if rendered.etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@router.get(
    "/v1/schema",
    summary="The alliance data standard: categories, interest tags, purposes",
    response_class=Response,
)
def schema(request: Request) -> Response:
    rendered: Rendered = request.app.state.rendered_standard
    return _serve(request, rendered, rendered.document, "application/json")


@router.get(
    "/v1/schema/attributes",
    summary="JSON Schema of a profile-attribute batch",
    response_class=Response,
)
def attributes(request: Request) -> Response:
    rendered: Rendered = request.app.state.rendered_standard
    return _serve(request, rendered, rendered.attributes, "application/schema+json")
