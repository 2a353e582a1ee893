"""``GET /v1/operator/kpis`` and ``GET /metrics``: the operator's credential, the window,
and the same figures in JSON and in the Prometheus text format."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gateway.db import transaction, utcnow
from gateway.operator import asks
from gateway.operator.asks import Answer
from gateway.runtime import Runtime
from sdk import AsyncOperatorClient, AuthenticationError, BadRequestError, OperatorToken
from tests.gateway.alliance import Alliance
from tests.gateway.operator import scene
from tests.gateway.operator.consents import record_and_withdraw_the_first

ENDPOINTS = ["/v1/operator/kpis", "/metrics"]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """The KPI gauges' samples (the live counters and histograms beside them are
    tests/gateway/test_observability.py's)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        if family.type == "gauge"
        for sample in family.samples
    }


@pytest.fixture
def seeded(client: TestClient, alliance: Alliance, runtime: Runtime) -> Alliance:
    """The scene; consent screens that asked 4 consents (1 given, 2 refused, 1 left
    unanswered); 2 consents the platform recorded, 1 of them withdrawn since."""
    now = utcnow()
    brand = alliance.brand_a["id"]
    with transaction(runtime.sessions) as session:
        scene.seed(session, alliance, now)
        asks.shown(session, "partly", brand, 2, now - timedelta(hours=1))
        asks.answered(session, "partly", Answer.given, 1, now)
        asks.shown(session, "refused", brand, 1, now - timedelta(hours=1))
        asks.answered(session, "refused", Answer.refused, 0, now)
        asks.shown(session, "left", brand, 1, now - timedelta(hours=1))
    # people the scene knows: no new person
    record_and_withdraw_the_first(client, alliance, ("p2-a", "p4-a"))
    return alliance


def test_the_kpis_in_json(client: TestClient, seeded: Alliance) -> None:
    response = client.get("/v1/operator/kpis", headers=seeded.operator)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["window"]["days"] == 30
    assert body["sample"] == {"exact": True, "persons": 5, "sampled": 5, "fraction": 1.0}
    assert body["identity_unification"] == {"persons": 5, "unified": 3, "rate": 0.6}
    assert body["interoperability"] == {
        "persons": 4,
        "cross_platform": 1,
        "rate": 0.25,
        "categories": 3,
        "cross_platform_categories": 2,
    }
    assert body["authorisation"] == {
        "asked": 6,
        "given": 3,
        "rate": 0.5,
        "consent_screen": {"asked": 4, "given": 1, "refused": 2, "unanswered": 1},
        "member_recorded": 2,
    }
    assert body["withdrawal"] == {"given": 2, "withdrawn": 1, "rate": 0.5}
    assert body["rights_requests"] == {"completed": 2, "on_time": 1, "rate": 0.5, "open_overdue": 1}
    brand_a, brand_b = seeded.brand_a, seeded.brand_b
    assert sorted(body["epsilon_by_brand"], key=lambda b: b["name"]) == sorted(
        [
            {
                "client_id": brand_a["client_id"],
                "name": brand_a["name"],
                "period": utcnow().strftime("%Y-%m"),
                "spent": 1.25,
                "cap": 5.0,
                "remaining": 3.75,
            },
            {
                "client_id": brand_b["client_id"],
                "name": brand_b["name"],
                "period": None,
                "spent": 0.0,
                "cap": None,
                "remaining": None,
            },
        ],
        key=lambda b: str(b["name"]),
    )


def test_the_window_narrows_the_rate_kpis(client: TestClient, seeded: Alliance) -> None:
    body = client.get("/v1/operator/kpis?days=120", headers=seeded.operator).json()
    assert body["window"]["days"] == 120
    assert body["rights_requests"] == {
        "completed": 3,
        "on_time": 2,
        "rate": 2 / 3,
        "open_overdue": 1,
    }


