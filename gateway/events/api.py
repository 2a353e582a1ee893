"""The Shared Signals HTTP API: transmitter metadata, stream management, poll, status.

``/.well-known/ssf-configuration`` is public (SSF 1.0 §7). Everything under
``/v1/ssf`` is the authenticated member's own: its one stream (SSF 1.0 §8.1), its
poll endpoint (RFC 8936) and a summary of its deliveries.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from gateway.db import transaction, utcnow
from gateway.edge import RuntimeDep, SessionDep
from gateway.errors import InvalidRequest
from gateway.events import outbox, types
from gateway.events.config import (
    DELIVERIES_PATH,
    POLL_PATH,
    STATUS_PATH,
    STREAM_PATH,
    VERIFY_PATH,
    DeliverySummary,
    PollRequest,
    PollResponse,
    StatusRequest,
    StatusView,
    StreamConfig,
    StreamRequest,
    VerifyRequest,
)
from gateway.events.models import EventStream, StreamStatus
from gateway.events.poll import poll
from gateway.events.streams import Streams, stream_of
from gateway.members.auth import MemberDep, MemberRoute
from gateway.members.models import Member
from gateway.runtime import Runtime

LONG_POLL_SECONDS = 10.0  # RFC 8936 §2.4: a poll without returnImmediately may wait
LONG_POLL_STEP = 0.25
NO_STORE = {"Cache-Control": "no-store"}

StreamIdQuery = Annotated[str, Query(min_length=1, max_length=64)]


def _streams(session: SessionDep, rt: RuntimeDep) -> Streams:
    return Streams(session, rt.settings)


StreamsDep = Annotated[Streams, Depends(_streams)]

well_known = APIRouter(tags=["shared signals"])


@well_known.get("/.well-known/ssf-configuration", summary="SSF transmitter metadata")
def ssf_configuration(rt: RuntimeDep, response: Response) -> dict[str, Any]:
    issuer = rt.settings.issuer
    response.headers["Cache-Control"] = "public, max-age=300"
    return {
        "spec_version": "1_0",
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "delivery_methods_supported": list(types.DELIVERY_METHODS),
        "configuration_endpoint": issuer + STREAM_PATH,
        "status_endpoint": issuer + STATUS_PATH,
        "verification_endpoint": issuer + VERIFY_PATH,
        # A member authenticates as it does at the token endpoint: client_secret_basic
        # (RFC 6749 §2.3.1) or a private_key_jwt assertion (RFC 7523).
        "authorization_schemes": [
            {"spec_urn": "urn:ietf:rfc:6749"},
            {"spec_urn": "urn:ietf:rfc:7523"},
        ],
        "default_subjects": "ALL",
    }


def router() -> APIRouter:
    api = APIRouter(tags=["shared signals"], route_class=MemberRoute)

    @api.post(
        STREAM_PATH, status_code=201, summary="Create the stream", response_model_exclude_none=True
    )
    def create(
        body: StreamRequest, member: MemberDep, streams: StreamsDep, response: Response
    ) -> StreamConfig:
        response.headers.update(NO_STORE)
        return streams.view(streams.create(member, body))

    @api.get(
        STREAM_PATH, summary="Read the stream (or list them)", response_model_exclude_none=True
    )
    def read(
        member: MemberDep,
        streams: StreamsDep,
        response: Response,
        stream_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> StreamConfig | list[StreamConfig]:
        response.headers.update(NO_STORE)
        if stream_id is None:  # SSF 1.0 §8.1.1.2: without stream_id, the list
            return [streams.view(s) for s in streams.list(member)]
        return streams.view(streams.get(member, stream_id))

    @api.patch(STREAM_PATH, summary="Update the stream", response_model_exclude_none=True)
    def update(
        body: StreamRequest, member: MemberDep, streams: StreamsDep, response: Response
    ) -> StreamConfig:
        response.headers.update(NO_STORE)
        return streams.view(streams.update(member, _with_id(body)))

    @api.put(STREAM_PATH, summary="Replace the stream", response_model_exclude_none=True)
    def replace(
        body: StreamRequest, member: MemberDep, streams: StreamsDep, response: Response
    ) -> StreamConfig:
        response.headers.update(NO_STORE)
        return streams.view(streams.replace(member, _with_id(body)))

    @api.delete(STREAM_PATH, status_code=204, summary="Delete the stream")
    def delete(member: MemberDep, streams: StreamsDep, stream_id: StreamIdQuery) -> Response:
        streams.delete(member, stream_id)
        return Response(status_code=204, headers=NO_STORE)

    @api.get(STATUS_PATH, summary="Read the stream's status", response_model_exclude_none=True)
    def status(member: MemberDep, streams: StreamsDep, stream_id: StreamIdQuery) -> StatusView:
        return _status(streams.get(member, stream_id))

    @api.post(
        STATUS_PATH, summary="Enable, pause or disable the stream", response_model_exclude_none=True
    )
    def set_status(body: StatusRequest, member: MemberDep, streams: StreamsDep) -> StatusView:
        return _status(streams.set_status(member, body.stream_id, body.status, body.reason))

    @api.post(VERIFY_PATH, status_code=204, summary="Request a verification event")
    def verify(body: VerifyRequest, member: MemberDep, streams: StreamsDep) -> Response:
        streams.verify(member, body.stream_id, body.state)
        return Response(status_code=204, headers=NO_STORE)

    @api.post(POLL_PATH + "/{stream_id}", summary="Poll for SETs (RFC 8936)")
    async def poll_sets(
        stream_id: Annotated[str, Path(max_length=64)],
        body: PollRequest,
        member: MemberDep,
        rt: RuntimeDep,
        response: Response,
    ) -> PollResponse:
        response.headers.update(NO_STORE)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (0 if body.returnImmediately else LONG_POLL_SECONDS)
        result = await run_in_threadpool(_poll_once, rt, member, stream_id, body)
        quiet = body.model_copy(update={"ack": [], "setErrs": {}})  # reports count once
        while not result.sets and body.maxEvents != 0 and loop.time() < deadline:
            await asyncio.sleep(LONG_POLL_STEP)
            result = await run_in_threadpool(_poll_once, rt, member, stream_id, quiet)
        return result

    @api.get(DELIVERIES_PATH, summary="Delivery status of this member's SETs")
    def deliveries(member: MemberDep, session: SessionDep) -> DeliverySummary:
        stream = stream_of(session, member.id)
        return DeliverySummary(
            stream_id=stream.id if stream else None, **outbox.summary(session, member.id)
        )

    return api


def _status(stream: EventStream) -> StatusView:
    return StatusView(
        stream_id=stream.id, status=StreamStatus(stream.status), reason=stream.status_reason
    )


def _with_id(body: StreamRequest) -> StreamRequest:
    if body.stream_id is None:  # SSF 1.0 §8.1.1.3, §8.1.1.4
        raise InvalidRequest("stream_id is required")
    return body


def _poll_once(rt: Runtime, member: Member, stream_id: str, body: PollRequest) -> PollResponse:
    """One poll in its own transaction: a long poll sees SETs committed meanwhile."""
    with transaction(rt.sessions) as session:
        stream = Streams(session, rt.settings).get(member, stream_id)
        if stream.delivery_method != types.POLL:
            raise InvalidRequest("this stream delivers by push, not poll")
        now = utcnow()
        answer, settled = poll(
            session, stream, body, issuer=rt.settings.issuer, keys=rt.keys, now=now
        )
    for lag in settled.acknowledged:  # counted once committed
        rt.metrics.delivery("poll", "delivered", lag)
    for _ in range(settled.dead):
        rt.metrics.delivery("poll", "dead")
    return answer
