"""Data-subject requests a platform relays for its own users: export and erasure
(PIPL Arts. 45, 47; GDPR Arts. 15, 17, 20), answered within 30 days."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict

from sdk.calls import Call, Request, operation


class RightsRequestInfo(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    request_id: str
    kind: str  # "export" or "erasure"
    state: str  # "received", "completed" or "refused"
    received_at: datetime
    due_at: datetime
    days_left: int
    overdue: bool
    reason: str | None = None  # why it was refused, to show the person
    completed_at: datetime | None = None

    @property
    def answered(self) -> bool:
        return self.state != "received"


def _info(response: httpx.Response) -> RightsRequestInfo:
    return RightsRequestInfo.model_validate(response.json())


def _submit(account_id: str, kind: Literal["export", "erasure"]) -> Call[RightsRequestInfo]:
    body = {"account_id": account_id, "kind": kind}
    return Call(Request("POST", "/v1/rights/requests", json=body, member_auth=True), _info)


class RightsOperations:
    """What a platform does when its user asks for their data or for erasure."""

    @operation
    def request_export(self, account_id: str) -> Call[RightsRequestInfo]:
        """The user's request for a copy of their data (PIPL Art. 45; GDPR Arts. 15, 20)."""
        return _submit(account_id, "export")

    @operation
    def request_erasure(self, account_id: str) -> Call[RightsRequestInfo]:
        """The user's request to be erased (PIPL Art. 47; GDPR Art. 17); every recipient
        is told by an erasure SET."""
        return _submit(account_id, "erasure")

    @operation
    def rights_request(self, request_id: str) -> Call[RightsRequestInfo]:
        """A request's state and deadline."""
        return Call(Request("GET", f"/v1/rights/requests/{request_id}", member_auth=True), _info)

    @operation
    def export(self, request_id: str) -> Call[dict[str, Any]]:
        """The finished export: a JSON document (raises ConflictError until completed)."""
        path = f"/v1/rights/requests/{request_id}/export"

        def parse(response: httpx.Response) -> dict[str, Any]:
            document: dict[str, Any] = response.json()
            return document

        return Call(Request("GET", path, member_auth=True), parse)