def test_the_same_figures_as_prometheus_gauges(client: TestClient, seeded: Alliance) -> None:
    response = client.get("/metrics", headers=seeded.operator)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    found = samples(response.text)
    brand_a, brand_b = seeded.brand_a["client_id"], seeded.brand_b["client_id"]
    expected: Samples = {
        ("accord_persons", ()): 5,
        ("accord_persons_unified", ()): 3,
        ("accord_identity_unification_ratio", ()): 0.6,
        ("accord_attribute_persons", ()): 4,
        ("accord_attribute_persons_cross_platform", ()): 1,
        ("accord_interoperability_ratio", ()): 0.25,
        ("accord_attribute_categories", ()): 3,
        ("accord_attribute_categories_cross_platform", ()): 2,
        ("accord_kpi_sample_ratio", ()): 1.0,
        ("accord_kpi_window_seconds", ()): 30 * 86400,
        ("accord_authorisation_asks", (("outcome", "given"), ("source", "consent_screen"))): 1,
        ("accord_authorisation_asks", (("outcome", "refused"), ("source", "consent_screen"))): 2,
        (
            "accord_authorisation_asks",
            (("outcome", "unanswered"), ("source", "consent_screen")),
        ): 1,
        ("accord_authorisation_asks", (("outcome", "given"), ("source", "member"))): 2,
        ("accord_authorisation_ratio", ()): 0.5,
        ("accord_consent_events", (("type", "given"),)): 2,
        ("accord_consent_events", (("type", "withdrawn"),)): 1,
        ("accord_withdrawal_ratio", ()): 0.5,
        ("accord_rights_requests_completed", (("deadline", "met"),)): 1,
        ("accord_rights_requests_completed", (("deadline", "missed"),)): 1,
        ("accord_rights_on_time_ratio", ()): 0.5,
        ("accord_rights_requests_open_overdue", ()): 1,
        ("accord_brand_epsilon_spent", (("brand", brand_a),)): 1.25,
        ("accord_brand_epsilon_spent", (("brand", brand_b),)): 0.0,
        ("accord_brand_epsilon_cap", (("brand", brand_a),)): 5.0,
        ("accord_brand_epsilon_remaining", (("brand", brand_a),)): 3.75,
    }
    assert found == expected
    # And they agree with the JSON read-out.
    body = client.get("/v1/operator/kpis", headers=seeded.operator).json()
    assert found[("accord_authorisation_ratio", ())] == body["authorisation"]["rate"]
    assert found[("accord_persons", ())] == body["identity_unification"]["persons"]


def test_undefined_rates_have_no_sample(client: TestClient, operator: dict[str, str]) -> None:
    text = client.get("/metrics", headers=operator).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("identity_unification", "interoperability", "authorisation", "withdrawal"):
        assert families[f"accord_{name}_ratio"].samples == []
    assert families["accord_rights_on_time_ratio"].samples == []
    assert families["accord_persons"].samples[0].value == 0
    body = client.get("/v1/operator/kpis", headers=operator).json()
    assert body["identity_unification"] == {"persons": 0, "unified": 0, "rate": None}


def test_the_window_parameter_reaches_the_gauges(
    client: TestClient, operator: dict[str, str]
) -> None:
    found = samples(client.get("/metrics?days=7", headers=operator).text)
    assert found[("accord_kpi_window_seconds", ())] == 7 * 86400


CREDENTIALS = [
    pytest.param({}, id="none"),
    pytest.param({"Authorization": "Bearer not-the-operator-token"}, id="wrong-token"),
    pytest.param({"Authorization": "Basic b3BlcmF0b3I6eA=="}, id="basic"),
]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("headers", CREDENTIALS)
def test_the_operator_credential_is_required(
    client: TestClient, path: str, headers: dict[str, str]
) -> None:
    for query in ("", "?days=0"):  # checked first: before the window is looked at
        response = client.get(path + query, headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["error"] == "invalid_token"
        assert "www-authenticate" in response.headers


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "days",
    [
        pytest.param("0", id="zero"),
        pytest.param("-3", id="negative"),
        pytest.param("367", id="beyond-a-year"),
        pytest.param("1.5", id="fraction"),
        pytest.param("thirty", id="not-a-number"),
        pytest.param("", id="empty"),
    ],
)
def test_a_bad_window_is_a_400_problem(
    client: TestClient, operator: dict[str, str], path: str, days: str
) -> None:
    response = client.get(path, params={"days": days}, headers=operator)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["error"] == "invalid_request" and body["status"] == 400
    assert body["errors"][0]["field"] == "query.days"


@pytest.mark.anyio
async def test_the_sdk_reads_the_same_kpis(client: TestClient, seeded: Alliance) -> None:
    token = seeded.operator["Authorization"].removeprefix("Bearer ")
    transport = httpx.ASGITransport(app=seeded.app)
    async with AsyncOperatorClient(
        seeded.issuer, auth=OperatorToken(token), transport=transport
    ) as operator:
        figures = await operator.kpis()
        wide = await operator.kpis(days=120)
        with pytest.raises(BadRequestError, match="days"):
            await operator.kpis(days=0)
    body = client.get("/v1/operator/kpis", headers=seeded.operator).json()
    assert figures.model_dump(mode="json", exclude={"at", "window"}) == {
        k: v for k, v in body.items() if k not in {"at", "window"}
    }
    assert figures.window.days == 30 and wide.window.days == 120
    assert wide.rights_requests.completed == 3 and figures.rights_requests.completed == 2
    assert figures.identity_unification.rate == 0.6
    brand_b = next(b for b in figures.epsilon_by_brand if b.name == seeded.brand_b["name"])
    assert brand_b.cap is None and brand_b.remaining is None  # no cap: nothing to divide
    async with AsyncOperatorClient(
        seeded.issuer, auth=OperatorToken("not-the-operator"), transport=transport
    ) as stranger:
        with pytest.raises(AuthenticationError):
            await stranger.kpis()
