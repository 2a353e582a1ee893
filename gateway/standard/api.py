"""``GET /v1/schema``: the versioned data standard and the attribute JSON Schema.

Rendered once per process (the standard does not change while it runs) and served
with a strong ETag, so members can poll it cheaply.
"""

from __future__ import annotations

import gzip
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

    @cached_property
    def compressed(self) -> dict[bytes, bytes]:
        # Compressed once: the middleware would redo ~7 ms of work on every request.
        return {body: gzip.compress(body, mtime=0) for body in (self.document, self.attributes)}


def _dumps(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _serve(request: Request, rendered: Rendered, body: bytes, media_type: str) -> Response:
    headers = {
        "ETag": rendered.etag,
        "Cache-Control": "public, max-age=300",
        "Vary": "Accept-Encoding",
        "X-Accord-Standard-Version": rendered.standard.version,
    }
    if rendered.etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    if _accepts_gzip(request.headers.get("accept-encoding", "")):
        headers["Content-Encoding"] = "gzip"
        body = rendered.compressed[body]
    return Response(body, media_type=media_type, headers=headers)


def _accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() == "gzip":
            return params.replace(" ", "").lower() not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False


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
