"""The alliance KPIs for the operator (``GET /v1/operator/kpis``): the figures the
alliance steers by, as of one moment.

Rates are ``None`` where their denominator is zero (nothing to divide). The stock KPIs
(unification, interoperability) count every person up to the gateway's sample size and
a sample by person id past it (:attr:`Kpis.sample` says which); the rate KPIs
(authorisation, withdrawal, rights requests) count the window of ``days`` ending now.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from sdk.calls import Call, Request, operation


class _Figures(BaseModel):
    model_config = ConfigDict(frozen=True)


class Window(_Figures):
    days: int
    since: datetime
    until: datetime


class Sample(_Figures):
    exact: bool  # True: the stock KPIs counted every person
    persons: int
    sampled: int  # persons the stock KPIs counted
    fraction: float


class Unification(_Figures):
    persons: int
    unified: int  # persons with two or more linked platform accounts
    rate: float | None


class Interoperability(_Figures):
    persons: int  # persons with at least one pushed attribute
    cross_platform: int  # ... whose attributes come from two or more platforms
    rate: float | None
    categories: int  # categories with at least one pushed attribute
    cross_platform_categories: int  # ... pushed by two or more platforms


class ConsentScreen(_Figures):
    asked: int
    given: int
    refused: int
    unanswered: int


class Authorisation(_Figures):
    asked: int  # consent_screen.asked + member_recorded
    given: int  # consent_screen.given + member_recorded
    rate: float | None
    consent_screen: ConsentScreen
    member_recorded: int  # consents members recorded through the API


class Withdrawal(_Figures):
    given: int
    withdrawn: int
    rate: float | None


class RightsRequests(_Figures):
    completed: int
    on_time: int
    rate: float | None
    open_overdue: int


class BrandEpsilon(_Figures):
    client_id: str
    name: str
    period: str | None  # the current budget period; None: no cap is set
    spent: float
    cap: float | None
    remaining: float | None


class Kpis(_Figures):
    at: datetime
    window: Window
    sample: Sample
    identity_unification: Unification
    interoperability: Interoperability
    authorisation: Authorisation
    withdrawal: Withdrawal
    rights_requests: RightsRequests
    epsilon_by_brand: list[BrandEpsilon]


class KpiOperations:
    @operation
    def kpis(self, days: int | None = None) -> Call[Kpis]:
        """The KPIs now; ``days`` (1 to the gateway's maximum) narrows or widens the
        rate KPIs' window (the gateway's default: 30)."""
        params = {"days": str(days)} if days is not None else None
        request = Request("GET", "/v1/operator/kpis", params=params, member_auth=True)
        return Call(request, lambda r: Kpis.model_validate(r.json()))
