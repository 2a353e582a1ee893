"""Rights requests over HTTP: the 30-day deadline, refusals with a reason, the operator's
list, and who may do what."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from gateway.db import transaction
from gateway.rights.models import RightsRequestRow
from gateway.runtime import Runtime
from sdk import AsyncPlatformClient, PermissionDeniedError
from tests.gateway.alliance import Alliance
from tests.gateway.rights.conftest import brand
from tests.gateway.rights.scene import ACCOUNT_A, CONTENT, NOTICE
from tests.gateway.rights.test_export import process

pytestmark = pytest.mark.anyio


async def user(redleaf: AsyncPlatformClient, account: str = ACCOUNT_A) -> None:
    await redleaf.record_consent(
        account, "personalize.content", CONTENT, notice_id=NOTICE, notice_version=1
    )


def refuse(client: TestClient, alliance: Alliance, request_id: str, body: Any) -> httpx.Response:
    path = f"/v1/admin/rights/requests/{request_id}/refuse"
    response: httpx.Response = client.post(path, json=body, headers=alliance.operator)
    return response


async def test_a_request_is_due_in_thirty_days_and_goes_overdue(
    alliance: Alliance, client: TestClient, runtime: Runtime, redleaf: AsyncPlatformClient
) -> None:
    await user(redleaf)
    await user(redleaf, "u-2002")
    late = await redleaf.request_export("u-2002")
    request = await redleaf.request_export(ACCOUNT_A)
    assert request.due_at - request.received_at == timedelta(days=30)
    assert request.days_left == 30 and not request.overdue and request.state == "received"
    assert (await redleaf.request_export(ACCOUNT_A)).request_id == request.request_id  # no reset

    with transaction(runtime.sessions) as session:  # received 31 days ago
        session.execute(
            update(RightsRequestRow)
            .where(RightsRequestRow.id == late.request_id)  # type: ignore[arg-type]
            .values(
                received_at=late.received_at - timedelta(days=31),
                due_at=late.due_at - timedelta(days=31),
            )
        )
    overdue = await redleaf.rights_request(late.request_id)
    assert overdue.overdue and overdue.days_left == 0

    listed = client.get("/v1/admin/rights/requests?state=received", headers=alliance.operator)
    assert listed.status_code == 200, listed.text
    rows = listed.json()["requests"]
    assert [r["request_id"] for r in rows] == [late.request_id, request.request_id]
    assert rows[0]["overdue"] and rows[0]["requested_by"] == alliance.platform["id"]
    assert rows[1]["due_at"] and rows[1]["days_left"] == 30
    assert "person_id" not in listed.text

    assert process(client, alliance) == 2
    done = await redleaf.rights_request(late.request_id)
    assert done.state == "completed" and not done.overdue  # answered, if late
    listed = client.get("/v1/admin/rights/requests?state=received", headers=alliance.operator)
    assert listed.json()["requests"] == []


async def test_a_refusal_needs_a_reason_and_shows_it(
    alliance: Alliance, client: TestClient, redleaf: AsyncPlatformClient
) -> None:
    await user(redleaf)
    request = await redleaf.request_erasure(ACCOUNT_A)
    for body in ({"reason": ""}, {"reason": "   "}, {}, {"reason": "x" * 501}):
        response = refuse(client, alliance, request.request_id, body)
        assert response.status_code == 400, body
        assert response.json()["error"] == "invalid_request"
    assert (await redleaf.rights_request(request.request_id)).state == "received"

    reason = "The account is under a legal hold (PIPL Art. 47, para. 2)."
    refused = refuse(client, alliance, request.request_id, {"reason": reason})
    assert refused.status_code == 200, refused.text
    assert refused.json()["state"] == "refused" and refused.json()["reason"] == reason
    status = await redleaf.rights_request(request.request_id)
    assert status.state == "refused" and status.reason == reason and status.answered
    again = refuse(client, alliance, request.request_id, {"reason": reason})
    assert again.status_code == 409
    assert process(client, alliance) == 0  # a refused request is not processed


async def test_refusing_a_completed_request_is_a_conflict(
    alliance: Alliance, client: TestClient, redleaf: AsyncPlatformClient
) -> None:
    await user(redleaf)
    request = await redleaf.request_export(ACCOUNT_A)
    assert process(client, alliance) == 1
    response = refuse(client, alliance, request.request_id, {"reason": "too late"})
    assert response.status_code == 409 and response.json()["error"] == "conflict"
    assert (await redleaf.rights_request(request.request_id)).state == "completed"
    assert refuse(client, alliance, "no-such-request", {"reason": "x"}).status_code == 404


async def test_a_brand_may_not_submit(alliance: Alliance, redleaf: AsyncPlatformClient) -> None:
    await user(redleaf)
    async with brand(alliance) as aurora:
        with pytest.raises(PermissionDeniedError):
            await aurora.request_erasure(ACCOUNT_A)


def _auth(alliance: Alliance, who: str) -> httpx.Auth | None:
    if who == "platform":
        return httpx.BasicAuth(alliance.platform["client_id"], alliance.platform_secret)
    if who == "brand":
        return httpx.BasicAuth(alliance.brand_a["client_id"], alliance.brand_a_secret)
    return None


Case = Callable[[str], tuple[str, str, dict[str, Any] | None]]


@pytest.mark.parametrize(
    ("who", "case", "status", "code"),
    [
        pytest.param(
            "nobody",
            lambda _: ("POST", "/v1/rights/requests", {"account_id": ACCOUNT_A, "kind": "export"}),
            401,
            "invalid_token",
            id="unauthenticated",
        ),
        pytest.param(
            "brand",
            lambda _: ("POST", "/v1/rights/requests", {"account_id": ACCOUNT_A, "kind": "export"}),
            403,
            "access_denied",
            id="brand-submits",
        ),
        pytest.param(
            "platform",
            lambda _: ("POST", "/v1/rights/requests", {"account_id": ACCOUNT_A, "kind": "rectify"}),
            400,
            "invalid_request",
            id="unknown-kind",
        ),
        pytest.param(
            "platform",
            lambda _: ("POST", "/v1/rights/requests", {"account_id": "nobody", "kind": "erasure"}),
            404,
            "not_found",
            id="unknown-account",
        ),
        pytest.param(
            "brand",
            lambda rid: ("GET", f"/v1/rights/requests/{rid}", None),
            404,
            "not_found",
            id="another-members-status",
        ),
        pytest.param(
            "brand",
            lambda rid: ("GET", f"/v1/rights/requests/{rid}/export", None),
            404,
            "not_found",
            id="another-members-export",
        ),
        pytest.param(
            "platform",
            lambda rid: ("GET", f"/v1/rights/requests/{rid}/export", None),
            409,
            "conflict",
            id="export-before-completion",
        ),
        pytest.param(
            "nobody",
            lambda _: ("POST", "/v1/admin/rights/process", None),
            401,
            "invalid_token",
            id="process-without-operator",
        ),
    ],
)
async def test_errors(
    alliance: Alliance,
    client: TestClient,
    redleaf: AsyncPlatformClient,
    who: str,
    case: Case,
    status: int,
    code: str,
) -> None:
    await user(redleaf)
    request = await redleaf.request_export(ACCOUNT_A)
    method, path, body = case(request.request_id)
    response = client.request(method, path, json=body, auth=_auth(alliance, who))
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["error"] == code and problem["status"] == status
    assert response.headers["content-type"].startswith("application/problem+json")
    if code == "invalid_request":  # the standard problem, naming the field at fault
        assert [e["field"] for e in problem["errors"]] == ["body.kind"]
        assert "rectify" not in response.text  # the input is never echoed
    assert (await redleaf.rights_request(request.request_id)).state == "received"
