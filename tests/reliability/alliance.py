"""Members of a gateway under test, made through its HTTP APIs as an operator and a
platform would: platforms (with push streams to a local SET receiver), a notice."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from sdk.events import SecurityEvent
from sdk.receiver import set_receiver
from tests.gateway.members.cases import platform_spec

PURPOSE = "personalize.content"
CATEGORIES = ["user.demographic.city_tier", "user.device.type"]
NOTICE_ID = "reliability-notice"
RECEIVER_AUTH = "Bearer reliability-receiver-secret"
PUSH = "urn:ietf:rfc:8935"

ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


@dataclass(frozen=True)
class Platform:
    id: str
    client_id: str
    secret: str

    @property
    def auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self.client_id, self.secret)


def register_platform(url: str, operator: dict[str, str], slug: str, **spec: Any) -> Platform:
    body = platform_spec(
        name=f"Reliability {slug}",
        contact={"name": f"{slug} DPO", "email": f"dpo@{slug}.example"},
        redirect_uris=[f"https://{slug}.example/cb"],
        login_url=f"https://{slug}.example/login",
        events_endpoint=None,
        purposes=["identity.sso", PURPOSE],
        **spec,
    )
    response = httpx.post(f"{url}/v1/admin/platforms", json=body, headers=operator, timeout=30)
    assert response.status_code == 201, response.text
    made = response.json()
    return Platform(made["id"], made["client_id"], made["client_secret"])


def publish_notice(url: str, operator: dict[str, str]) -> int:
    response = httpx.post(
        f"{url}/v1/admin/notices/{NOTICE_ID}/versions",
        json={"text": "The reliability suite's notice.", "language": "en"},
        headers=operator,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["version"])


def push_stream(url: str, platform: Platform, endpoint_url: str) -> str:
    """Create the platform's push stream; its id."""
    delivery = {"method": PUSH, "endpoint_url": endpoint_url, "authorization_header": RECEIVER_AUTH}
    response = httpx.post(
        f"{url}/v1/ssf/stream", json={"delivery": delivery}, auth=platform.auth, timeout=30
    )
    assert response.status_code == 201, response.text
    return str(response.json()["stream_id"])


def stream_status(url: str, platform: Platform, stream_id: str, status: str) -> None:
    """``paused`` holds the platform's SETs in the outbox; ``enabled`` lets them go."""
    response = httpx.post(
        f"{url}/v1/ssf/status",
        json={"stream_id": stream_id, "status": status},
        auth=platform.auth,
        timeout=30,
    )
    assert response.status_code == 200, response.text


@dataclass
class Received:
    """SETs a receiver accepted, per audience (a platform's client id)."""

    events: dict[str, list[SecurityEvent]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, audience: str, event: SecurityEvent) -> None:
        with self.lock:
            self.events.setdefault(audience, []).append(event)

    def record_ids(self, event_type_suffix: str = "/consent/granted") -> set[str]:
        with self.lock:
            return {
                str(event.payload.get("record_id"))
                for events in self.events.values()
                for event in events
                if event.event_type.endswith(event_type_suffix)
            }

    def count(self) -> int:
        with self.lock:
            return sum(len(events) for events in self.events.values())


def receivers(
    issuer: str, jwks: dict[str, Any], platforms: list[Platform], received: Received
) -> ASGIApp:
    """One ASGI app with the SDK's SET receiver for each platform at ``/<client_id>/``."""
    apps: dict[str, ASGIApp] = {}
    for platform in platforms:

        def handle(event: SecurityEvent, audience: str = platform.client_id) -> None:
            received.add(audience, event)

        apps[platform.client_id] = set_receiver(
            handle,
            jwks=jwks,
            issuer=issuer,
            audience=platform.client_id,
            authorization=RECEIVER_AUTH,
        )

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await next(iter(apps.values()))(scope, receive, send)
            return
        target = apps.get(scope["path"].strip("/"))
        if target is None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await target(scope, receive, send)

    return app


def consents_in_force(url: str, platforms: list[Platform]) -> dict[str, str]:
    """Account -> record id of every consent in force, as the platforms read them back
    (``GET /v1/eligibility``, every page)."""
    recorded: dict[str, str] = {}
    for platform in platforms:
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"purpose": PURPOSE, "limit": 1000}
            if cursor is not None:
                params["cursor"] = cursor
            page = httpx.get(f"{url}/v1/eligibility", params=params, auth=platform.auth, timeout=60)
            assert page.status_code == 200, page.text
            for item in page.json()["accounts"]:
                recorded[item["account_id"]] = item["record_id"]
            cursor = page.json().get("next_cursor")
            if cursor is None:
                break
    return recorded
