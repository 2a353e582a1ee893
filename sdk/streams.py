"""Managing the member's Shared Signals stream (SSF 1.0 §8) and polling it (RFC 8936).

A member has one stream. Create it with an ``endpoint_url`` for push delivery (the
gateway POSTs each SET there, see ``sdk.receiver``) or without one for poll delivery
(call :meth:`StreamOperations.poll_events`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from sdk.calls import Call, Request, operation

PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"
STREAM_PATH = "/v1/ssf/stream"


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class TransmitterConfig(_Model):
    issuer: str
    jwks_uri: str
    delivery_methods_supported: list[str]
    configuration_endpoint: str
    status_endpoint: str
    verification_endpoint: str
    spec_version: str | None = None
    default_subjects: str | None = None


class StreamDelivery(_Model):
    method: str
    endpoint_url: str


class StreamConfig(_Model):
    stream_id: str
    iss: str
    aud: str
    events_supported: list[str]
    events_requested: list[str]
    events_delivered: list[str]
    delivery: StreamDelivery
    description: str | None = None


class StreamStatus(_Model):
    stream_id: str
    status: str
    reason: str | None = None


class PolledEvents(_Model):
    sets: dict[str, str]
    more_available: bool = Field(alias="moreAvailable")


class DeliverySummary(_Model):
    stream_id: str | None
    counts: dict[str, int]
    oldest_pending: dict[str, Any] | None
    dead: list[dict[str, Any]]


def _delivery(endpoint_url: str | None, authorization_header: str | None) -> dict[str, str]:
    if endpoint_url is None:
        return {"method": POLL}
    delivery = {"method": PUSH, "endpoint_url": endpoint_url}
    if authorization_header is not None:
        delivery["authorization_header"] = authorization_header
    return delivery


def _body(
    endpoint_url: str | None,
    authorization_header: str | None,
    events_requested: Sequence[str] | None,
    description: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"delivery": _delivery(endpoint_url, authorization_header)}
    if events_requested is not None:
        body["events_requested"] = list(events_requested)
    if description is not None:
        body["description"] = description
    return body


def _stream(response: httpx.Response) -> StreamConfig:
    return StreamConfig.model_validate(response.json())


def _nothing(_: httpx.Response) -> None:
    return None


class StreamOperations:
    """Stream management for a member client (sent with the member's credential)."""

    @operation
    def ssf_configuration(self) -> Call[TransmitterConfig]:
        """The gateway's SSF transmitter metadata (public)."""
        return Call(
            Request("GET", "/.well-known/ssf-configuration"),
            lambda r: TransmitterConfig.model_validate(r.json()),
        )

    @operation
    def create_stream(
        self,
        *,
        endpoint_url: str | None = None,
        authorization_header: str | None = None,
        events_requested: Sequence[str] | None = None,
        description: str | None = None,
    ) -> Call[StreamConfig]:
        """Create the stream: push to ``endpoint_url``, or poll when it is None."""
        body = _body(endpoint_url, authorization_header, events_requested, description)
        return Call(Request("POST", STREAM_PATH, json=body, member_auth=True), _stream)

    @operation
    def stream(self) -> Call[StreamConfig | None]:
        """The member's stream, or None if it has none yet."""

        def parse(response: httpx.Response) -> StreamConfig | None:
            streams = response.json()
            return StreamConfig.model_validate(streams[0]) if streams else None

        return Call(Request("GET", STREAM_PATH, member_auth=True), parse)

    @operation
    def update_stream(
        self,
        stream_id: str,
        *,
        events_requested: Sequence[str] | None = None,
        description: str | None = None,
    ) -> Call[StreamConfig]:
        """Change only what is given (PATCH)."""
        body: dict[str, Any] = {"stream_id": stream_id}
        if events_requested is not None:
            body["events_requested"] = list(events_requested)
        if description is not None:
            body["description"] = description
        return Call(Request("PATCH", STREAM_PATH, json=body, member_auth=True), _stream)

    @operation
    def replace_stream(
        self,
        stream_id: str,
        *,
        endpoint_url: str | None = None,
        authorization_header: str | None = None,
        events_requested: Sequence[str] | None = None,
        description: str | None = None,
    ) -> Call[StreamConfig]:
        """Replace the whole configuration (PUT): what is left out is removed."""
        body = _body(endpoint_url, authorization_header, events_requested, description)
        body["stream_id"] = stream_id
        return Call(Request("PUT", STREAM_PATH, json=body, member_auth=True), _stream)

    @operation
    def delete_stream(self, stream_id: str) -> Call[None]:
        """Delete the stream; undelivered SETs wait for the next one."""
        params = {"stream_id": stream_id}
        return Call(Request("DELETE", STREAM_PATH, params=params, member_auth=True), _nothing)

    @operation
    def stream_status(self, stream_id: str) -> Call[StreamStatus]:
        params = {"stream_id": stream_id}
        return Call(
            Request("GET", "/v1/ssf/status", params=params, member_auth=True),
            lambda r: StreamStatus.model_validate(r.json()),
        )

    @operation
    def set_stream_status(
        self, stream_id: str, status: str, reason: str | None = None
    ) -> Call[StreamStatus]:
        """``enabled``, ``paused`` (SETs are held) or ``disabled`` (they are dropped)."""
        body = {"stream_id": stream_id, "status": status}
        if reason is not None:
            body["reason"] = reason
        return Call(
            Request("POST", "/v1/ssf/status", json=body, member_auth=True),
            lambda r: StreamStatus.model_validate(r.json()),
        )

    @operation
    def verify_stream(self, stream_id: str, state: str | None = None) -> Call[None]:
        """Ask for a verification SET carrying ``state`` (SSF 1.0 §8.1.4.2)."""
        body = {"stream_id": stream_id, **({"state": state} if state is not None else {})}
        return Call(Request("POST", "/v1/ssf/verify", json=body, member_auth=True), _nothing)

    @operation
    def poll_events(
        self,
        stream_id: str,
        *,
        ack: Sequence[str] = (),
        errors: Mapping[str, tuple[str, str]] | None = None,
        max_events: int | None = None,
        return_immediately: bool = True,
    ) -> Call[PolledEvents]:
        """RFC 8936 poll: acknowledge ``ack``, report ``errors`` (jti: (err, description)),
        and fetch what is pending. SETs not acknowledged come again on a later poll."""
        body: dict[str, Any] = {"returnImmediately": return_immediately, "ack": list(ack)}
        if errors:
            body["setErrs"] = {
                jti: {"err": err, "description": text} for jti, (err, text) in errors.items()
            }
        if max_events is not None:
            body["maxEvents"] = max_events
        return Call(
            Request("POST", f"/v1/ssf/poll/{stream_id}", json=body, member_auth=True),
            lambda r: PolledEvents.model_validate(r.json()),
        )

    @operation
    def deliveries(self) -> Call[DeliverySummary]:
        """How the gateway's SETs to this member are doing: counts, oldest pending, dead."""
        return Call(
            Request("GET", "/v1/ssf/deliveries", member_auth=True),
            lambda r: DeliverySummary.model_validate(r.json()),
        )
