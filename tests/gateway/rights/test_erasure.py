"""Erasure (PIPL Art. 47; GDPR Arts. 17, 19): every recipient is told, the person's data
is deleted, the consent log stays whole, the request's status survives."""

from __future__ import annotations

from collections import Counter

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import ColumnElement, Table, func, select
from sqlmodel import Session

from gateway.consents.log_models import LogHead, LogLeaf
from gateway.consents.store import EVENT, RECORD
from gateway.db import core
from gateway.events import types
from gateway.events.models import SecurityEvent
from gateway.identity.models import Person
from gateway.identity.persons import ACCOUNT, SUBJECT
from gateway.rights.models import RightsRequestRow
from gateway.runtime import Runtime
from gateway.views.access_log import LOG as ACCESS
from sdk import AsyncPlatformClient, NotFoundError
from tests.gateway.alliance import Alliance
from tests.gateway.rights.conftest import platform
from tests.gateway.rights.scene import ACCOUNT_A, ACCOUNT_B, known_person
from tests.gateway.rights.test_export import process

pytestmark = pytest.mark.anyio


LEAF, HEAD, OUTBOX = core(LogLeaf), core(LogHead), core(SecurityEvent)


def log_state(session: Session) -> tuple[int | None, list[tuple[int, int | None, bytes]]]:
    leaves = session.execute(select(LEAF.c.id, LEAF.c.idx, LEAF.c.commitment)).all()
    size = session.execute(select(HEAD.c.size)).scalar()
    return size, sorted((int(i), x, bytes(c)) for i, x, c in leaves)


def count(session: Session, table: Table, *where: ColumnElement[bool]) -> int:
    return int(session.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


async def test_erasure_reaches_every_recipient(
    alliance: Alliance, client: TestClient, runtime: Runtime, redleaf: AsyncPlatformClient
) -> None:
    scene = await known_person(alliance, runtime, redleaf)
    with Session(runtime.engine) as session:
        log_before = log_state(session)
        assert log_before[0] == len(log_before[1]) == 4  # every event's leaf is sequenced

    request = await redleaf.request_erasure(ACCOUNT_A)
    assert request.kind == "erasure" and request.state == "received"
    assert process(client, alliance) == 1

    with Session(runtime.engine) as session:
        erasures = OUTBOX.c.event_type == types.ERASURE_REQUESTED
        sets = session.execute(select(OUTBOX).where(erasures)).all()
        by_recipient = {str(s.recipient_id): s for s in sets}
        recipients = Counter(str(s.recipient_id) for s in sets)
        # One SET per recipient, each naming the person as that recipient knows them.
        platform_a, platform_b = alliance.platform["id"], alliance.keyed_platform["id"]
        brand_a, brand_b = alliance.brand_a["id"], alliance.brand_b["id"]
        assert recipients == Counter({platform_a: 1, platform_b: 1, brand_a: 1, brand_b: 1})
        accounts = {platform_a: ACCOUNT_A, platform_b: ACCOUNT_B}
        for member_id, row in by_recipient.items():
            assert row.claims["sub_id"] == {
                "format": "iss_sub",
                "iss": alliance.issuer,
                "sub": scene.subjects[member_id],
            }
            assert row.claims["txn"] == request.request_id and row.state == "pending"
            event = row.claims["events"][types.ERASURE_REQUESTED]
            assert event["request_id"] == request.request_id
            assert event.get("platform_user_id") == accounts.get(member_id)
            assert scene.person not in str(row.claims)

        # The person and everything hanging off them are gone, salts included.
        assert session.get(Person, scene.person) is None
        assert count(session, ACCOUNT, ACCOUNT.c.person_id == scene.person) == 0
        assert count(session, ACCOUNT, ACCOUNT.c.account_id == ACCOUNT_B) == 0
        assert count(session, SUBJECT, SUBJECT.c.person_id == scene.person) == 0
        assert count(session, RECORD, RECORD.c.person_id == scene.person) == 0
        assert count(session, RECORD, RECORD.c.record_id.in_(scene.records)) == 0
        assert count(session, EVENT, EVENT.c.record_id.in_(scene.records)) == 0
        assert count(session, ACCESS, ACCESS.c.person_id == scene.person) == 0  # who read

        # The log is untouched: same leaves, same commitments, same size.
        assert log_state(session) == log_before

        # The request survives, detached from the person.
        kept = session.get(RightsRequestRow, request.request_id)
        assert kept is not None and kept.person_id is None and kept.account_id is None
        assert kept.state == "completed" and kept.completed_at is not None

    status = await redleaf.rights_request(request.request_id)
    assert status.state == "completed" and status.completed_at is not None
    assert not status.overdue and status.reason is None
    with pytest.raises(NotFoundError):
        await redleaf.consents(account_id=ACCOUNT_A)
    async with platform(alliance, keyed=True) as bluefin:
        with pytest.raises(NotFoundError):
            await bluefin.consents(account_id=ACCOUNT_B)
    assert process(client, alliance) == 0  # nothing left to do


async def test_an_export_after_an_erasure_is_refused_with_a_reason(
    alliance: Alliance, client: TestClient, runtime: Runtime, redleaf: AsyncPlatformClient
) -> None:
    await known_person(alliance, runtime, redleaf)
    erasure = await redleaf.request_erasure(ACCOUNT_A)
    export = await redleaf.request_export(ACCOUNT_A)
    assert process(client, alliance) == 2  # oldest first: the erasure, then the export
    assert (await redleaf.rights_request(erasure.request_id)).state == "completed"
    refused = await redleaf.rights_request(export.request_id)
    assert refused.state == "refused" and refused.reason and "erased" in refused.reason
