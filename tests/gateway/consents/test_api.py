"""Consents through the SDK: record, list, decide, withdraw, notices, eligibility."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlmodel import col

from consent.journal import Evidence
from consent.records import Actor
from gateway.consents import category_sets
from gateway.consents.log_models import LogHead, LogLeaf
from gateway.consents.models import ConsentEventRow, ConsentRecordRow
from gateway.consents.service import Consents, Terms
from gateway.consents.upkeep import sequence_log
from gateway.db import transaction, utcnow
from gateway.members.models import Member
from gateway.runtime import Runtime
from sdk import (
    AsyncPlatformClient,
    BadRequestError,
    ConflictError,
    NotFoundError,
)
from sdk.receipts import ReceiptError, verify_receipt
from tests.gateway.alliance import Alliance

pytestmark = pytest.mark.anyio

CONTENT = ["user.demographic.city_tier", "user.device.type"]


async def give(client: AsyncPlatformClient, account: str = "u-1001", **kw: object):  # type: ignore[no-untyped-def]
    return await client.record_consent(
        account,
        kw.pop("purpose", "personalize.content"),  # type: ignore[arg-type]
        kw.pop("categories", CONTENT),  # type: ignore[arg-type]
        notice_id="redleaf-privacy",
        notice_version=kw.pop("version", 1),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


async def test_a_recorded_consent_is_listed_decided_and_logged(
    redleaf: AsyncPlatformClient, runtime: Runtime
) -> None:
    consent = await give(redleaf, ip="203.0.113.7", user_agent="Redleaf/5.1 iOS")
    assert consent.state == "given" and consent.state_dpv == "dpv:ConsentGiven"
    assert consent.account_id == "u-1001" and len(consent.subject) == 43
    assert consent.recipient["name"] == "Redleaf Social Shop"
    assert consent.recipient["contact"] == "dpo@redleaf.example"
    assert consent.notice["version"] == 1 and str(consent.notice["text_hash"]).startswith("sha256:")
    assert consent.categories == sorted(CONTENT)

    by_account = await redleaf.consents(account_id="u-1001")
    by_sub = await redleaf.consents(sub=consent.subject)
    assert [c.record_id for c in by_account] == [c.record_id for c in by_sub] == [consent.record_id]

    decision = await redleaf.decide("personalize.content", CONTENT, account_id="u-1001")
    assert decision.allowed and set(decision.granted_by.values()) == {consent.record_id}

    sequence_log(runtime)  # queued with the write; the background sequencer may be first
    with runtime.sessions() as session:
        assert session.execute(select(col(LogHead.size))).scalar() == 1
        event = session.execute(select(ConsentEventRow)).scalar_one()
        assert event.ip_hash is not None and "203.0.113.7" not in event.ip_hash
        leaf = session.get(LogLeaf, event.leaf_id)
        assert leaf is not None and leaf.idx == 0


async def test_withdrawal_is_one_call_and_the_next_decision_denies(
    redleaf: AsyncPlatformClient,
) -> None:
    consent = await give(redleaf)
    withdrawn = await redleaf.withdraw_consent(consent.record_id)
    assert withdrawn.state == "withdrawn"
    assert [e.type for e in withdrawn.events] == ["given", "withdrawn"]  # evidence remains
    decision = await redleaf.decide("personalize.content", CONTENT, account_id="u-1001")
    assert not decision.allowed and decision.reasons == ["withdrawn"]
    with pytest.raises(ConflictError):  # withdrawing twice is a conflict, not a new event
        await redleaf.withdraw_consent(consent.record_id)


async def test_a_category_outside_the_purpose_is_refused_with_a_clear_error(
    redleaf: AsyncPlatformClient,
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await give(redleaf, categories=[*CONTENT, "user.financial.credit_band"])
    assert caught.value.code == "invalid_scope"
    assert "user.financial.credit_band" in caught.value.description
    assert "PIPL Art. 6" in caught.value.description
    with pytest.raises(NotFoundError):  # nothing was written, not even the person
        await redleaf.consents(account_id="u-1001")


async def test_a_minor_needs_a_guardian(redleaf: AsyncPlatformClient) -> None:
    with pytest.raises(BadRequestError) as caught:
        await give(redleaf, account="kid-1", minor_under_14=True)
    assert "guardian" in caught.value.description.lower()
    consent = await give(
        redleaf, account="kid-1", minor_under_14=True, guardian_ref="guardian-7", actor="guardian"
    )
    assert consent.guardian and consent.state == "given"
    decision = await redleaf.decide("personalize.content", CONTENT, account_id="kid-1")
    assert decision.allowed


async def test_a_notice_bump_invalidates_dependent_consents(
    alliance: Alliance, client: TestClient, redleaf: AsyncPlatformClient
) -> None:
    consent = await give(redleaf)
    bumped = client.post(
        "/v1/admin/notices/redleaf-privacy/versions",
        json={"text": "Redleaf privacy notice, version two: new processing.", "language": "zh-CN"},
        headers=alliance.operator,
    )
    assert bumped.status_code == 201 and bumped.json()["version"] == 2
    assert bumped.json()["invalidated"] == 1
    after = await redleaf.consent(consent.record_id)
    assert after.state == "invalidated" and after.events[-1].actor == "system"
    decision = await redleaf.decide("personalize.content", CONTENT, account_id="u-1001")
    assert not decision.allowed
    with pytest.raises(ConflictError) as caught:  # consenting under the old text: refused
        await give(redleaf, version=1)
    assert "version 2" in caught.value.description
    renewed = await give(redleaf, version=2)
    assert renewed.state == "given"
    notice = await redleaf.notice("redleaf-privacy")
    assert notice.version == 2 and notice.text is not None and "version two" in notice.text


async def test_only_the_recipient_sees_its_records(
    alliance: Alliance, client: TestClient, redleaf: AsyncPlatformClient
) -> None:
    consent = await give(redleaf)
    async with alliance.keyed_client() as bluefin:
        with pytest.raises(NotFoundError):
            await bluefin.consent(consent.record_id)
        with pytest.raises(NotFoundError):
            await bluefin.withdraw_consent(consent.record_id)
        with pytest.raises(NotFoundError):  # its own account namespace knows no u-1001
            await bluefin.consents(account_id="u-1001")
    brand = httpx.BasicAuth(alliance.brand_a["client_id"], alliance.brand_a_secret)
    response = client.post(f"/v1/consents/{consent.record_id}/withdraw", auth=brand)
    assert response.status_code == 403 and response.json()["error"] == "access_denied"
    assert (await redleaf.consent(consent.record_id)).state == "given"


async def test_a_grant_to_brand_a_does_not_reach_brand_b(
    alliance: Alliance, runtime: Runtime, redleaf: AsyncPlatformClient
) -> None:
    await give(redleaf)
    with transaction(runtime.sessions) as session:
        consents = Consents(session, runtime)
        person = consents.persons.of_account(alliance.platform["id"], "u-1001")
        brand_a = session.get(Member, alliance.brand_a["id"])
        brand_b = session.get(Member, alliance.brand_b["id"])
        assert brand_a is not None and brand_b is not None
        consents.give(
            person,
            brand_a,
            Terms(
                "marketing.brand_view", frozenset({"user.interest.beauty"}), "redleaf-privacy", 1
            ),
            Evidence(Actor.person, "consent_center"),
        )
        sub_a = consents.persons.subject(person, brand_a)
        sub_b = consents.persons.subject(person, brand_b)
    assert sub_a != sub_b
    async with alliance.brand_client("a") as a, alliance.brand_client("b") as b:
        allowed = await a.decide("marketing.brand_view", ["user.interest.beauty"], sub=sub_a)
        denied = await b.decide("marketing.brand_view", ["user.interest.beauty"], sub=sub_b)
        assert [c.purpose for c in await a.consents(sub=sub_a)] == ["marketing.brand_view"]
        assert await b.consents(sub=sub_b) == []
        with pytest.raises(NotFoundError):  # brand B cannot use brand A's pseudonym
            await b.consents(sub=sub_a)
    assert allowed.allowed and not denied.allowed and denied.reasons == ["no_consent"]


async def test_eligibility_lists_the_users_in_force_page_by_page(
    redleaf: AsyncPlatformClient,
) -> None:
    training = ["user.content_quality.overall"]
    records = {}
    for n in range(5):
        records[f"u-{n}"] = await give(
            redleaf, account=f"u-{n}", purpose="train_ai_system.profile_model", categories=training
        )
    await redleaf.withdraw_consent(records["u-3"].record_id)
    await give(redleaf, account="u-9")  # another purpose: not eligible
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = await redleaf.eligible("train_ai_system.profile_model", cursor=cursor, limit=2)
        seen += [a.account_id for a in page.accounts]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == ["u-0", "u-1", "u-2", "u-4"]
    with pytest.raises(BadRequestError):
        await redleaf.eligible("no.such_purpose")


async def test_expired_consents_are_recorded_by_the_expiry_job(
    alliance: Alliance, redleaf: AsyncPlatformClient, runtime: Runtime
) -> None:
    current = await give(redleaf, account="u-2")
    with transaction(runtime.sessions) as session:
        consents = Consents(session, runtime)
        person = consents.persons.of_account(alliance.platform["id"], "u-1", create=True)
        member = session.get(Member, alliance.platform["id"])
        assert member is not None
        start = utcnow() - timedelta(days=400)  # given long ago, for a year
        terms = Terms("personalize.content", frozenset(CONTENT), "redleaf-privacy", 1)
        old = consents.give(person, member, terms, Evidence(Actor.person, "platform_ui"), at=start)
    with transaction(runtime.sessions) as session:
        assert Consents(session, runtime).expire_due(utcnow()) == 1
    after = await redleaf.consent(old.record.record_id)
    assert [e.type for e in after.events] == ["given", "expired"]
    assert after.state == "expired" and after.events[-1].actor == "system"
    assert (await redleaf.consent(current.record_id)).state == "given"
    with transaction(runtime.sessions) as session:  # nothing more is due
        assert Consents(session, runtime).expire_due(utcnow()) == 0


async def test_receipts_verify_offline_against_the_log(
    redleaf: AsyncPlatformClient, runtime: Runtime
) -> None:
    consent = await give(redleaf)
    await redleaf.withdraw_consent(consent.record_id)
    jwks = await redleaf.jwks()
    first = await redleaf.receipt(consent.record_id, 0)
    # A receipt sequences what is queued, but the background sequencer may have taken the
    # first event alone just before: sequence the rest, so the log holds both.
    sequence_log(runtime)
    log = await redleaf.consent_log()
    assert log.size == 2 and first.count(".") == 2
    verified = []
    for seq in (0, 1):
        token = await redleaf.receipt(consent.record_id, seq)
        verified.append(
            verify_receipt(
                token, jwks=jwks, log_verifier_key=log.verifier_key, issuer=redleaf.issuer
            )
        )
    assert [v.event_type for v in verified] == ["given", "withdrawn"]
    assert [v.log_index for v in verified] == [0, 1]
    assert {v.principal for v in verified} == {consent.subject}
    with pytest.raises(NotFoundError):
        await redleaf.receipt(consent.record_id, 2)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(ReceiptError):
        verify_receipt(tampered, jwks=jwks, log_verifier_key=log.verifier_key)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"method": "forged_ui"}, id="event-method"),
        pytest.param({"salt": b"\x00" * 32}, id="event-salt"),
        pytest.param({"principal": "someone-else"}, id="event-principal"),
    ],
)
async def test_tampering_with_a_stored_event_is_detected(
    redleaf: AsyncPlatformClient, runtime: Runtime, change: dict[str, object]
) -> None:
    consent = await give(redleaf)
    jwks = await redleaf.jwks()
    honest = await redleaf.receipt(consent.record_id, 0)
    log = await redleaf.consent_log()
    verify_receipt(honest, jwks=jwks, log_verifier_key=log.verifier_key)
    with transaction(runtime.sessions) as session:
        session.execute(
            update(ConsentEventRow)
            .where(col(ConsentEventRow.record_id) == consent.record_id)
            .values(**change)
        )
    forged = await redleaf.receipt(consent.record_id, 0)  # signed, but not what the log holds
    with pytest.raises(ReceiptError, match="inclusion failure"):
        verify_receipt(forged, jwks=jwks, log_verifier_key=log.verifier_key)


async def test_tampering_with_the_record_terms_is_detected(
    redleaf: AsyncPlatformClient, runtime: Runtime
) -> None:
    consent = await give(redleaf)
    jwks = await redleaf.jwks()
    await redleaf.receipt(consent.record_id, 0)
    log = await redleaf.consent_log()
    with transaction(runtime.sessions) as session:
        (forged_set,) = category_sets.ensure(session, [[*CONTENT, "user.device.os"]])
        session.execute(
            update(ConsentRecordRow)
            .where(col(ConsentRecordRow.record_id) == consent.record_id)
            .values(categories_digest=forged_set)
        )
    forged = await redleaf.receipt(consent.record_id, 0)
    with pytest.raises(ReceiptError, match="inclusion failure"):
        verify_receipt(forged, jwks=jwks, log_verifier_key=log.verifier_key)
