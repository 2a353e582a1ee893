"""Data-subject request APIs: members relay and follow them, the operator answers them.

A platform relays its own user's request, naming them by its account id (PIPL Art. 50:
a convenient way to exercise the rights); only that platform sees the request's status
and its export. (The person sees their requests, and may also ask, in the consent
center: ``gateway/web/rights.py``.) The operator lists requests by deadline, refuses
with a reason, and runs the processing (also meant to run on a schedule).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from consent.rights import REASON_LENGTH, RequestKind, RequestState, RightsRequest
from gateway.consents.wire import Strict
from gateway.db import utcnow
from gateway.edge import OperatorRoute, RuntimeDep, SessionDep
from gateway.members.auth import MemberDep, MemberRoute, PlatformDep
from gateway.rights.service import Rights

MAX_PAGE = 1000


class RightsRequestIn(Strict):
    account_id: str = Field(min_length=1, max_length=255, description="the platform's user id")
    kind: RequestKind


class RefuseIn(Strict):
    reason: str = Field(min_length=1, max_length=REASON_LENGTH, description="shown to the person")


class RightsRequestOut(BaseModel):
    request_id: str
    kind: str
    state: str
    received_at: datetime
    due_at: datetime
    days_left: int
    overdue: bool
    reason: str | None = None
    completed_at: datetime | None = None


class AdminRightsRequestOut(RightsRequestOut):
    # The member (platform) that relayed the request; null when the person asked in the
    # consent center.
    requested_by: str | None


class AdminRightsRequestList(BaseModel):
    requests: list[AdminRightsRequestOut]


class ProcessedOut(BaseModel):
    processed: int


def request_out(request: RightsRequest, now: datetime) -> RightsRequestOut:
    return RightsRequestOut(
        request_id=request.id,
        kind=request.kind.value,
        state=request.state.value,
        received_at=request.received_at,
        due_at=request.due_at,
        days_left=request.days_left(now),
        overdue=request.overdue(now),
        reason=request.reason,
        completed_at=request.completed_at,
    )


def _rights(session: SessionDep, rt: RuntimeDep) -> Rights:
    return Rights(session, rt)


RightsDep = Annotated[Rights, Depends(_rights)]


def member_router() -> APIRouter:
    api = APIRouter(prefix="/v1/rights", tags=["rights"], route_class=MemberRoute)

    @api.post("/requests", status_code=202, response_model=RightsRequestOut)
    def submit(
        body: RightsRequestIn, platform: PlatformDep, rights: RightsDep, response: Response
    ) -> RightsRequestOut:
        """Relay a user's export or erasure request; it is answered within 30 days."""
        person = rights.consents.persons.of_account(platform.id, body.account_id)
        request = rights.submit(person, platform, body.kind)
        response.headers["Location"] = f"/v1/rights/requests/{request.id}"
        return request_out(request, utcnow())

    @api.get("/requests/{request_id}", response_model=RightsRequestOut)
    def status(request_id: str, member: MemberDep, rights: RightsDep) -> RightsRequestOut:
        return request_out(rights.status(request_id, member), utcnow())

    @api.get("/requests/{request_id}/export")
    def export(request_id: str, member: MemberDep, rights: RightsDep) -> dict[str, Any]:
        """The finished export (GDPR Art. 20: structured and machine-readable)."""
        return rights.export(request_id, member)

    return api


def operator_router() -> APIRouter:
    api = APIRouter(prefix="/v1/admin/rights", tags=["admin: rights"], route_class=OperatorRoute)

    @api.get("/requests", response_model=AdminRightsRequestList)
    def listing(
        rights: RightsDep,
        state: RequestState | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 500,
    ) -> AdminRightsRequestList:
        """Requests with their deadlines, overdue ones first."""
        now = utcnow()
        return AdminRightsRequestList(
            requests=[
                AdminRightsRequestOut(**request_out(r, now).model_dump(), requested_by=member)
                for r, member in rights.listing(now, state, limit)
            ]
        )

    @api.post("/requests/{request_id}/refuse", response_model=RightsRequestOut)
    def refuse(request_id: str, body: RefuseIn, rights: RightsDep) -> RightsRequestOut:
        """Refuse a request, with the reason the person is shown (GDPR Art. 12(4))."""
        return request_out(rights.refuse(request_id, body.reason), utcnow())

    @api.post("/process", response_model=ProcessedOut)
    def process(rights: RightsDep) -> ProcessedOut:
        """Answer the received requests now, oldest first."""
        return ProcessedOut(processed=rights.process_pending(utcnow()))

    return api
