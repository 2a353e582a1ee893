"""Poll delivery (RFC 8936): hand out, acknowledge, redeliver, report errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gateway.db import transaction
from gateway.events import api as events_api
from gateway.events import types
from gateway.events.outbox import emit
from gateway.runtime import Runtime
from sdk.events import verify_set
from tests.gateway.events.conftest import Registered, push_stream


def _poll_stream(client: TestClient, member: Registered) -> str:
    response = client.post("/v1/ssf/stream", json={}, headers=member.headers)
    assert response.status_code == 201, response.text
    assert response.json()["delivery"]["method"] == types.POLL
    stream_id: str = response.json()["stream_id"]
    return stream_id


def _emit(runtime: Runtime, member: Registered, count: int) -> list[str]:
    with transaction(runtime.sessions) as session:
        return [
            emit(
                session,
                recipient_id=member.id,
                event_type=types.CONSENT_WITHDRAWN,
                subject={"format": "iss_sub", "iss": runtime.settings.issuer, "sub": f"s{n}"},
                event={"purpose": "marketing.brand_view"},
            )
            for n in range(count)
        ]


def test_poll_hands_out_acks_and_redelivers(
    client: TestClient, runtime: Runtime, brand: Registered
) -> None:
    stream_id = _poll_stream(client, brand)
    url = f"/v1/ssf/poll/{stream_id}"
    jtis = _emit(runtime, brand, 3)

    first = client.post(url, json={"returnImmediately": True}, headers=brand.headers)
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    body = first.json()
    assert list(body["sets"]) == jtis and body["moreAvailable"] is False
    for jti, token in body["sets"].items():
        event = verify_set(
            token,
            jwks=runtime.keys.jwks(),
            issuer=runtime.settings.issuer,
            audience=brand.client_id,
        )
        assert event.jti == jti and event.event_type == types.CONSENT_WITHDRAWN

    # Nothing acknowledged: the same SETs come again (the response may have been lost).
    again = client.post(url, json={"returnImmediately": True}, headers=brand.headers).json()
    assert list(again["sets"]) == jtis

    # Acknowledge one, report an error on another: neither comes back.
    reports = {
        "returnImmediately": True,
        "ack": [jtis[0]],
        "setErrs": {jtis[1]: {"err": "invalid_key", "description": "unknown kid"}},
    }
    third = client.post(url, json=reports, headers=brand.headers).json()
    assert list(third["sets"]) == [jtis[2]]
    final = {"returnImmediately": True, "ack": [jtis[2]]}
    assert client.post(url, json=final, headers=brand.headers).json() == {
        "sets": {},
        "moreAvailable": False,
    }

    summary = client.get("/v1/ssf/deliveries", headers=brand.headers).json()
    assert summary["stream_id"] == stream_id
    assert summary["counts"] == {
        "pending": 0,
        "delivered": 0,
        "acknowledged": 2,
        "dead": 1,
        "not_requested": 0,
    }
    assert summary["dead"][0]["jti"] == jtis[1]
    assert summary["dead"][0]["last_error"] == "invalid_key: unknown kid"
    assert summary["oldest_pending"] is None


def test_max_events_and_more_available(
    client: TestClient, runtime: Runtime, brand: Registered
) -> None:
    url = f"/v1/ssf/poll/{_poll_stream(client, brand)}"
    jtis = _emit(runtime, brand, 3)
    page = {"returnImmediately": True, "maxEvents": 2}
    one = client.post(url, json=page, headers=brand.headers).json()
    assert list(one["sets"]) == jtis[:2] and one["moreAvailable"] is True
    ack_only = {"maxEvents": 0, "ack": jtis[:2]}  # RFC 8936 §2.4: acknowledge, fetch nothing
    assert client.post(url, json=ack_only, headers=brand.headers).json() == {
        "sets": {},
        "moreAvailable": True,
    }
    two = client.post(url, json=page, headers=brand.headers).json()
    assert list(two["sets"]) == jtis[2:] and two["moreAvailable"] is False


def test_a_long_poll_waits_then_answers_empty(
    client: TestClient, brand: Registered, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_api, "LONG_POLL_SECONDS", 0.3)
    monkeypatch.setattr(events_api, "LONG_POLL_STEP", 0.05)
    url = f"/v1/ssf/poll/{_poll_stream(client, brand)}"
    response = client.post(url, json={}, headers=brand.headers)
    assert response.json() == {"sets": {}, "moreAvailable": False}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param({"maxEvents": -1}, 400, id="negative-max"),
        pytest.param({"ack": "not-a-list"}, 400, id="ack-not-a-list"),
        pytest.param({"setErrs": {"j": {"description": "no err"}}}, 400, id="set-err-no-err"),
        pytest.param({"wait": True}, 400, id="unknown-member"),
    ],
)
def test_malformed_polls_are_400(
    client: TestClient, brand: Registered, body: dict[str, object], status: int
) -> None:
    url = f"/v1/ssf/poll/{_poll_stream(client, brand)}"
    response = client.post(url, json=body, headers=brand.headers)
    assert response.status_code == status
    assert response.json()["error"] == "invalid_request"


def test_a_push_stream_is_not_polled(client: TestClient, platform: Registered) -> None:
    stream_id = push_stream(client, platform)["stream_id"]
    response = client.post(
        f"/v1/ssf/poll/{stream_id}", json={"returnImmediately": True}, headers=platform.headers
    )
    assert response.status_code == 400
    assert "push" in response.json()["error_description"]
    assert client.post(f"/v1/ssf/poll/{stream_id}", json={}).status_code == 401
