"""The operator's KPI read-outs: ``GET /v1/operator/kpis`` (JSON) and ``GET /metrics``
(Prometheus text format), both behind the operator credential (Prometheus sends it as
``authorization: {type: Bearer, ...}`` in its scrape config). Definitions: ``docs/kpis.md``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from gateway.edge import OperatorRoute, RuntimeDep, SessionDep
from gateway.operator import metrics
from gateway.operator.figures import Snapshot
from gateway.operator.kpis import DEFAULT_DAYS, MAX_DAYS, Kpis

Days = Annotated[
    int,
    Query(ge=1, le=MAX_DAYS, description="the window of the rate KPIs, in days, ending now"),
]


class WindowOut(BaseModel):
    days: int
    since: datetime
    until: datetime


class SampleOut(BaseModel):
    exact: bool = Field(description="true: the stock KPIs counted every person")
    persons: int
    sampled: int = Field(description="persons the stock KPIs counted")
    fraction: float


class UnificationOut(BaseModel):
    persons: int
    unified: int = Field(description="persons with two or more linked platform accounts")
    rate: float | None


class InteroperabilityOut(BaseModel):
    persons: int = Field(description="persons with at least one pushed attribute")
    cross_platform: int = Field(description="... whose attributes come from 2+ platforms")
    rate: float | None
    categories: int = Field(description="categories with at least one pushed attribute")
    cross_platform_categories: int = Field(description="... pushed by 2+ platforms")


class ConsentScreenOut(BaseModel):
    asked: int
    given: int
    refused: int
    unanswered: int


class AuthorisationOut(BaseModel):
    asked: int = Field(description="consent_screen.asked + member_recorded")
    given: int = Field(description="consent_screen.given + member_recorded")
    rate: float | None
    consent_screen: ConsentScreenOut
    member_recorded: int = Field(description="consents members recorded through the API")


class WithdrawalOut(BaseModel):
    given: int
    withdrawn: int
    rate: float | None


class RightsOut(BaseModel):
    completed: int
    on_time: int
    rate: float | None
    open_overdue: int


class BrandEpsilonOut(BaseModel):
    client_id: str
    name: str
    period: str | None = Field(description="the current budget period; null: no cap is set")
    spent: float
    cap: float | None
    remaining: float | None


class KpisOut(BaseModel):
    at: datetime
    window: WindowOut
    sample: SampleOut
    identity_unification: UnificationOut
    interoperability: InteroperabilityOut
    authorisation: AuthorisationOut
    withdrawal: WithdrawalOut
    rights_requests: RightsOut
    epsilon_by_brand: list[BrandEpsilonOut]


def kpis_out(snap: Snapshot) -> KpisOut:
    unification, interop, auth = snap.unification, snap.interoperability, snap.authorisation
    return KpisOut(
        at=snap.at,
        window=WindowOut(days=snap.days, since=snap.since, until=snap.at),
        sample=SampleOut(
            exact=snap.sample.exact,
            persons=snap.sample.persons,
            sampled=snap.sample.sampled,
            fraction=snap.sample.fraction,
        ),
        identity_unification=UnificationOut(
            persons=unification.persons, unified=unification.unified, rate=unification.rate
        ),
        interoperability=InteroperabilityOut(
            persons=interop.persons,
            cross_platform=interop.cross_platform,
            rate=interop.rate,
            categories=interop.categories,
            cross_platform_categories=interop.cross_platform_categories,
        ),
        authorisation=AuthorisationOut(
            asked=auth.asked,
            given=auth.given,
            rate=auth.rate,
            consent_screen=ConsentScreenOut(
                asked=auth.screen_asked,
                given=auth.screen_given,
                refused=auth.screen_refused,
                unanswered=auth.screen_unanswered,
            ),
            member_recorded=auth.member_recorded,
        ),
        withdrawal=WithdrawalOut(
            given=snap.withdrawal.given,
            withdrawn=snap.withdrawal.withdrawn,
            rate=snap.withdrawal.rate,
        ),
        rights_requests=RightsOut(
            completed=snap.rights.completed,
            on_time=snap.rights.on_time,
            rate=snap.rights.rate,
            open_overdue=snap.rights.open_overdue,
        ),
        epsilon_by_brand=[
            BrandEpsilonOut(
                client_id=b.client_id,
                name=b.name,
                period=b.period,
                spent=b.spent,
                cap=b.cap,
                remaining=b.remaining,
            )
            for b in snap.budgets
        ],
    )


def router() -> APIRouter:
    api = APIRouter(tags=["operator: KPIs"], route_class=OperatorRoute)

    @api.get("/v1/operator/kpis", response_model=KpisOut)
    def kpis(session: SessionDep, days: Days = DEFAULT_DAYS) -> KpisOut:
        """The alliance KPIs now; the rates over the last ``days`` days."""
        return kpis_out(Kpis(session).snapshot(days))

    @api.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {metrics.CONTENT_TYPE: {}}}},
    )
    def prometheus(session: SessionDep, rt: RuntimeDep, days: Days = DEFAULT_DAYS) -> Response:
        """The same KPIs as Prometheus gauges, counted at scrape time; then the live
        metrics (request latency, tokens, consent decisions, SET delivery, ε spent)."""
        body = metrics.exposition(Kpis(session), days, rt.metrics.collector())
        return Response(body, media_type=metrics.CONTENT_TYPE)

    return api
