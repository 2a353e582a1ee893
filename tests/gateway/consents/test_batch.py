"""Recording many consents in one call: each checked and answered on its own, the
refused ones leaving nothing behind, the recorded ones logged and announced."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlmodel import col

from consent.journal import Evidence
from consent.records import Actor, History
from gateway.consents.log_models import LogHead
from gateway.consents.models import ConsentRecordRow
from gateway.consents.service import Ask, Consents, Terms
from gateway.consents.upkeep import sequence_log
from gateway.db import transaction
from gateway.events.models import SecurityEvent
from gateway.identity.models import Person, PlatformAccount
from gateway.runtime import Runtime
from sdk import (
    APIError,
    AsyncPlatformClient,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    Consent,
    NewConsent,
    NotFoundError,
    PermissionDeniedError,
    verify_receipt,
)
from tests.gateway.alliance import Alliance

pytestmark = pytest.mark.anyio

CONTENT = ["user.demographic.city_tier", "user.device.type"]


def new(account: str, **kw: Any) -> NewConsent:
    return NewConsent(
        account_id=account,
        purpose=kw.pop("purpose", "personalize.content"),
        categories=kw.pop("categories", CONTENT),
        notice_id=kw.pop("notice_id", "redleaf-privacy"),
        notice_version=kw.pop("version", 1),
        **kw,
    )


def count(runtime: Runtime, table: Any, *where: Any) -> int:
    with runtime.sessions() as session:
        return int(
            session.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
        )


async def test_each_consent_is_answered_on_its_own(
    redleaf: AsyncPlatformClient, runtime: Runtime, alliance: Alliance
) -> None:
    results = await redleaf.record_consents(
        [
            new("b-1", ip="203.0.113.7"),
            new("b-2", categories=[*CONTENT, "user.financial.credit_band"]),  # not necessary
            new("b-3", purpose="no.such.purpose"),
            new("b-4", version=7),  # no such notice version
            new("b-5", notice_id="no-such-notice"),
            new("b-6", minor_under_14=True),  # a minor without a guardian
            new("b-7", minor_under_14=True, guardian_ref="guardian-9", actor="guardian"),
            new("b-1", categories=["user.device.type"]),  # the same person, a second consent
        ]
    )
    assert len(results) == 8
    recorded = [r for r in results if isinstance(r, Consent)]
    assert [type(r).__name__ for r in results] == [
        "Consent",
        "BadRequestError",
        "BadRequestError",
        "NotFoundError",
        "NotFoundError",
        "BadRequestError",
        "Consent",
        "Consent",
    ]
    errors = [r for r in results if isinstance(r, APIError)]
    assert (
        errors[0].code == "invalid_scope" and "user.financial.credit_band" in errors[0].description
    )
    assert "no.such.purpose" in errors[1].description
    assert "guardian" in errors[4].description.lower()
    assert all(e.body["status"] == e.status and e.body["type"].startswith("urn:") for e in errors)

    first, minor, second = recorded
    assert first.account_id == "b-1" and second.account_id == "b-1"
    assert first.subject == second.subject and len(first.subject) == 43  # one person
    assert minor.guardian and minor.state == "given"
    assert {c.record_id for c in await redleaf.consents(account_id="b-1")} == {
        first.record_id,
        second.record_id,
    }
    decision = await redleaf.decide("personalize.content", CONTENT, account_id="b-7")
    assert decision.allowed  # the minor's consent rests on the guardian's

    # The refused leave nothing: no person, no account, no record, no SET, no leaf.
    for account in ("b-2", "b-3", "b-4", "b-5", "b-6"):
        with pytest.raises(NotFoundError):
            await redleaf.consents(account_id=account)
    assert count(runtime, PlatformAccount) == 2
    assert count(runtime, Person) == 2
    assert count(runtime, ConsentRecordRow) == 3
    platform_id = alliance.platform["id"]
    assert count(runtime, SecurityEvent, col(SecurityEvent.recipient_id) == platform_id) == 3
    sequence_log(runtime)
    with runtime.sessions() as session:
        assert session.execute(select(col(LogHead.size))).scalar() == 3
    with runtime.sessions() as session:  # the minor mark is kept with the recorded consent
        marks = dict(session.execute(select(col(Person.id), col(Person.minor_under_14))).all())
    assert sorted(marks.values()) == [False, True]


async def test_batch_consents_carry_receipts_and_decide_like_single_ones(
    redleaf: AsyncPlatformClient,
) -> None:
    results = await redleaf.record_consents([new(f"r-{n}") for n in range(25)])
    assert all(isinstance(r, Consent) and r.state == "given" for r in results)
    consent = results[13]
    assert isinstance(consent, Consent)
    token = await redleaf.receipt(consent.record_id, 0)  # once the log holds the event
    jwks, log = await redleaf.jwks(), await redleaf.consent_log()
    verified = verify_receipt(
        token, jwks=jwks, log_verifier_key=log.verifier_key, issuer=redleaf.issuer
    )
    assert verified.principal == consent.subject and verified.event_type == "given"
    assert log.size == 25
    withdrawn = await redleaf.withdraw_consent(consent.record_id)
    assert withdrawn.state == "withdrawn"
    decision = await redleaf.decide("personalize.content", CONTENT, account_id="r-13")
    assert not decision.allowed and decision.reasons == ["withdrawn"]
    other = await redleaf.decide("personalize.content", CONTENT, account_id="r-12")
    assert other.allowed


async def test_a_bumped_notice_refuses_the_old_version_item_by_item(
    redleaf: AsyncPlatformClient, client: TestClient, alliance: Alliance
) -> None:
    bumped = client.post(
        "/v1/admin/notices/redleaf-privacy/versions",
        json={"text": "Redleaf privacy notice, version two.", "language": "zh-CN"},
        headers=alliance.operator,
    )
    assert bumped.status_code == 201
    old, current = await redleaf.record_consents([new("n-1"), new("n-2", version=2)])
    assert isinstance(old, ConflictError) and "version 2" in old.description
    assert isinstance(current, Consent) and current.notice["version"] == 2


def _batch(client: TestClient, alliance: Alliance, body: Any, member: str = "platform") -> Any:
    auth = (
        (alliance.platform["client_id"], alliance.platform_secret)
        if member == "platform"
        else (alliance.brand_a["client_id"], alliance.brand_a_secret)
    )
    return client.post("/v1/consents/batch", json=body, auth=auth)


def _item(account: str) -> dict[str, Any]:
    return new(account).body()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"consents": []}, "consents", id="empty"),
        pytest.param({"consents": [_item(f"x-{n}") for n in range(1001)]}, "consents", id="1001"),
        pytest.param({"consents": [_item("x-1")], "extra": 1}, "extra", id="unknown-field"),
        pytest.param({"consents": [{**_item("x-1"), "account_id": ""}]}, "account_id", id="item"),
        pytest.param([_item("x-1")], "body", id="not-an-object"),
    ],
)
def test_a_malformed_batch_is_refused_whole(
    client: TestClient, alliance: Alliance, runtime: Runtime, body: Any, field: str
) -> None:
    response = _batch(client, alliance, body)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["error"] == "invalid_request" and field in problem["error_description"]
    assert count(runtime, ConsentRecordRow) == 0 and count(runtime, Person) == 0


def test_an_oversized_batch_is_refused_before_it_is_read(
    client: TestClient, alliance: Alliance, runtime: Runtime
) -> None:
    item = {**_item("x"), "categories": ["user.device.type"] * 200}
    response = _batch(client, alliance, {"consents": [item] * 600})  # ~2.7 MB
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"
    assert count(runtime, ConsentRecordRow) == 0


async def test_only_a_platform_records_and_only_with_its_credential(
    client: TestClient, alliance: Alliance, runtime: Runtime
) -> None:
    body = {"consents": [_item("x-1")]}
    assert _batch(client, alliance, body, member="brand").status_code == 403
    anonymous = client.post("/v1/consents/batch", json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    wrong = client.post(
        "/v1/consents/batch", json=body, auth=(alliance.platform["client_id"], "not-the-secret")
    )
    assert wrong.status_code == 401
    assert count(runtime, ConsentRecordRow) == 0


async def test_the_sdk_bounds_a_batch_before_sending(redleaf: AsyncPlatformClient) -> None:
    with pytest.raises(ValueError, match="between 1 and 1000"):
        await redleaf.record_consents([])
    with pytest.raises(ValueError, match="between 1 and 1000"):
        await redleaf.record_consents([new(f"y-{n}") for n in range(1001)])


async def test_errors_are_the_sdk_classes_of_the_single_call(redleaf: AsyncPlatformClient) -> None:
    (batch_error,) = await redleaf.record_consents([new("e-1", purpose="no.such.purpose")])
    with pytest.raises(BadRequestError) as single:
        await redleaf.record_consent(
            "e-1", "no.such.purpose", CONTENT, notice_id="redleaf-privacy", notice_version=1
        )
    assert isinstance(batch_error, BadRequestError)
    assert (batch_error.code, batch_error.description) == (
        single.value.code,
        single.value.description,
    )
    assert not isinstance(batch_error, (AuthenticationError, PermissionDeniedError))


def test_a_batch_costs_the_same_statements_whatever_its_size(
    runtime: Runtime, alliance: Alliance
) -> None:
    """One statement per table for the lot: the write path does not loop over rows."""
    terms = Terms("personalize.content", frozenset(CONTENT), "redleaf-privacy", 1)
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(str(args[2]))

    counts = {}
    for size in (5, 300):
        statements.clear()
        with transaction(runtime.sessions) as session:
            connection = session.connection()  # this transaction's, not the app's upkeep
            event.listen(connection, "before_cursor_execute", seen)
            consents = Consents(session, runtime)
            platform = consents.member(alliance.platform["id"])
            accounts = [f"s{size}-{n}" for n in range(size)]
            persons, _ = consents.persons.link(platform.id, accounts)
            evidence = Evidence(Actor.person, "platform_ui")
            asks = [Ask(persons[a], platform, terms, evidence) for a in accounts]
            assert all(isinstance(o, History) for o in consents.give_many(asks))
            event.remove(connection, "before_cursor_execute", seen)
        counts[size] = len(statements)
    assert counts[5] == counts[300] <= 15, statements
    assert count(runtime, ConsentRecordRow) == 305
