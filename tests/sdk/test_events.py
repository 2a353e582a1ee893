"""The SDK's side of Shared Signals: stream operations, SET verification, the receiver."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from jwt.algorithms import ECAlgorithm

from sdk import ClientSecretBasic, ConflictError, NotFoundError
from sdk import receiver as receiver_module
from sdk.client import AsyncClient
from sdk.events import SecurityEvent, SetError, verify_set
from sdk.receiver import set_receiver
from sdk.streams import StreamOperations
from tests.gateway.members.cases import brand_spec

pytestmark = pytest.mark.anyio
ISSUER = "https://accord.example"
AUDIENCE = "brd_receiver"
VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"
WITHDRAWN = "https://schemas.accord.dev/secevent/consent/withdrawn"


class StreamsClient(AsyncClient, StreamOperations):
    """A member client with the stream operations mixed in."""


def _key(kid: str) -> tuple[Any, dict[str, Any]]:
    private = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    return private, {**public, "kid": kid, "alg": "ES256", "use": "sig"}


PRIVATE, PUBLIC = _key("k1")
JWKS = {"keys": [PUBLIC]}


def _set(
    claims: dict[str, Any] | None = None,
    *,
    headers: dict[str, Any] | None = None,
    key: Any = PRIVATE,
    drop: tuple[str, ...] = (),
) -> str:
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(time.time()),
        "jti": "jti-1",
        "sub_id": {"format": "opaque", "id": "pairwise-1"},
        "events": {WITHDRAWN: {"purpose": "marketing.brand_view"}},
        **(claims or {}),
    }
    for name in drop:
        payload.pop(name)
    header = {"typ": "secevent+jwt", "kid": "k1", **(headers or {})}
    return jwt.encode(payload, key, algorithm="ES256", headers=header)


# --- verify_set --------------------------------------------------------------------------


def test_a_valid_set_verifies() -> None:
    event = verify_set(_set({"txn": "t-1"}), jwks=JWKS, issuer=ISSUER, audience=AUDIENCE)
    assert isinstance(event, SecurityEvent)
    assert event.event_type == WITHDRAWN
    assert event.payload == {"purpose": "marketing.brand_view"}
    assert event.sub_id == {"format": "opaque", "id": "pairwise-1"} and event.txn == "t-1"


OTHER_PRIVATE, _ = _key("k1")


@pytest.mark.parametrize(
    ("token", "err"),
    [
        pytest.param("not a jwt", "invalid_request", id="garbage"),
        pytest.param(_set(headers={"typ": "JWT"}), "invalid_request", id="typ-jwt"),
        pytest.param(_set(headers={"kid": "k9"}), "invalid_key", id="unknown-kid"),
        pytest.param(_set(key=OTHER_PRIVATE), "invalid_key", id="bad-signature"),
        pytest.param(
            jwt.encode(
                {"iss": ISSUER}, "k" * 32, algorithm="HS256", headers={"typ": "secevent+jwt"}
            ),
            "invalid_key",
            id="hmac-alg",
        ),
        pytest.param(_set({"iss": "https://evil.example"}), "invalid_issuer", id="issuer"),
        pytest.param(_set({"aud": "someone-else"}), "invalid_audience", id="audience"),
        pytest.param(_set(drop=("events",)), "invalid_request", id="no-events"),
        pytest.param(_set({"events": {}}), "invalid_request", id="empty-events"),
        pytest.param(_set(drop=("jti",)), "invalid_request", id="no-jti"),
        pytest.param(_set({"sub": "x"}), "invalid_request", id="sub-claim"),
        pytest.param(_set(drop=("sub_id",)), "invalid_request", id="no-sub-id"),
    ],
)
def test_refused_sets_name_their_rfc_8935_error(token: str, err: str) -> None:
    with pytest.raises(SetError) as caught:
        verify_set(token, jwks=JWKS, issuer=ISSUER, audience=AUDIENCE)
    assert caught.value.err == err
    assert isinstance(caught.value, ValueError)


# --- the receiver (RFC 8935) ---------------------------------------------------------------


async def _push(app: Any, token: str | bytes, **headers: str) -> httpx.Response:
    sent = {"Content-Type": "application/secevent+jwt", "Authorization": "Bearer rcv", **headers}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://receiver.example"
    ) as client:
        return await client.post("/events", content=token, headers=sent)


def _receiver(handled: list[SecurityEvent], **kwargs: Any) -> Any:
    options: dict[str, Any] = {"jwks": JWKS, "authorization": "Bearer rcv", **kwargs}
    return set_receiver(handled.append, issuer=ISSUER, audience=AUDIENCE, **options)


async def test_the_receiver_accepts_once_per_jti() -> None:
    handled: list[SecurityEvent] = []
    app = _receiver(handled)
    first = await _push(app, _set())
    assert first.status_code == 202 and first.content == b""
    assert (await _push(app, _set())).status_code == 202  # redelivered
    assert [event.jti for event in handled] == ["jti-1"]  # handled once


@pytest.mark.parametrize(
    ("token", "headers", "err"),
    [
        pytest.param(_set(), {"Authorization": "Bearer wrong"}, "authentication_failed", id="auth"),
        pytest.param(_set(), {"Content-Type": "application/json"}, "invalid_request", id="ctype"),
        pytest.param(_set({"aud": "x"}), {}, "invalid_audience", id="audience"),
        pytest.param(_set({"iss": "https://x.example"}), {}, "invalid_issuer", id="issuer"),
        pytest.param(_set(headers={"kid": "k2"}), {}, "invalid_key", id="key"),
        pytest.param("%%%", {}, "invalid_request", id="garbage"),
    ],
)
async def test_the_receiver_refuses_with_400_and_err(
    token: str, headers: dict[str, str], err: str
) -> None:
    handled: list[SecurityEvent] = []
    response = await _push(_receiver(handled), token, **headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["err"] == err and response.json()["description"]
    assert handled == []


async def test_the_receiver_answers_other_requests_plainly() -> None:
    app = _receiver([])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://r.example") as client:
        assert (await client.get("/events")).status_code == 405
    assert (await _push(app, b"x" * 70_000)).status_code == 413

    def failing(_: SecurityEvent) -> None:
        raise RuntimeError("database down")

    broken = set_receiver(failing, jwks=JWKS, issuer=ISSUER, audience=AUDIENCE)
    assert (await _push(broken, _set())).status_code == 500  # so the gateway retries


async def test_the_receiver_refetches_the_jwks_when_a_key_rotates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    new_private, new_public = _key("k2")
    published = [JWKS]

    async def provider() -> dict[str, Any]:
        return published[-1]

    handled: list[SecurityEvent] = []
    app = _receiver(handled, jwks=None, jwks_provider=provider)
    assert (await _push(app, _set())).status_code == 202
    published.append({"keys": [PUBLIC, new_public]})
    rotated = _set({"jti": "jti-2"}, headers={"kid": "k2"}, key=new_private)
    refused = await _push(app, rotated)  # fetched moments ago: not refetched yet
    assert refused.status_code == 400 and refused.json()["err"] == "invalid_key"
    monkeypatch.setattr(receiver_module, "REFRESH_EVERY", 0.0)
    assert (await _push(app, rotated)).status_code == 202
    assert [event.jti for event in handled] == ["jti-1", "jti-2"]


def test_the_receiver_needs_one_source_of_keys() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        set_receiver(lambda _: None, issuer=ISSUER, audience=AUDIENCE)


# --- stream operations against the gateway -------------------------------------------------


@pytest.fixture
async def member(app: FastAPI, operator: dict[str, str]) -> AsyncIterator[StreamsClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as admin:
        response = await admin.post("/v1/admin/brands", json=brand_spec(), headers=operator)
        body = response.json()
    auth = ClientSecretBasic(body["client_id"], body["client_secret"])
    async with StreamsClient("http://gateway.test", transport=transport, auth=auth) as client:
        yield client


async def test_stream_operations_and_a_verification_round_trip(
    member: StreamsClient, app: FastAPI
) -> None:
    rt = app.state.runtime
    config = await member.ssf_configuration()
    assert config.issuer == rt.settings.issuer and config.spec_version == "1_0"
    assert await member.stream() is None

    stream = await member.create_stream(description="brand feed")
    assert stream.delivery.method == "urn:ietf:rfc:8936"
    with pytest.raises(ConflictError):
        await member.create_stream()
    assert await member.stream() == stream
    updated = await member.update_stream(stream.stream_id, events_requested=[WITHDRAWN])
    assert updated.events_delivered[0] == WITHDRAWN and updated.description == "brand feed"

    await member.verify_stream(stream.stream_id, state="abc")
    polled = await member.poll_events(stream.stream_id)
    assert polled.more_available is False
    ((jti, token),) = polled.sets.items()
    event = verify_set(
        token,
        jwks=rt.keys.jwks(),
        issuer=config.issuer,
        audience=member.auth.client_id if member.auth else "",
    )
    assert event.jti == jti and event.event_type == VERIFICATION
    assert event.payload == {"state": "abc"}
    assert event.sub_id == {"format": "opaque", "id": stream.stream_id}  # SSF 1.0 §8.1.4.1
    assert (await member.poll_events(stream.stream_id, ack=[jti])).sets == {}
    summary = await member.deliveries()
    assert summary.counts["acknowledged"] == 1 and summary.stream_id == stream.stream_id

    paused = await member.set_stream_status(stream.stream_id, "paused", reason="holiday")
    assert (paused.status, paused.reason) == ("paused", "holiday")
    assert (await member.stream_status(stream.stream_id)).status == "paused"

    pushed = await member.replace_stream(
        stream.stream_id, endpoint_url="https://brand.example/events", authorization_header="B x"
    )
    assert pushed.delivery.endpoint_url == "https://brand.example/events"
    assert pushed.description is None  # PUT: left out means removed
    await member.delete_stream(stream.stream_id)
    assert await member.stream() is None
    with pytest.raises(NotFoundError):
        await member.stream_status(stream.stream_id)
