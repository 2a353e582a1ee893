"""The live metrics, each moved by the action it counts and by nothing else."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from consent.budget import Cap, Charge, Ledger, Period
from consent.errors import BudgetExceeded
from gateway.app import create_app
from gateway.budget.store import SqlBudgetStore
from gateway.db import transaction, utcnow
from gateway.events import types
from gateway.events.delivery import Dispatcher
from gateway.events.outbox import emit
from gateway.observability.metrics import GRANT_TYPES, Metrics
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.conftest import make_settings
from tests.gateway.events.conftest import Registered, push_stream, register
from tests.gateway.observability.scrape import scrape, value

LATENCY = "accord_http_request_duration_seconds"
DELIVERIES = "accord_set_deliveries_total"
LAG = "accord_set_delivery_lag_seconds"
EPSILON = "accord_privacy_epsilon_spent_total"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, events_interval=0)  # the tests push SETs themselves


def test_live_metrics_are_served_beside_the_kpis_from_zero(
    client: TestClient, operator: dict[str, str]
) -> None:
    samples = scrape(client, operator)
    for grant_type in GRANT_TYPES:
        assert samples[("accord_tokens_issued_total", (("grant_type", grant_type),))] == 0
    assert samples[(EPSILON, (("population_kind", "brand"),))] == 0
    assert samples[(DELIVERIES, (("method", "push"), ("outcome", "delivered")))] == 0
    assert ("accord_persons", ()) in samples  # the KPI gauges, in the same scrape
    assert not [name for name, _ in samples if name.endswith("_created")]


def test_each_request_is_timed_under_its_route_template(
    client: TestClient, operator: dict[str, str]
) -> None:
    client.get("/healthz")
    client.get("/v1/views/some-subject-of-a-brand", params={"purpose": "x"})  # no credential
    client.post("/nowhere/at/all")
    client.get("/openapi.json")
    samples = scrape(client, operator)
    count = LATENCY + "_count"
    assert value(samples, count, method="GET", route="/healthz", status="200") == 1
    assert value(samples, count, method="GET", route="/v1/views/{sub}", status="401") == 1
    assert value(samples, count, method="POST", route="unmatched", status="404") == 1
    assert value(samples, count, method="GET", route="/openapi.json", status="200") == 1
    infinite = value(
        samples, LATENCY + "_bucket", method="GET", route="/healthz", status="200", le="+Inf"
    )
    assert infinite == 1
    routes = {dict(labels).get("route") for name, labels in samples if name.startswith(LATENCY)}
    assert not any("some-subject" in str(route) for route in routes)


def test_an_unhandled_error_is_a_500_with_its_request_id(
    settings: Settings, runtime: Runtime, operator: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, runtime=runtime)

    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        with caplog.at_level(logging.ERROR, logger="accord.errors"):
            response = client.get("/broken")
        samples = scrape(client, operator)
    assert response.status_code == 500
    (record,) = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert getattr(record, "request_id", None) == response.headers["x-request-id"]
    assert value(samples, LATENCY + "_count", method="GET", route="/broken", status="500") == 1


def _emit(runtime: Runtime, member: Registered, count: int = 1) -> list[str]:
    with transaction(runtime.sessions) as session:
        return [
            emit(
                session,
                recipient_id=member.id,
                event_type=types.CONSENT_WITHDRAWN,
                subject={"format": "opaque", "id": f"s{n}"},
                event={"purpose": "marketing.brand_view"},
            )
            for n in range(count)
        ]


def _push(runtime: Runtime, status: int, hours: float = 0.0) -> int:
    dispatcher = Dispatcher(
        runtime, transport=httpx.MockTransport(lambda _: httpx.Response(status))
    )
    try:
        return dispatcher.run_once(utcnow() + timedelta(hours=hours))
    finally:
        dispatcher.close()


def test_push_counts_retries_deliveries_with_their_lag_and_the_dead(
    client: TestClient, runtime: Runtime, operator: dict[str, str]
) -> None:
    platform = register(client, operator)
    push_stream(client, platform)
    _emit(runtime, platform)
    assert _push(runtime, 503) == 1  # the receiver is down: tried again later
    assert _push(runtime, 202, hours=1) == 1  # an hour on, it takes the SET
    _emit(runtime, platform)
    assert _push(runtime, 400, hours=2) == 1  # refused for good (RFC 8935 §2.3)
    samples = scrape(client, operator)
    assert value(samples, DELIVERIES, method="push", outcome="retried") == 1
    assert value(samples, DELIVERIES, method="push", outcome="delivered") == 1
    assert value(samples, DELIVERIES, method="push", outcome="dead") == 1
    assert value(samples, LAG + "_count", method="push") == 1
    assert 3600 <= value(samples, LAG + "_sum", method="push") < 3600 + 60
    assert value(samples, LAG + "_bucket", method="push", le="3600.0") == 0
    assert value(samples, LAG + "_bucket", method="push", le="21600.0") == 1


def test_poll_counts_acknowledgements_as_delivered_and_reported_errors_as_dead(
    client: TestClient, runtime: Runtime, operator: dict[str, str]
) -> None:
    brand = register(client, operator, brand=True)
    stream = client.post("/v1/ssf/stream", json={}, headers=brand.headers).json()["stream_id"]
    url = f"/v1/ssf/poll/{stream}"
    first, second, third = _emit(runtime, brand, 3)
    handed = client.post(url, json={"returnImmediately": True}, headers=brand.headers).json()
    assert set(handed["sets"]) == {first, second, third}
    assert (
        scrape(client, operator)[(DELIVERIES, (("method", "poll"), ("outcome", "delivered")))] == 0
    )
    report = {
        "returnImmediately": True,
        "maxEvents": 0,
        "ack": [first, second],
        "setErrs": {third: {"err": "invalid_issuer", "description": "not ours"}},
    }
    assert client.post(url, json=report, headers=brand.headers).status_code == 200
    again = {**report, "setErrs": {}}  # acknowledging twice counts once
    assert client.post(url, json=again, headers=brand.headers).status_code == 200
    samples = scrape(client, operator)
    assert value(samples, DELIVERIES, method="poll", outcome="delivered") == 2
    assert value(samples, DELIVERIES, method="poll", outcome="dead") == 1
    assert value(samples, LAG + "_count", method="poll") == 2


def _charge(runtime: Runtime, population: str, epsilon: float) -> None:
    with transaction(runtime.sessions) as session:
        Ledger(SqlBudgetStore(session)).charge(
            Charge(population, epsilon, 0.0, "laplace", "a test release", utcnow())
        )


def _charge_then_fail(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        Ledger(SqlBudgetStore(session)).charge(
            Charge("brand:b-1", 0.5, 0.0, "laplace", "rolled back", utcnow())
        )
        raise RuntimeError("the release failed after the charge")


def test_epsilon_is_counted_by_population_kind_when_the_charge_commits(
    client: TestClient, runtime: Runtime, operator: dict[str, str]
) -> None:
    with transaction(runtime.sessions) as session:
        store = SqlBudgetStore(session)
        store.set_cap(Cap("training:train_ai_system.profile_model", Period.total, 2.0, 1e-5))
        store.set_cap(Cap("brand:b-1", Period.month, 1.0, 0.0))
    _charge(runtime, "training:train_ai_system.profile_model", 0.75)
    _charge(runtime, "brand:b-1", 0.25)
    with pytest.raises(BudgetExceeded):  # over the cap: nothing spent
        _charge(runtime, "brand:b-1", 0.9)
    with pytest.raises(RuntimeError):  # rolled back after the charge: not spent
        _charge_then_fail(runtime)
    samples = scrape(client, operator)
    assert value(samples, EPSILON, population_kind="training") == pytest.approx(0.75)
    assert value(samples, EPSILON, population_kind="brand") == pytest.approx(0.25)
    with runtime.sessions() as session:
        spent, _ = SqlBudgetStore(session).spent("brand:b-1", utcnow().strftime("%Y-%m"))
    assert spent == pytest.approx(0.25)  # the ledger agrees


def test_labels_stay_bounded() -> None:
    metrics = Metrics()
    metrics.request("BREW", "/coffee", 418, 0.01)
    metrics.spent("someone:else", 1.0)
    samples = {
        (s.name, tuple(sorted(s.labels.items())))
        for family in metrics.registry.collect()
        for s in family.samples
    }
    assert (
        LATENCY + "_count",
        (("method", "other"), ("route", "/coffee"), ("status", "418")),
    ) in samples
    assert (EPSILON, (("population_kind", "other"),)) in samples
