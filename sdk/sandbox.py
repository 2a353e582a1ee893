"""The data sandbox: differentially private counts, sums and means for a brand.

Never rows or identifiers. Each answer spends ε from the brand's budget for the period,
as OpenDP's privacy map states it; an identical query in the same period is answered
from its first release at no charge (``fresh=True`` asks for a new, charged one). Groups
whose noisy count is under the threshold come back suppressed. An exhausted budget
raises :class:`sdk.PermissionDeniedError` whose message states what remains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from sdk.calls import Call, Request, operation


class Budget(BaseModel):
    model_config = ConfigDict(frozen=True)

    period: str | None  # "2026-11", "total"; None when no budget is set
    epsilon_cap: float
    epsilon_spent: float
    epsilon_remaining: float


class Group(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: dict[str, str]  # dimension -> value ({} for an ungrouped query)
    suppressed: bool
    count: int | None = None
    sum: float | None = None
    mean: float | None = None


class SandboxResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    query_id: str
    released_at: datetime
    cached: bool
    epsilon_charged: float
    budget: Budget
    threshold: int
    groups: list[Group]
    mechanism: dict[str, Any]
    query: dict[str, Any]


class SandboxOperations:
    @operation
    def sandbox_query(
        self,
        measure: Literal["count", "sum", "mean"],
        *,
        epsilon: float,
        category: str | None = None,
        bounds: tuple[float, float] | None = None,
        group_by: Sequence[str] = (),
        where: Mapping[str, Sequence[str]] | None = None,
        max_tags: int | None = None,
        fresh: bool = False,
    ) -> Call[SandboxResult]:
        """Ask one aggregate; ``category`` (and ``bounds`` unless the standard bounds it)
        for a sum or mean."""
        body: dict[str, Any] = {"measure": measure, "epsilon": epsilon, "group_by": list(group_by)}
        if category is not None:
            body["category"] = category
        if bounds is not None:
            body["bounds"] = list(bounds)
        if where:
            body["where"] = {k: list(v) for k, v in where.items()}
        if max_tags is not None:
            body["max_tags"] = max_tags
        if fresh:
            body["fresh"] = True
        request = Request("POST", "/v1/sandbox/queries", json=body, member_auth=True)
        return Call(request, lambda r: SandboxResult.model_validate(r.json()))

    @operation
    def budget(self) -> Call[Budget]:
        """The brand's ε budget in the current period."""
        request = Request("GET", "/v1/sandbox/budget", member_auth=True)
        return Call(request, lambda r: Budget.model_validate(r.json()))
