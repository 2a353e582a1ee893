"""Attribute ingest for platforms, unified views for brands.

``POST /v1/attributes`` (platforms; ``Idempotency-Key`` required), ``GET
/v1/views/{sub}`` and ``POST /v1/views/batch`` (brands). Views are personal data: they
are never cached on the way (``Cache-Control: no-store``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gateway.db import utcnow
from gateway.edge import RuntimeDep, SessionDep
from gateway.errors import NotFound
from gateway.identity.persons import Persons
from gateway.members.auth import BrandDep, MemberRoute, PlatformDep
from gateway.runtime import Runtime
from gateway.views.ingest import MAX_KEY, AttributeRules, Ingest
from gateway.views.unified import MAX_SUBJECTS, Views, batch_item, view_body

NO_STORE = {"Cache-Control": "no-store"}
ATTRIBUTES_PATH = "/v1/attributes"
UNAVAILABLE = "no view is available for this subject and purpose"


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(min_length=1, max_length=120)
    subjects: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=MAX_SUBJECTS
    )
    categories: list[Annotated[str, Field(min_length=1, max_length=120)]] | None = Field(
        default=None, max_length=200
    )


def _persons(rt: Runtime, session: SessionDep) -> Persons:
    return Persons(session, rt.settings.pairwise_key.get_secret_value().encode())


def _views(session: SessionDep, rt: RuntimeDep) -> Views:
    return Views(
        session,
        rt.standard,
        _persons(rt, session),
        reader=rt.sessions,
        decided=rt.metrics.decided_all,
        slots=rt.read_ahead,
    )


ViewsDep = Annotated[Views, Depends(_views)]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(
        payload, status, headers={**NO_STORE, **(headers or {})}, media_type="application/json"
    )


def _text(body: str) -> Response:
    return Response(body.encode("utf-8"), 200, headers=NO_STORE, media_type="application/json")


def router() -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["views"], route_class=MemberRoute)

    @api.post(
        "/attributes",
        summary="Push profile attributes (1 to 10,000 records) under the data standard",
        response_class=Response,
    )
    async def push_attributes(
        request: Request,
        platform: PlatformDep,
        session: SessionDep,
        rt: RuntimeDep,
        idempotency_key: Annotated[str, Header(min_length=1, max_length=MAX_KEY)],
    ) -> Response:
        body = await request.body()
        rules: AttributeRules = request.app.state.attribute_rules
        ingest = Ingest(session, rules, _persons(rt, session))
        answer = await run_in_threadpool(ingest.push, platform.id, idempotency_key, body)
        headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
        return _json(answer.body, answer.status, headers)

    @api.get("/views/{sub}", summary="The unified view of one subject", response_class=Response)
    def view(
        sub: Annotated[str, Path(min_length=1, max_length=64)],
        purpose: Annotated[str, Query(min_length=1, max_length=120)],
        brand: BrandDep,
        views: ViewsDep,
        category: Annotated[list[str] | None, Query(max_length=200)] = None,
    ) -> Response:
        now = utcnow()
        (found,) = views.read(brand, purpose, [sub], category, now)
        if found is None:
            raise NotFound(UNAVAILABLE)
        return _text(view_body(found, now))

    @api.post(
        "/views/batch",
        summary="The unified views of up to 1,000 subjects",
        response_class=Response,
    )
    def views_batch(body: BatchIn, brand: BrandDep, views: ViewsDep) -> Response:
        now = utcnow()
        found = views.read(brand, body.purpose, body.subjects, body.categories, now)
        items = ",".join(batch_item(s, v) for s, v in zip(body.subjects, found, strict=True))
        head = json.dumps({"purpose": body.purpose, "as_of": now.isoformat()})[:-1]
        return _text(f'{head},"views":[{items}]}}')

    return api
