"""The sandbox: a brand's query answered with differential privacy, charged first.

1. The query is checked (:mod:`gateway.sandbox.query`).
2. An identical query already released this budget period is answered from that
   release at no charge, unless the brand asks for a ``fresh`` one (docs/sandbox.md,
   "Repeated queries": re-running would let averaging cancel the noise).
3. The exact aggregates are computed in SQL (:mod:`gateway.sandbox.aggregate`) over
   the whole group domain the standard defines; OpenDP adds the noise
   (:mod:`gateway.sandbox.noise`) and states the ε it spends.
4. That ε is charged to the brand's budget (``consent.budget``), atomically against its
   cap, in the transaction that stores the release; an exhausted budget is refused,
   stating what remains, and nothing is released.
5. Groups whose noisy count is under the threshold are suppressed (post-processing).

Every query is logged in ``sandbox_query``: released, cached or refused. A refusal is
logged in its own transaction, so it stays when the request's transaction rolls back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import select
from sqlmodel import Session

from consent.budget import Charge, Ledger, Spent
from consent.errors import BudgetExceeded
from gateway.budget.store import SqlBudgetStore
from gateway.consents.notices import Notices
from gateway.db import SessionFactory, core, transaction
from gateway.members.models import Member
from gateway.sandbox import aggregate, noise
from gateway.sandbox.models import SandboxQuery
from gateway.sandbox.query import Measure, Query

LOG = core(SandboxQuery)
ACCOUNTANT = "opendp-laplace"  # pure ε-DP, basic composition in the ledger


def population(brand: Member) -> str:
    return f"brand:{brand.id}"


@dataclass(frozen=True)
class Answer:
    body: dict[str, Any]
    cached: bool


class Sandbox:
    def __init__(self, session: Session, sessions: SessionFactory, min_group: int) -> None:
        self.session = session
        self.sessions = sessions  # for logging a refusal in its own transaction
        self.min_group = min_group
        self.ledger = Ledger(SqlBudgetStore(session))

    def budget(self, brand: Member, now: datetime) -> Spent:
        return self.ledger.spent(population(brand), now)

    def ask(self, brand: Member, query: Query, now: datetime, *, fresh: bool = False) -> Answer:
        try:
            spent = self.budget(brand, now)
        except BudgetExceeded as refused:  # no cap set: no release, ever
            self._refuse(brand, query, "none", now, str(refused))
        if not fresh:
            earlier = self._released(brand, query, spent.period)
            if earlier is not None:
                self._log(brand, query, spent.period, "cached", now, release_id=earlier[0])
                return Answer({**earlier[1], "cached": True, "epsilon_charged": 0.0}, cached=True)
        if spent.remaining_epsilon < query.epsilon:
            self._refuse(brand, query, spent.period, now, _short(spent, query))
        exact = aggregate.exact(
            self.session, query, brand.id, Notices(self.session).current_versions(), now
        )
        groups = query.domain()
        counts = [exact.get(g, (0, 0.0))[0] for g in groups]
        sums = [exact.get(g, (0, 0.0))[1] for g in groups]
        release_id = str(uuid.uuid4())
        released, mechanism = self._noise(query, counts, sums)
        try:
            after = self.ledger.charge(
                Charge(
                    population=population(brand),
                    epsilon=mechanism["epsilon"],
                    delta=0.0,
                    accountant=ACCOUNTANT,
                    release=f"sandbox query {release_id}",
                    at=now,
                    details={"query": query.digest, "mechanism": mechanism},
                    charge_id=release_id,
                )
            )
        except BudgetExceeded as refused:  # a concurrent release took what was left
            self._refuse(brand, query, spent.period, now, str(refused))
        body = {
            "query_id": release_id,
            "released_at": now.isoformat(),
            "cached": False,
            "query": query.canonical,
            "epsilon_charged": mechanism["epsilon"],
            "budget": budget_body(after),
            "threshold": self.min_group,
            "mechanism": mechanism,
            "groups": [self._group(query, group, released, n) for n, group in enumerate(groups)],
        }
        self.session.execute(
            LOG.insert().values(
                id=release_id,
                brand_id=brand.id,
                query_hash=query.digest,
                query=query.canonical,
                period=spent.period,
                outcome="released",
                epsilon=mechanism["epsilon"],
                charge_id=release_id,
                result=body,
                at=now,
            )
        )
        return Answer(body, cached=False)

    def _noise(
        self, query: Query, counts: list[int], sums: list[float]
    ) -> tuple[dict[str, list[Any]], dict[str, Any]]:
        k = query.groups_per_person
        if query.measure is Measure.COUNT:
            release = noise.count_release(counts, groups_per_person=k, epsilon=query.epsilon)
            return {"count": list(release.values)}, {
                "epsilon": release.epsilon,
                "count": _described(release),
            }
        mean = noise.mean_release(
            counts,
            sums,
            groups_per_person=k,
            lower=query.lower,
            upper=query.upper,
            epsilon=query.epsilon,
        )
        return (
            {
                "count": list(mean.counts.values),
                "sum": list(mean.sums.values),
                "mean": list(mean.means),
            },
            {
                "epsilon": mean.epsilon,
                "count": _described(mean.counts),
                "sum": _described(mean.sums),
            },
        )

    def _group(
        self, query: Query, group: tuple[str, ...], released: dict[str, list[Any]], n: int
    ) -> dict[str, Any]:
        key = {d.key: value for d, value in zip(query.group_by, group, strict=True)}
        count = int(released["count"][n])
        if count < self.min_group:
            return {"key": key, "suppressed": True}
        out: dict[str, Any] = {"key": key, "suppressed": False, "count": count}
        if query.measure is Measure.SUM:
            out["sum"] = round(float(released["sum"][n]), 6)
        elif query.measure is Measure.MEAN:
            out["mean"] = round(float(released["mean"][n]), 6)
        return out

    def _released(
        self, brand: Member, query: Query, period: str
    ) -> tuple[str, dict[str, Any]] | None:
        row = self.session.execute(
            select(LOG.c.id, LOG.c.result)
            .where(
                LOG.c.brand_id == brand.id,
                LOG.c.query_hash == query.digest,
                LOG.c.period == period,
                LOG.c.outcome == "released",
            )
            .order_by(LOG.c.at.desc())
            .limit(1)
        ).first()
        return (str(row[0]), dict(row[1])) if row is not None else None

    def _log(
        self,
        brand: Member,
        query: Query,
        period: str,
        outcome: str,
        at: datetime,
        *,
        release_id: str | None = None,
        detail: str | None = None,
        session: Session | None = None,
    ) -> None:
        (session or self.session).execute(
            LOG.insert().values(
                id=str(uuid.uuid4()),
                brand_id=brand.id,
                query_hash=query.digest,
                query=query.canonical,
                period=period,
                outcome=outcome,
                epsilon=0.0,
                release_id=release_id,
                detail=detail[:300] if detail else None,
                at=at,
            )
        )

    def _refuse(self, brand: Member, query: Query, period: str, at: datetime, why: str) -> NoReturn:
        with transaction(self.sessions) as own:
            self._log(brand, query, period, "refused", at, detail=why, session=own)
        raise BudgetExceeded(why)


def _short(spent: Spent, query: Query) -> str:
    return (
        f"ε {spent.remaining_epsilon:.6g} of {spent.cap.epsilon:.6g} is left for "
        f"{spent.period}; the query asks ε {query.epsilon:.6g}"
    )


def _described(release: noise.Release[Any]) -> dict[str, Any]:
    return {
        "mechanism": release.mechanism,
        "scale": release.scale,
        "sensitivity": release.sensitivity,
        "epsilon": release.epsilon,
    }


def budget_body(spent: Spent) -> dict[str, Any]:
    return {
        "period": spent.period,
        "epsilon_cap": spent.cap.epsilon,
        "epsilon_spent": spent.epsilon,
        "epsilon_remaining": spent.remaining_epsilon,
    }
