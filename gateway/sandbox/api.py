"""The sandbox API: brands ask aggregates and read their budget; the operator sets it.

``POST /v1/sandbox/queries``, ``GET /v1/sandbox/budget``, ``GET /v1/sandbox/dimensions``
(brands); ``PUT|GET /v1/admin/brands/{ref}/budget`` (the operator).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from consent.budget import Cap, Ledger, Period
from consent.errors import BudgetExceeded
from gateway.budget.store import SqlBudgetStore
from gateway.db import utcnow
from gateway.edge import OperatorRoute, RuntimeDep, SessionDep
from gateway.errors import InvalidRequest
from gateway.members.auth import BrandDep, MemberRoute
from gateway.members.models import MemberKind
from gateway.members.registry import Registry
from gateway.ratelimit.guard import member_limit
from gateway.sandbox.query import DEFAULT_MAX_TAGS, dimensions, measurable, parse
from gateway.sandbox.service import Sandbox, budget_body, population


def _sandbox(session: SessionDep, rt: RuntimeDep) -> Sandbox:
    return Sandbox(session, rt.sessions, rt.settings.sandbox_min_group)


SandboxDep = Annotated[Sandbox, Depends(_sandbox)]


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epsilon: float = Field(ge=0, le=1000, allow_inf_nan=False)
    period: Literal["month", "total"] = "month"


def router() -> APIRouter:
    api = APIRouter(prefix="/v1/sandbox", tags=["sandbox"], route_class=MemberRoute)

    @api.post(
        "/queries",
        summary="Ask a differentially private aggregate",
        dependencies=[member_limit("sandbox")],  # per brand, before anything is charged
    )
    def ask(
        body: Annotated[Any, Body()], brand: BrandDep, sandbox: SandboxDep, rt: RuntimeDep
    ) -> dict[str, Any]:
        query = parse(body, rt.standard)
        fresh = body.get("fresh", False)
        if not isinstance(fresh, bool):
            raise InvalidRequest("fresh is true or false")
        return sandbox.ask(brand, query, utcnow(), fresh=fresh).body

    @api.get("/budget", summary="The brand's privacy budget in this period")
    def budget(brand: BrandDep, sandbox: SandboxDep) -> dict[str, Any]:
        try:
            return budget_body(sandbox.budget(brand, utcnow()))
        except BudgetExceeded:  # no cap set: nothing may be released
            return {
                "period": None,
                "epsilon_cap": 0.0,
                "epsilon_spent": 0.0,
                "epsilon_remaining": 0.0,
            }

    @api.get("/dimensions", summary="What queries may group, filter and measure by")
    def listing(_: BrandDep, rt: RuntimeDep) -> dict[str, Any]:
        return {
            "dimensions": [
                {"key": d.key, "kind": d.kind.value, "values": list(d.values)}
                for d in dimensions(rt.standard).values()
            ],
            "measures": [
                {"category": key, "minimum": low, "maximum": high}
                for key, (low, high) in measurable(rt.standard).items()
            ],
            "default_max_tags": DEFAULT_MAX_TAGS,
            "threshold": rt.settings.sandbox_min_group,
        }

    return api


def operator_router() -> APIRouter:
    api = APIRouter(prefix="/v1/admin", tags=["sandbox"], route_class=OperatorRoute)

    @api.put("/brands/{ref}/budget", summary="Set a brand's sandbox ε budget")
    def set_budget(ref: str, body: BudgetIn, session: SessionDep, rt: RuntimeDep) -> dict[str, Any]:
        brand = Registry(session, rt.standard, rt.hasher).find(MemberKind.brand, ref)
        store = SqlBudgetStore(session)
        store.set_cap(Cap(population(brand), Period(body.period), body.epsilon, 0.0))
        return budget_body(Ledger(store).spent(population(brand), utcnow()))

    @api.get("/brands/{ref}/budget", summary="A brand's sandbox ε budget")
    def get_budget(ref: str, session: SessionDep, rt: RuntimeDep) -> dict[str, Any]:
        brand = Registry(session, rt.standard, rt.hasher).find(MemberKind.brand, ref)
        return budget_body(Ledger(SqlBudgetStore(session)).spent(population(brand), utcnow()))

    return api
