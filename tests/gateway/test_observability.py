"""Observability end to end: a real flow through the gateway, every log line it writes
captured at DEBUG, and the /metrics it leaves behind.

The flow: members registered through the operator API; client_credentials tokens (one
answered by the express lane); a person signed in by the authorization-code flow, with
a refresh; a consent recorded, decided, withdrawn and decided again; a SET pushed; a
unified view read; a sandbox query; a path no route matches. Then: not one token,
secret, code, challenge, verifier, subject, account id, person id, e-mail, phone or IP
address of the flow is in the logs, and every response's request id is.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from gateway import serving
from gateway.db import transaction
from gateway.events.delivery import Dispatcher
from gateway.identity.persons import PERSON
from gateway.identity.persons import Persons as PersonIndex
from gateway.observability import logs, requests
from gateway.runtime import Runtime
from gateway.settings import LogFormat, Settings
from tests.conftest import make_settings
from tests.gateway.alliance import Alliance
from tests.gateway.events.conftest import RECEIVER_AUTH, RECEIVER_URL
from tests.gateway.oauth.flow import (
    Attempt,
    accept,
    approve,
    exchange,
    hidden,
    query,
    register_rp,
)
from tests.gateway.oauth.test_client_tokens import platform_auth
from tests.gateway.oauth.test_remembered import statements
from tests.gateway.sandbox.test_sandbox import TIER, cap, populate
from tests.gateway.views.scene import People

ACCOUNT = "obs-acct-5531"
EMAIL = "jane.roe@example.com"
PHONE = "+86 138 0013 8000"
IP = "203.0.113.77"
USER_AGENT = "Redleaf/9.9 (obs-device-4242)"
CONTENT = ["user.demographic.city_tier", "user.device.type"]
BEAUTY = "user.interest.beauty"
LOGGERS = ("", "accord", "uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # change_poll=0: the counter is read when the test says (the express lane, on cue);
    # events_interval=0: the test pushes SETs itself, to a receiver it stands in for.
    return make_settings(tmp_path, sandbox_min_group=3, change_poll=0, events_interval=0)


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """The gateway's own logging at DEBUG, as JSON, into a buffer; caplog beside it
    sees every record that passes the loggers' levels, uvicorn's included."""
    stream = io.StringIO()
    installed = logs.install("debug", LogFormat.json, stream)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    try:
        yield stream
    finally:
        installed.remove()


@dataclass
class Seen:
    """What the flow handed out (never to be logged) and the request ids it got back."""

    secrets: dict[str, str] = field(default_factory=dict)
    request_ids: list[tuple[str, str]] = field(default_factory=list)  # (id, method path)

    def keep(self, name: str, value: object) -> None:
        assert isinstance(value, str) and value, name
        self.secrets[name] = value


def run_flow(
    client: TestClient, alliance: Alliance, runtime: Runtime, seen: Seen
) -> dict[str, Any]:
    """The flow; what the tests below check against."""

    def remember(response: httpx.Response) -> None:
        seen.request_ids.append(
            (response.headers["x-request-id"], f"{response.request.method} {response.url.path}")
        )

    client.event_hooks["response"].append(remember)
    for name, value in (
        ("platform secret", alliance.platform_secret),
        ("brand a secret", alliance.brand_a_secret),
        ("brand b secret", alliance.brand_b_secret),
        ("operator token", alliance.operator["Authorization"].split()[1]),
        ("receiver credential", RECEIVER_AUTH.split()[1]),
        ("account", ACCOUNT),
        ("email", EMAIL),
        ("phone", PHONE),
        ("ip", IP),
        ("user agent", USER_AGENT),
    ):
        seen.keep(name, value)

    # SETs about this platform's users are pushed to its receiver.
    stream = client.post(
        "/v1/ssf/stream",
        json={
            "delivery": {
                "method": "urn:ietf:rfc:8935",
                "endpoint_url": RECEIVER_URL,
                "authorization_header": RECEIVER_AUTH,
            }
        },
        headers=platform_auth(alliance),
    )
    assert stream.status_code == 201, stream.text

    # client_credentials: through the route, then (counter read) by the express lane.
    issued = []
    for _ in range(2):
        runtime.changes.poll(runtime.engine)
        with statements(runtime.engine) as sent:
            token = client.post(
                "/token", data={"grant_type": "client_credentials"}, headers=platform_auth(alliance)
            )
        assert token.status_code == 200, token.text
        issued.append(sent)
        seen.keep(f"client token {len(issued)}", token.json()["access_token"])
    assert issued[1] == [], "the second token came from the express lane"

    # The authorization-code flow, by hand, to hold the code, the challenge, the verifier.
    rp = register_rp(client, alliance, "Nimbus Tea", "nimbus.example")
    seen.keep("rp secret", rp.secret)
    attempt = Attempt(rp)
    seen.keep("verifier", attempt.verifier)
    chooser = client.get("/authorize", params=attempt.params(), follow_redirects=False)
    chose = client.post(
        "/signin/choose",
        data={**hidden(chooser.text), "platform": alliance.platform["id"]},
        follow_redirects=False,
    )
    challenge = query(chose.headers["location"])["login_challenge"]
    seen.keep("login challenge", challenge)
    back = accept(client, alliance, challenge, ACCOUNT)
    page = client.get(back.removeprefix(alliance.issuer), follow_redirects=False)
    if page.status_code == 200:
        page = approve(client, page.text)
    code = query(page.headers["location"])["code"]
    seen.keep("code", code)
    tokens = exchange(client, attempt, code)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    for name in ("access_token", "refresh_token", "id_token"):
        seen.keep(name, body[name])
    seen.keep("rp sub", jwt.decode(body["id_token"], options={"verify_signature": False})["sub"])
    refreshed = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=rp.auth,
    )
    assert refreshed.status_code == 200, refreshed.text
    seen.keep("refreshed access", refreshed.json()["access_token"])
    seen.keep("refreshed refresh", refreshed.json()["refresh_token"])

    # A consent the platform collected: recorded, decided, withdrawn, decided again.
    given = client.post(
        "/v1/consents",
        json={
            "account_id": ACCOUNT,
            "purpose": "personalize.content",
            "categories": CONTENT,
            "notice": {"id": "redleaf-privacy", "version": 1},
            "collected": {"ip": IP, "user_agent": USER_AGENT},
        },
        headers=platform_auth(alliance),
    )
    assert given.status_code == 201, given.text
    seen.keep("platform sub", given.json()["subject"])
    decide = {"account_id": ACCOUNT, "purpose": "personalize.content", "categories": CONTENT}
    allowed = client.post("/v1/decisions", json=decide, headers=platform_auth(alliance))
    assert allowed.json()["allowed"] is True
    record = given.json()["record_id"]
    withdrawn = client.post(f"/v1/consents/{record}/withdraw", headers=platform_auth(alliance))
    assert withdrawn.status_code == 200, withdrawn.text
    denied = client.post("/v1/decisions", json=decide, headers=platform_auth(alliance))
    assert denied.json()["reasons"] == ["withdrawn"]

    # The SETs announcing it, pushed to the receiver (which accepts them).
    pushed: list[str] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        pushed.append(request.content.decode())
        return httpx.Response(202)

    dispatcher = Dispatcher(runtime, transport=httpx.MockTransport(receiver))
    try:
        assert dispatcher.run_once() >= 1
    finally:
        dispatcher.close()
    for n, set_token in enumerate(pushed):
        seen.keep(f"SET {n}", set_token)

    # A unified view for brand A: consent, attributes pushed, view read (and one asked
    # with a personal note in its query string, which no log line may repeat).
    people = People(alliance, runtime, client)
    with transaction(runtime.sessions) as session:
        person = PersonIndex(session, b"").of_account(alliance.platform["id"], ACCOUNT)
    assert person is not None
    _, sub = people.consent(person, "a", "marketing.brand_view", [BEAUTY])
    seen.keep("brand sub", sub)
    stored = people.push(
        [{"platform_user_id": ACCOUNT, "attributes": {BEAUTY: ["beauty.skincare"]}}]
    )
    assert stored.status_code == 200, stored.text
    view = client.get(
        f"/v1/views/{sub}",
        params={"purpose": "marketing.brand_view", "note": f"{EMAIL} {PHONE}"},
        auth=people.brand_auth("a"),
    )
    assert view.status_code == 200, view.text

    # A sandbox count over consenting persons, charged to brand A's budget.
    populate(people, 4, prefix="obs-sbx")
    cap(client, alliance, 5.0)
    released = client.post(
        "/v1/sandbox/queries",
        json={"measure": "count", "group_by": [TIER], "epsilon": 1.0},
        auth=people.brand_auth("a"),
    )
    assert released.status_code == 200, released.text

    # Nothing matches: the path (an e-mail in it) is not the route.
    lost = client.get(f"/v1/nowhere/{EMAIL}", params={"code": "abc-lost-code"})
    assert lost.status_code == 404

    with runtime.sessions() as session:
        for n, (person_id,) in enumerate(session.execute(select(PERSON.c.id))):
            seen.keep(f"person {n}", person_id)
    return {"epsilon": released.json()["epsilon_charged"], "record": record}


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    out = []
    for line in stream.getvalue().splitlines():
        parsed = json.loads(line)  # every line is one JSON object
        assert isinstance(parsed, dict)
        out.append(parsed)
    return out


def test_no_token_secret_or_personal_data_reaches_the_logs(
    client: TestClient,
    alliance: Alliance,
    runtime: Runtime,
    captured: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen = Seen()
    run_flow(client, alliance, runtime, seen)
    written = captured.getvalue()
    records = lines(captured)
    assert len(records) >= len(seen.request_ids)  # an access line each, at least
    for name, secret in seen.secrets.items():
        assert secret not in written, f"the {name} is in the log output"
        assert secret not in caplog.text, f"the {name} is in a log record"
    for record in records:
        assert {"timestamp", "level", "logger", "message"} <= set(record)
        assert "?" not in record["message"]  # no query string, anywhere

    # Every response's request id is on its access line, with the route's template.
    access = {r["request_id"]: r for r in records if r["logger"] == "accord.access"}
    for request_id, what in seen.request_ids:
        line = access[request_id]
        method, path = what.split(" ", 1)
        assert line["method"] == method and line["level"] == "INFO"
        assert isinstance(line["status"], int) and line["duration_ms"] >= 0
        assert line["message"] == f"{method} {line['route']} {line['status']}"
        if "{" in line["route"]:
            assert line["route"] != path
    routes = {r["route"] for r in access.values()}
    assert {"/v1/views/{sub}", "/v1/consents/{record_id}/withdraw", "/token"} <= routes
    assert "unmatched" in routes
    # Member routes name the member that authenticated, never the person.
    views = [r for r in access.values() if r["route"] == "/v1/views/{sub}"]
    assert views and all(r["client_id"] == alliance.brand_a["client_id"] for r in views)


def test_the_flow_moves_the_metrics(
    client: TestClient, alliance: Alliance, runtime: Runtime, captured: io.StringIO
) -> None:
    seen = Seen()
    flow = run_flow(client, alliance, runtime, seen)
    text = client.get("/metrics", headers=alliance.operator).text
    families = {f.name: f for f in text_string_to_metric_families(text)}

    def value(family: str, sample: str, **labels: str) -> float:
        for s in families[family].samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
        raise AssertionError(f"no {sample} {labels}")

    latency = "accord_http_request_duration_seconds"
    count = latency + "_count"
    assert value(latency, count, method="GET", route="/v1/views/{sub}", status="200") == 1
    assert value(latency, count, method="POST", route="/token", status="200") == 4
    assert value(latency, count, method="GET", route="unmatched", status="404") == 1
    for sample in families[latency].samples:  # templates only: no subject, id or e-mail
        assert not any(secret in sample.labels["route"] for secret in seen.secrets.values())
    tokens = "accord_tokens_issued"
    assert value(tokens, tokens + "_total", grant_type="client_credentials") == 2
    assert value(tokens, tokens + "_total", grant_type="authorization_code") == 1
    assert value(tokens, tokens + "_total", grant_type="refresh_token") == 1
    decisions = "accord_consent_decisions"
    assert value(decisions, decisions + "_total", outcome="denied", reason="withdrawn") >= 1
    assert value(decisions, decisions + "_total", outcome="allowed", reason="none") == 1
    # The view asked every category the purpose may show; the person granted one.
    assert value(decisions, decisions + "_total", outcome="partial", reason="no_consent") == 1
    deliveries = "accord_set_deliveries"
    delivered = value(deliveries, deliveries + "_total", method="push", outcome="delivered")
    assert delivered >= 1
    lag = "accord_set_delivery_lag_seconds"
    assert value(lag, lag + "_count", method="push") == delivered
    epsilon = "accord_privacy_epsilon_spent"
    spent = value(epsilon, epsilon + "_total", population_kind="brand")
    assert spent == pytest.approx(flow["epsilon"]) and spent > 0
    assert value(epsilon, epsilon + "_total", population_kind="training") == 0
    assert families["accord_persons"].samples  # the KPI gauges are still there


def test_a_request_id_is_taken_when_safe_and_replaced_when_not(
    client: TestClient, captured: io.StringIO
) -> None:
    kept = client.get("/healthz", headers={"X-Request-ID": "edge-7f3a.trace_01"})
    assert kept.headers["x-request-id"] == "edge-7f3a.trace_01"
    made = client.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32
    jwt_like = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
    for offered in ("has spaces", "x" * 65, "a/b", jwt_like, "k" * 30 + "0123456789" * 2):
        answer = client.get("/healthz", headers={"X-Request-ID": offered})
        assert answer.headers["x-request-id"] != offered
    assert jwt_like not in captured.getvalue()
    ids = {r.get("request_id") for r in lines(captured)}
    assert {"edge-7f3a.trace_01", made.headers["x-request-id"]} <= ids


def test_fresh_request_ids_are_unique_and_a_forked_child_has_its_own() -> None:
    made = [requests.fresh_request_id() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert all(re.fullmatch(r"[0-9a-f]{32}", m) for m in made)
    before = requests.fresh_request_id()[:16]
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe and leaves
        os.write(write, requests.fresh_request_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    theirs = os.read(read, 64).decode()
    os.close(read)
    assert re.fullmatch(r"[0-9a-f]{32}", theirs) and theirs[:16] != before
    assert requests.fresh_request_id()[:16] == before  # the parent's own stays


def test_under_uvicorn_its_own_lines_are_ours_and_no_query_is_written(
    app: FastAPI, captured: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    """uvicorn's lines go through the same handler (JSON, redacted); its access log is
    off, replaced by the request edge's line, which holds no query string and no
    client address."""
    challenge = "login-challenge-under-uvicorn-0042"
    with serving.in_thread(app, log_level="debug") as base, httpx.Client(base_url=base) as http:
        answer = http.get("/signin/return", params={"login_challenge": challenge})
        healthy = http.get("/healthz", headers={"X-Request-ID": "uvicorn-run-1"})
    assert healthy.headers["x-request-id"] == "uvicorn-run-1"
    records = lines(captured)
    assert any(r["logger"] == "uvicorn.error" for r in records)  # startup and shutdown
    assert not any(r["logger"] == "uvicorn.access" for r in records)
    access = {r["request_id"]: r for r in records if r["logger"] == "accord.access"}
    assert access["uvicorn-run-1"]["route"] == "/healthz"
    assert access[answer.headers["x-request-id"]]["route"] == "/signin/return"
    written = captured.getvalue()
    assert challenge not in written and challenge not in caplog.text
    assert "login_challenge" not in written
