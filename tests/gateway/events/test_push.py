"""Push delivery (RFC 8935) through the SDK's receiver: order, retries, dead letters."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from gateway.db import transaction, utcnow
from gateway.events import types
from gateway.events.delivery import LEASE, MAX_DELAY, Dispatcher, backoff
from gateway.events.models import DeliveryState, SecurityEvent
from gateway.events.outbox import emit
from gateway.runtime import Runtime
from sdk.events import verify_set
from tests.gateway.events.conftest import Inbox, Registered, push_stream, register

SUBJECT = {"format": "opaque", "id": "pairwise-sub-1"}


def _emit(runtime: Runtime, member: Registered, *event_types: str) -> list[str]:
    with transaction(runtime.sessions) as session:
        return [
            emit(
                session,
                recipient_id=member.id,
                event_type=event_type,
                subject=SUBJECT,
                event={"n": n},
                txn=f"txn-{n}",
            )
            for n, event_type in enumerate(event_types)
        ]


def _rows(runtime: Runtime, member: Registered) -> list[SecurityEvent]:
    with Session(runtime.engine) as session:
        query = select(SecurityEvent).where(SecurityEvent.recipient_id == member.id)
        return list(session.exec(query.order_by(col(SecurityEvent.id))))


def _inbox(runtime: Runtime, member: Registered, audience: str | None = None) -> Inbox:
    return Inbox(
        jwks=runtime.keys.jwks(),
        issuer=runtime.settings.issuer,
        audience=audience or member.client_id,
    )


def _later(hours: float) -> datetime:
    return utcnow() + timedelta(hours=hours)


def test_pushed_sets_verify_with_the_sdk(
    client: TestClient, runtime: Runtime, platform: Registered
) -> None:
    push_stream(client, platform)
    jtis = _emit(runtime, platform, types.CONSENT_GRANTED, types.IDENTITY_LINK_ADDED)
    inbox = _inbox(runtime, platform)
    seen: list[httpx.Request] = []

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return inbox.transport().handle_request(request)

    dispatcher = Dispatcher(runtime, transport=httpx.MockTransport(spy))
    assert dispatcher.run_once() == 2
    assert dispatcher.run_once() == 0  # nothing twice
    dispatcher.close()

    assert [e.jti for e in inbox.events] == jtis
    first = inbox.events[0]
    assert first.event_type == types.CONSENT_GRANTED and first.payload == {"n": 0}
    assert first.sub_id == SUBJECT and first.txn == "txn-0"
    assert first.aud == platform.client_id and first.iss == runtime.settings.issuer
    assert "exp" not in first.claims and "sub" not in first.claims
    request = seen[0]
    assert request.headers["content-type"] == "application/secevent+jwt"
    assert request.headers["accept"] == "application/json"
    assert request.headers["authorization"].startswith("Bearer receiver-secret")
    token = request.content.decode()
    assert (
        verify_set(
            token,
            jwks=runtime.keys.jwks(),
            issuer=runtime.settings.issuer,
            audience=platform.client_id,
        ).jti
        == jtis[0]
    )
    states = {row.state for row in _rows(runtime, platform)}
    assert states == {DeliveryState.delivered}


def test_a_recipient_down_for_a_while_gets_every_set_in_order(
    client: TestClient, runtime: Runtime, platform: Registered, brand: Registered
) -> None:
    push_stream(client, platform)
    push_stream(client, brand, url="https://brand.example/events")
    jtis = _emit(runtime, platform, *[types.CONSENT_GRANTED, types.CONSENT_WITHDRAWN] * 3)
    down, up = _inbox(runtime, platform), _inbox(runtime, brand)
    down.down = True
    brand_jtis = _emit(runtime, brand, types.CONSENT_GRANTED)

    down_transport, up_transport = down.transport(), up.transport()

    def route(request: httpx.Request) -> httpx.Response:
        target = up_transport if request.url.host == "brand.example" else down_transport
        return target.handle_request(request)

    dispatcher = Dispatcher(runtime, transport=httpx.MockTransport(route), max_attempts=12)
    for hour in range(5):  # five runs while the platform is down
        dispatcher.run_once(_later(hour))
    assert down.calls == 5  # only the head is tried: one attempt per run
    assert [e.jti for e in up.events] == brand_jtis  # the brand was not held up
    head, *rest = _rows(runtime, platform)
    assert head.attempts == 5 and head.state == DeliveryState.pending
    assert head.last_error == "unreachable: ConnectError"
    assert all(row.attempts == 0 for row in rest)

    down.down = False
    dispatcher.run_once(_later(6))
    dispatcher.close()
    assert [e.jti for e in down.events] == jtis  # every one, in order, none lost
    assert {row.state for row in _rows(runtime, platform)} == {DeliveryState.delivered}


def test_503_is_retried_with_backoff_then_dead_lettered(
    client: TestClient, runtime: Runtime, platform: Registered
) -> None:
    push_stream(client, platform)
    first, second = _emit(runtime, platform, types.CONSENT_GRANTED, types.CONSENT_WITHDRAWN)
    unavailable = httpx.MockTransport(lambda _: httpx.Response(503, headers={"Retry-After": "7"}))
    dispatcher = Dispatcher(runtime, transport=unavailable, max_attempts=3)
    start = _later(0)
    assert dispatcher.run_once(start) == 1
    head = _rows(runtime, platform)[0]
    wait = (head.next_attempt_at - start).total_seconds()
    assert 7 <= wait <= 7.01  # Retry-After beats the 0.5-1 s of the first backoff
    assert dispatcher.run_once(start + timedelta(seconds=3)) == 0  # not due yet
    dispatcher.run_once(_later(1))
    dispatcher.run_once(_later(2))
    dead, after = _rows(runtime, platform)
    assert dead.jti == first and dead.state == DeliveryState.dead and dead.attempts == 3
    assert dead.last_error == "gave up after 3 attempts: HTTP 503"
    assert after.jti == second and after.attempts == 1  # the queue moved on
    dispatcher.close()

    summary = client.get("/v1/ssf/deliveries", headers=platform.headers).json()
    assert summary["counts"]["dead"] == 1 and summary["counts"]["pending"] == 1
    assert summary["dead"] == [
        {
            "jti": first,
            "event_type": types.CONSENT_GRANTED,
            "attempts": 3,
            "last_error": "gave up after 3 attempts: HTTP 503",
        }
    ]
    assert summary["oldest_pending"]["jti"] == second


def test_a_400_refusal_is_dead_at_once_with_its_err(
    client: TestClient, runtime: Runtime, platform: Registered
) -> None:
    push_stream(client, platform)
    _emit(runtime, platform, types.CONSENT_GRANTED, types.CONSENT_GRANTED)
    wrong_audience = _inbox(runtime, platform, audience="someone-else")
    dispatcher = Dispatcher(runtime, transport=wrong_audience.transport())
    assert dispatcher.run_once() == 2  # the refusal does not hold the next SET up
    dispatcher.close()
    rows = _rows(runtime, platform)
    assert [row.state for row in rows] == [DeliveryState.dead, DeliveryState.dead]
    assert rows[0].attempts == 1
    assert rows[0].last_error == "invalid_audience: the SET is for another audience"


def test_events_the_stream_did_not_request_are_not_sent_but_erasure_is(
    client: TestClient, runtime: Runtime, platform: Registered
) -> None:
    push_stream(client, platform, events_requested=[types.CONSENT_WITHDRAWN])
    jtis = _emit(
        runtime,
        platform,
        types.CONSENT_GRANTED,
        types.CONSENT_WITHDRAWN,
        types.ERASURE_REQUESTED,
        types.IDENTITY_LINK_ADDED,
    )
    inbox = _inbox(runtime, platform)
    dispatcher = Dispatcher(runtime, transport=inbox.transport())
    dispatcher.run_once()
    dispatcher.close()
    assert inbox.types == [types.CONSENT_WITHDRAWN, types.ERASURE_REQUESTED]
    states = {row.jti: row.state for row in _rows(runtime, platform)}
    assert states == {
        jtis[0]: DeliveryState.not_requested,
        jtis[1]: DeliveryState.delivered,
        jtis[2]: DeliveryState.delivered,
        jtis[3]: DeliveryState.not_requested,
    }


def test_events_wait_for_a_stream_and_for_a_paused_one(
    client: TestClient, runtime: Runtime, platform: Registered
) -> None:
    early = _emit(runtime, platform, types.CONSENT_GRANTED)  # no stream yet
    inbox = _inbox(runtime, platform)
    dispatcher = Dispatcher(runtime, transport=inbox.transport())
    assert dispatcher.run_once() == 0
    stream_id = push_stream(client, platform)["stream_id"]
    pause = {"stream_id": stream_id, "status": "paused"}
    client.post("/v1/ssf/status", json=pause, headers=platform.headers)
    held = _emit(runtime, platform, types.CONSENT_WITHDRAWN)
    assert dispatcher.run_once() == 0  # paused: held, not dropped
    client.post("/v1/ssf/status", json={**pause, "status": "enabled"}, headers=platform.headers)
    assert dispatcher.run_once() == 2
    dispatcher.close()
    assert [e.jti for e in inbox.events] == early + held


def test_a_disabled_stream_drops_events_but_keeps_erasure_requests(
    client: TestClient, runtime: Runtime, platform: Registered
) -> None:
    stream_id = push_stream(client, platform)["stream_id"]
    status = {"stream_id": stream_id, "status": "disabled"}
    client.post("/v1/ssf/status", json=status, headers=platform.headers)
    dropped, erasure = _emit(runtime, platform, types.CONSENT_GRANTED, types.ERASURE_REQUESTED)
    client.post("/v1/ssf/status", json={**status, "status": "enabled"}, headers=platform.headers)
    inbox = _inbox(runtime, platform)
    dispatcher = Dispatcher(runtime, transport=inbox.transport())
    dispatcher.run_once()
    dispatcher.close()
    assert [e.jti for e in inbox.events] == [erasure]
    states = {row.jti: (row.state, row.last_error) for row in _rows(runtime, platform)}
    assert states[dropped] == (DeliveryState.not_requested, "stream disabled")


def test_a_worker_that_dies_mid_send_leaves_the_set_to_be_retried(
    client: TestClient, runtime: Runtime, platform: Registered
) -> None:
    push_stream(client, platform)
    (jti,) = _emit(runtime, platform, types.CONSENT_GRANTED)
    now = _later(0)
    crashed = Dispatcher(runtime)
    with transaction(runtime.sessions) as session:
        assert [a.jti for a in crashed._claim(session, now)] == [jti]  # then it dies
    crashed.close()
    inbox = _inbox(runtime, platform)
    survivor = Dispatcher(runtime, transport=inbox.transport())
    assert survivor.run_once(now + timedelta(seconds=1)) == 0  # leased: not sent twice
    assert survivor.run_once(now + LEASE) == 1
    survivor.close()
    assert [e.jti for e in inbox.events] == [jti]


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [
        pytest.param(1, 0.5, 1.0, id="first"),
        pytest.param(4, 4.0, 8.0, id="fourth"),
        pytest.param(30, MAX_DELAY / 2, MAX_DELAY, id="capped"),
    ],
)
def test_backoff_is_exponential_capped_and_jittered(attempt: int, low: float, high: float) -> None:
    rng = random.Random(7)  # noqa: S311 - jitter, not a secret
    delays: list[Any] = [backoff(attempt, rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert len(set(delays)) > 100  # jittered, not fixed


def test_two_workers_deliver_each_set_once_and_in_order(
    client: TestClient, runtime: Runtime, operator: dict[str, str]
) -> None:
    members = [register(client, operator, name=f"Platform {n}") for n in range(3)]
    for member in members:
        push_stream(client, member, url=f"https://{member.client_id}.example/events")
    queued = {m.client_id: _emit(runtime, m, *[types.CONSENT_GRANTED] * 8) for m in members}
    received: dict[str, list[str]] = {m.client_id: [] for m in members}
    lock = threading.Lock()

    def accept(request: httpx.Request) -> httpx.Response:
        claims = jwt.decode(request.content, options={"verify_signature": False})
        time.sleep(0.002)  # let the workers overlap
        with lock:
            received[claims["aud"]].append(claims["jti"])
        return httpx.Response(202)

    workers = [Dispatcher(runtime, transport=httpx.MockTransport(accept)) for _ in range(2)]
    for _ in range(30):
        with ThreadPoolExecutor(max_workers=2) as pool:
            sent = sum(pool.map(lambda worker: worker.run_once(), workers))
        if not sent:
            break
    for worker in workers:
        worker.close()
    assert received == queued  # each once, each recipient's in order
