"""The SSF transmitter metadata and the stream management API (SSF 1.0 §7, §8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.app import create_app
from gateway.events import types
from gateway.events.models import EventStream, SecurityEvent
from gateway.runtime import Runtime
from gateway.settings import Environment
from tests.conftest import make_settings
from tests.gateway.events.conftest import (
    RECEIVER_AUTH,
    RECEIVER_URL,
    Registered,
    push_stream,
    register,
)

PUSH = {"method": types.PUSH, "endpoint_url": RECEIVER_URL}


def test_transmitter_metadata(client: TestClient, runtime: Runtime) -> None:
    response = client.get("/.well-known/ssf-configuration")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    issuer = runtime.settings.issuer
    assert response.json() == {
        "spec_version": "1_0",
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "delivery_methods_supported": [types.PUSH, types.POLL],
        "configuration_endpoint": f"{issuer}/v1/ssf/stream",
        "status_endpoint": f"{issuer}/v1/ssf/status",
        "verification_endpoint": f"{issuer}/v1/ssf/verify",
        "authorization_schemes": [
            {"spec_urn": "urn:ietf:rfc:6749"},
            {"spec_urn": "urn:ietf:rfc:7523"},
        ],
        "default_subjects": "ALL",
    }
    assert client.get("/.well-known/jwks.json").json()["keys"]  # jwks_uri resolves


def test_a_stream_through_its_life(
    client: TestClient, platform: Registered, runtime: Runtime
) -> None:
    auth = platform.headers
    assert client.get("/v1/ssf/stream", headers=auth).json() == []
    created = push_stream(client, platform, description="  Redleaf   consent feed ")
    stream_id = created["stream_id"]
    assert created["iss"] == runtime.settings.issuer
    assert created["aud"] == platform.client_id
    assert created["delivery"] == PUSH  # the receiver's secret header is never echoed
    assert created["description"] == "Redleaf consent feed"
    assert created["events_requested"] == list(types.SUPPORTED)  # none asked: all
    assert created["events_delivered"] == list(types.SUPPORTED)
    with Session(runtime.engine) as session:
        stored = session.get(EventStream, stream_id)
        assert stored is not None and stored.authorization_header == RECEIVER_AUTH

    assert client.get("/v1/ssf/stream", headers=auth).json() == [created]
    read = client.get("/v1/ssf/stream", params={"stream_id": stream_id}, headers=auth)
    assert read.json() == created and read.headers["cache-control"] == "no-store"

    # PATCH changes what it names; erasure requests are delivered whatever is asked.
    patched = client.patch(
        "/v1/ssf/stream",
        json={"stream_id": stream_id, "events_requested": [types.CONSENT_WITHDRAWN]},
        headers=auth,
    ).json()
    assert patched["events_requested"] == [types.CONSENT_WITHDRAWN]
    assert patched["events_delivered"] == [types.CONSENT_WITHDRAWN, types.ERASURE_REQUESTED]
    assert patched["delivery"] == PUSH and patched["description"] == "Redleaf consent feed"

    # PUT replaces: no delivery means poll, no description means none.
    replaced = client.put("/v1/ssf/stream", json={"stream_id": stream_id}, headers=auth).json()
    assert replaced["delivery"] == {
        "method": types.POLL,
        "endpoint_url": f"{runtime.settings.issuer}/v1/ssf/poll/{stream_id}",
    }
    assert "description" not in replaced
    assert replaced["events_delivered"] == list(types.SUPPORTED)

    status = client.get("/v1/ssf/status", params={"stream_id": stream_id}, headers=auth)
    assert status.json() == {"stream_id": stream_id, "status": "enabled"}
    paused = client.post(
        "/v1/ssf/status",
        json={"stream_id": stream_id, "status": "paused", "reason": "maintenance"},
        headers=auth,
    )
    assert paused.json() == {"stream_id": stream_id, "status": "paused", "reason": "maintenance"}

    verify = client.post(
        "/v1/ssf/verify", json={"stream_id": stream_id, "state": "s-42"}, headers=auth
    )
    assert verify.status_code == 204
    with Session(runtime.engine) as session:
        queued = session.exec(select(SecurityEvent)).one()
    assert queued.event_type == types.VERIFICATION
    assert queued.recipient_id == platform.id
    assert queued.claims["sub_id"] == {"format": "opaque", "id": stream_id}
    assert queued.claims["events"] == {types.VERIFICATION: {"state": "s-42"}}

    deleted = client.delete("/v1/ssf/stream", params={"stream_id": stream_id}, headers=auth)
    assert deleted.status_code == 204
    assert client.get("/v1/ssf/stream", headers=auth).json() == []
    gone = client.get("/v1/ssf/stream", params={"stream_id": stream_id}, headers=auth)
    assert gone.status_code == 404 and gone.json()["error"] == "not_found"


def test_unknown_event_types_are_ignored_not_refused(
    client: TestClient, platform: Registered
) -> None:
    """SSF 1.0 §8.1.1: a Transmitter MUST ignore event types it does not understand."""
    unknown = "https://schemas.openid.net/secevent/caep/event-type/token-claims-change"
    created = push_stream(client, platform, events_requested=[unknown, types.CONSENT_GRANTED])
    assert created["events_requested"] == [unknown, types.CONSENT_GRANTED]
    assert created["events_delivered"] == [types.CONSENT_GRANTED, types.ERASURE_REQUESTED]


def test_a_member_sees_only_its_own_stream(
    client: TestClient, platform: Registered, brand: Registered
) -> None:
    stream_id = push_stream(client, platform)["stream_id"]
    other = brand.headers
    assert client.get("/v1/ssf/stream", headers=other).json() == []
    for method, path, kwargs in (
        ("GET", "/v1/ssf/stream", {"params": {"stream_id": stream_id}}),
        ("GET", "/v1/ssf/status", {"params": {"stream_id": stream_id}}),
        ("DELETE", "/v1/ssf/stream", {"params": {"stream_id": stream_id}}),
        ("PATCH", "/v1/ssf/stream", {"json": {"stream_id": stream_id, "description": "x"}}),
        ("POST", "/v1/ssf/verify", {"json": {"stream_id": stream_id}}),
        ("POST", f"/v1/ssf/poll/{stream_id}", {"json": {"returnImmediately": True}}),
    ):
        response = client.request(method, path, headers=other, **kwargs)
        assert response.status_code == 404, (method, path)
    # A brand may have its own stream: one per receiver, not one in all.
    assert push_stream(client, brand)["aud"] == brand.client_id


def _body(content: Any) -> dict[str, Any]:
    return {"json": content}


ERRORS = [
    pytest.param(
        "none", "POST", _body({"delivery": PUSH}), 401, "invalid_token", id="no-credential"
    ),
    pytest.param(
        "wrong", "POST", _body({"delivery": PUSH}), 401, "invalid_token", id="wrong-credential"
    ),
    pytest.param(
        "ok",
        "POST",
        {"content": b'{"delivery": ', "headers": {"Content-Type": "application/json"}},
        400,
        "invalid_request",
        id="malformed-json",
    ),
    pytest.param(
        "production",
        "POST",
        _body({"delivery": {**PUSH, "endpoint_url": "http://127.0.0.1:9000/events"}}),
        400,
        "invalid_request",
        id="http-endpoint-in-production",
    ),
    pytest.param(
        "ok",
        "POST",
        _body({"delivery": {**PUSH, "endpoint_url": "http://receiver.example/events"}}),
        400,
        "invalid_request",
        id="http-endpoint-not-loopback",
    ),
    pytest.param(
        "ok",
        "POST",
        _body({"events_requested": ["consent granted"]}),
        400,
        "invalid_request",
        id="unknown-event-type-not-a-uri",
    ),
    pytest.param("second", "POST", _body({}), 409, "conflict", id="second-create"),
    pytest.param(
        "ok",
        "POST",
        _body({"description": "x" * 1_100_000}),
        413,
        "invalid_request",
        id="oversize-body",
    ),
    pytest.param(
        "ok",
        "POST",
        _body({"delivery": {"method": "urn:x:smoke"}}),
        400,
        "invalid_request",
        id="unknown-delivery-method",
    ),
    pytest.param(
        "ok",
        "POST",
        _body({"delivery": {"method": types.PUSH}}),
        400,
        "invalid_request",
        id="push-without-endpoint",
    ),
    pytest.param(
        "ok",
        "POST",
        _body({"delivery": {**PUSH, "authorization_header": "Bearer x\r\nX-Evil: 1"}}),
        400,
        "invalid_request",
        id="header-injection",
    ),
    pytest.param("ok", "POST", _body({"colour": "red"}), 400, "invalid_request", id="extra"),
    pytest.param(
        "ok",
        "POST",
        _body({"iss": "https://evil.example"}),
        400,
        "invalid_request",
        id="transmitter-supplied-mismatch",
    ),
    pytest.param("ok", "PATCH", _body({"description": "x"}), 400, "invalid_request", id="no-id"),
]


@pytest.mark.parametrize(("who", "method", "request_kwargs", "status", "code"), ERRORS)
def test_stream_management_refusals(
    client: TestClient,
    operator: dict[str, str],
    runtime: Runtime,
    tmp_path: Path,
    who: str,
    method: str,
    request_kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    if who == "production":
        settings = make_settings(
            tmp_path,
            env=Environment.production,
            issuer="https://accord.example",
            events_interval=0,
        )
        production = Runtime.build(settings, engine=runtime.engine, standard=runtime.standard)
        client = TestClient(create_app(settings, runtime=production))
        operator = {"Authorization": f"Bearer {settings.operator_token.get_secret_value()}"}
    member = register(client, operator)
    headers = {
        "none": {},
        "wrong": {"Authorization": member.headers["Authorization"][:-4] + "AAA="},
    }.get(who, member.headers)
    if who == "second":
        assert client.post("/v1/ssf/stream", json={}, headers=headers).status_code == 201
    extra_headers = request_kwargs.pop("headers", {})
    response = client.request(
        method, "/v1/ssf/stream", headers={**headers, **extra_headers}, **request_kwargs
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["error"] == code
    with Session(runtime.engine) as session:
        streams = session.exec(select(EventStream)).all()
    assert len(streams) == (1 if who == "second" else 0)
