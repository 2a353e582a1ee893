"""A member's event stream: create, read, update, replace, delete, status, verify.

One stream per member (SSF 1.0 §8.1.1.1: a second create is 409). The rules of
SSF 1.0 §8.1.1: Transmitter-Supplied properties a request repeats must match; PATCH
changes only what it names; PUT replaces every Receiver-Supplied property, and one
it leaves out is deleted. A request without ``delivery`` means poll (§8.1.1.1).
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from gateway.db import utcnow
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.events import types
from gateway.events.config import (
    MAX_DESCRIPTION,
    POLL_PATH,
    DeliveryView,
    StreamConfig,
    StreamRequest,
    check_event_uris,
    check_header,
    check_push_endpoint,
)
from gateway.events.models import EventStream, StreamStatus
from gateway.events.outbox import emit, settle_unwanted
from gateway.members.models import Member
from gateway.settings import Settings


class Streams:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings

    # --- configuration ---------------------------------------------------------------

    def list(self, member: Member) -> list[EventStream]:
        found = self.session.exec(select(EventStream).where(EventStream.member_id == member.id))
        return list(found)

    def get(self, member: Member, stream_id: str | None) -> EventStream:
        stream = self.session.exec(
            select(EventStream).where(
                EventStream.member_id == member.id, EventStream.id == stream_id
            )
        ).first()
        if stream is None:  # someone else's stream is as unknown as a missing one
            raise NotFound("no event stream with this stream_id")
        return stream

    def create(self, member: Member, request: StreamRequest) -> EventStream:
        if request.stream_id is not None:
            raise InvalidRequest("stream_id is Transmitter-Supplied: leave it out on create")
        if self.list(member):
            raise Conflict("this receiver already has a stream (one per receiver)")
        now = utcnow()
        stream = EventStream(
            id=uuid.uuid4().hex,
            member_id=member.id,
            aud=member.client_id,
            events_requested=[],
            events_delivered=[],
            delivery_method=types.POLL,
            endpoint_url="",
            created_at=now,
            updated_at=now,
        )
        self._check_transmitter_supplied(stream, request)
        self._apply(stream, request, replace=True)
        self.session.add(stream)
        try:
            self.session.flush()
        except IntegrityError:  # a concurrent create won the race
            raise Conflict("this receiver already has a stream (one per receiver)") from None
        return stream

    def update(self, member: Member, request: StreamRequest) -> EventStream:
        stream = self.get(member, request.stream_id)
        self._check_transmitter_supplied(stream, request)
        self._apply(stream, request, replace=False)
        return stream

    def replace(self, member: Member, request: StreamRequest) -> EventStream:
        stream = self.get(member, request.stream_id)
        self._check_transmitter_supplied(stream, request)
        self._apply(stream, request, replace=True)
        return stream

    def delete(self, member: Member, stream_id: str) -> None:
        # Undelivered SETs stay queued for the recipient: a new stream receives them.
        self.session.delete(self.get(member, stream_id))
        self.session.flush()

    def _check_transmitter_supplied(self, stream: EventStream, request: StreamRequest) -> None:
        if request.iss is not None and request.iss != self.settings.issuer:
            raise InvalidRequest("iss is Transmitter-Supplied and does not match")
        expected = {
            "events_supported": list(types.SUPPORTED),
            "events_delivered": stream.events_delivered,  # as before this change
        }
        for name, value in expected.items():
            given = getattr(request, name)
            if given is not None and sorted(given) != sorted(value):  # order is not meaning
                raise InvalidRequest(f"{name} is Transmitter-Supplied and does not match")
        if request.aud is not None and request.aud not in (stream.aud, [stream.aud]):
            raise InvalidRequest("aud is Transmitter-Supplied and does not match")

    def _apply(self, stream: EventStream, request: StreamRequest, *, replace: bool) -> None:
        given = request.model_fields_set
        if replace or "events_requested" in given:
            requested = request.events_requested
            # Without a request, a stream takes every supported event type.
            stream.events_requested = (
                check_event_uris(requested) if requested is not None else list(types.SUPPORTED)
            )
            stream.events_delivered = types.delivered_types(stream.events_requested)
        if replace or "description" in given:
            text = " ".join(request.description.split()) if request.description else None
            stream.description = text[:MAX_DESCRIPTION] if text else None
        if replace or "delivery" in given:
            self._apply_delivery(stream, request)
        stream.updated_at = utcnow()

    def _apply_delivery(self, stream: EventStream, request: StreamRequest) -> None:
        delivery = request.delivery
        method = delivery.method if delivery is not None else types.POLL
        if delivery is not None and method == types.PUSH:
            stream.endpoint_url = check_push_endpoint(delivery.endpoint_url, self.settings)
            stream.authorization_header = check_header(delivery.authorization_header)
        elif method == types.POLL:
            # RFC 8936 via SSF 1.0 §6.1.2: the Transmitter supplies the poll URL.
            stream.endpoint_url = f"{self.settings.issuer}{POLL_PATH}/{stream.id}"
            stream.authorization_header = None
        else:
            raise InvalidRequest(
                f"delivery.method must be one of {', '.join(types.DELIVERY_METHODS)}"
            )
        stream.delivery_method = method

    # --- status and verification -----------------------------------------------------

    def set_status(
        self, member: Member, stream_id: str, status: StreamStatus, reason: str | None
    ) -> EventStream:
        stream = self.get(member, stream_id)
        now = utcnow()
        if StreamStatus.disabled in (stream.status, status):
            # Entering or leaving disabled: what was queued meanwhile is not held (§8.1.2).
            settle_unwanted(self.session, stream, now=now, disabled=True)
        stream.status = status
        stream.status_reason = reason
        stream.updated_at = now
        return stream

    def verify(self, member: Member, stream_id: str, state: str | None) -> str:
        """Queue a verification SET (SSF 1.0 §8.1.4.1): its subject is the stream."""
        stream = self.get(member, stream_id)
        return emit(
            self.session,
            recipient_id=member.id,
            event_type=types.VERIFICATION,
            subject={"format": "opaque", "id": stream.id},
            event={"state": state} if state is not None else {},
        )

    # --- on the wire -----------------------------------------------------------------

    def view(self, stream: EventStream) -> StreamConfig:
        return StreamConfig(
            stream_id=stream.id,
            iss=self.settings.issuer,
            aud=stream.aud,
            events_supported=list(types.SUPPORTED),
            events_requested=stream.events_requested,
            events_delivered=stream.events_delivered,
            delivery=DeliveryView(method=stream.delivery_method, endpoint_url=stream.endpoint_url),
            description=stream.description,
        )


def stream_of(session: Session, member_id: str) -> EventStream | None:
    return session.exec(select(EventStream).where(EventStream.member_id == member_id)).first()
