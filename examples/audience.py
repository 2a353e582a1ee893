"""The brand's audience sandbox page: a differentially private count of the persons who
consented to ``analytics.aggregate`` for the brand, grouped by one standard dimension,
drawn as an SVG bar chart, with the ε the answer cost and the budget left.

A repeated question is answered from its first release at no charge (the gateway's
cache); groups whose noisy count is under the threshold come back suppressed and are
drawn as such.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import Response

from examples.chart import Bar, bar_chart
from examples.pages import e, page, table
from sdk import AccordError, PermissionDeniedError, SandboxResult

if TYPE_CHECKING:
    from examples.brand import Brand

DIMENSIONS = {  # the sandbox's standard dimensions the chart offers
    "user.demographic.city_tier": "City tier",
    "user.demographic.generation": "Generation",
    "user.demographic.age_band": "Age band",
    "user.demographic.region": "Region",
    "user.transaction.order_value_band": "Order value band",
    "user.channel.primary": "Primary channel",
    "user.interest.beauty": "Beauty interests",
    "interaction_depth": "Interaction depth",
}
EPSILONS = ("0.1", "0.25", "0.5", "1")


def _sandbox_body(brand: Brand, dimension: str, epsilon: str, result: SandboxResult) -> str:
    bars = [
        Bar(
            ", ".join(group.key.values()) or "everyone",
            None if group.suppressed else group.count,
        )
        for group in result.groups
    ]
    rows = [
        f'<tr data-group="{e(bar.label)}"><td>{e(bar.label)}</td>'
        f"<td>{'suppressed' if bar.value is None else f'{bar.value:,}'}</td></tr>"
        for bar in bars
    ]
    budget = result.budget
    title = f"Persons by {DIMENSIONS[dimension].lower()} (differentially private count)"
    return (
        _sandbox_form(dimension, epsilon)
        + f"<h2>{e(title)}</h2>"
        + bar_chart("sandbox-chart", title, bars)
        + "<dl>"
        f'<dt>ε charged for this answer</dt><dd id="epsilon-charged">'
        f"{result.epsilon_charged:g}{' (a repeat: answered from the first release)' if result.cached else ''}</dd>"  # noqa: E501
        f"<dt>Budget remaining ({e(budget.period or 'none')})</dt>"
        f'<dd id="budget-remaining">{budget.epsilon_remaining:g}</dd>'
        f'<dt>Budget cap</dt><dd id="budget-cap">{budget.epsilon_cap:g}</dd>'
        f"<dt>Suppressed below</dt><dd>{result.threshold} persons (noisy count)</dd></dl>"
        + table("sandbox-groups", ["Group", "Noisy count"], rows)
        + '<p class="muted">Counts are over persons who consented to'
        " <code>analytics.aggregate</code> for us; noise is added by the gateway (OpenDP) and"
        " the ε is charged to our budget before the answer is released. We never see rows"
        " or identifiers.</p>"
    )


def _sandbox_form(dimension: str, epsilon: str) -> str:
    options = "".join(
        f'<option value="{e(k)}"{" selected" if k == dimension else ""}>{e(v)}</option>'
        for k, v in DIMENSIONS.items()
    )
    epsilons = "".join(
        f'<option value="{v}"{" selected" if v == epsilon else ""}>{v}</option>' for v in EPSILONS
    )
    return (
        "<h1>Audience sandbox</h1>"
        '<form id="sandbox-form" method="get" action="/sandbox">'
        f'<label for="dimension">Count persons by</label><select id="dimension"'
        f' name="dimension">{options}</select>'
        f'<label for="epsilon">Privacy cost ε</label><select id="epsilon" name="epsilon">'
        f"{epsilons}</select>"
        ' <button id="run-query" type="submit">Ask</button></form>'
    )


def sandbox_routes(app: FastAPI, brand: Brand) -> None:
    frame = brand.frame

    @app.get("/sandbox")
    async def sandbox(
        dimension: str = "user.demographic.city_tier", epsilon: str = "0.5"
    ) -> Response:
        if dimension not in DIMENSIONS or epsilon not in EPSILONS:
            body = _sandbox_form("user.demographic.city_tier", "0.5") + (
                '<p id="sandbox-error" class="error" role="alert">Choose a dimension and an ε'
                " from the lists.</p>"
            )
            return page(frame, "Audience sandbox", body, status=400)
        try:
            result = await brand.client.sandbox_query(
                "count", epsilon=float(epsilon), group_by=[dimension]
            )
        except PermissionDeniedError as refused:
            body = _sandbox_form(dimension, epsilon) + (
                f'<p id="sandbox-refused" class="error" role="alert">The gateway refused the'
                f" query: {e(refused.description or refused.code)}</p>"
            )
            return page(frame, "Audience sandbox", body, status=403)
        except AccordError as exc:
            body = _sandbox_form(dimension, epsilon) + (
                f'<p id="sandbox-error" class="error" role="alert">{e(exc)}</p>'
            )
            return page(frame, "Audience sandbox", body, status=502)
        return page(frame, "Audience sandbox", _sandbox_body(brand, dimension, epsilon, result))
