"""Attribute ingest for platforms, unified views for brands.

``POST /v1/attributes`` (platforms; ``Idempotency-Key`` required), ``GET
/v1/views/{sub}`` and ``POST /v1/views/batch`` (brands). Views are personal data: they
are never cached on the way (``Cache-Control: no-store``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gateway.db import transaction, utcnow
from gateway.edge import RuntimeDep, SessionDep
from gateway.errors import NotFound
from gateway.identity.persons import Persons
from gateway.members.auth import BrandDep, MemberRoute, PlatformDep
from gateway.members.models import Member
from gateway.runtime import Runtime
from gateway.views.ingest import MAX_KEY, AttributeRules, Ingest
from gateway.views.unified import MAX_SUBJECTS, View, Views, batch_body, view_body

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


def _read(
    rt: Runtime,
    brand: Member,
    purpose: str,
    subs: Sequence[str],
    categories: Sequence[str] | None,
    now: datetime,
) -> list[View | None]:
    """The views, read and then logged, the log committed before they are answered.

    The whole of a request's database work runs in this one thread hop. Each statement
    commits on its own (:attr:`Runtime.autocommit`): the reads would each see their own
    moment under READ COMMITTED anyway, and the one write, the access log's entries,
    comes last in a single statement, so an answer exists only once its entries do."""
    with transaction(rt.autocommit) as session:
        views = Views(
            session,
            rt.standard,
            rt.notices,
            reader=rt.autocommit,
            decided=rt.metrics.decided_all,
            slots=rt.read_ahead,
        )
        return views.read(brand, purpose, subs, categories, now)


def _batch(rt: Runtime, brand: Member, body: BatchIn, now: datetime) -> bytes:
    found = _read(rt, brand, body.purpose, body.subjects, body.categories, now)
    return batch_body(body.purpose, now, body.subjects, found)


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
    async def view(
        sub: Annotated[str, Path(min_length=1, max_length=64)],
        purpose: Annotated[str, Query(min_length=1, max_length=120)],
        brand: BrandDep,
        rt: RuntimeDep,
        category: Annotated[list[str] | None, Query(max_length=200)] = None,
    ) -> Response:
        now = utcnow()
        (found,) = await run_in_threadpool(_read, rt, brand, purpose, [sub], category, now)
        if found is None:
            raise NotFound(UNAVAILABLE)
        return _text(view_body(found, now))

    @api.post(
        "/views/batch",
        summary="The unified views of up to 1,000 subjects",
        response_class=Response,
    )
    async def views_batch(body: BatchIn, brand: BrandDep, rt: RuntimeDep) -> Response:
        body_bytes = await run_in_threadpool(_batch, rt, brand, body, utcnow())
        return Response(body_bytes, 200, headers=NO_STORE, media_type="application/json")

    return api
