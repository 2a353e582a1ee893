"""Export (PIPL Art. 45; GDPR Arts. 15, 20): everything held about the person, in one
machine-readable document, named only by identifiers members know."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from consent.rights import EXPORT_FORMAT, receipt_path
from gateway.consents.store import EVENT, RECORD
from gateway.identity.persons import ACCOUNT, SUBJECT
from gateway.runtime import Runtime
from gateway.tables import metadata
from sdk import AsyncPlatformClient, ConflictError
from tests.gateway.alliance import Alliance
from tests.gateway.rights.scene import ACCOUNT_A, ACCOUNT_B, INTERESTS, known_person

pytestmark = pytest.mark.anyio

# Every table holding rows about a person, and the export section that carries them.
# A new personal-data table fails test_export_is_complete until it is exported and
# listed here (GDPR Art. 15(3): a copy of *the* personal data, all of it).
SECTIONS = {
    "platform_account": "accounts",
    "pairwise_subject": "subjects",
    "consent_record": "consents",
    "rights_request": "requests",
    "oauth_grant": "authorizations",
    "signin_session": "sessions",
    "pending_link": "pending_links",
    "access_log": "access_log",
    "attribute": "attributes",
}
# Tables derived from exported ones, so their rows reach the export through those.
DERIVED = {"merged_attribute": "attribute", "view_value": "attribute"}


def personal_tables() -> set[str]:
    """Tables with a ``person_id`` column or a foreign key to the person."""
    return {
        table.name
        for table in metadata.tables.values()
        if "person_id" in table.c
        or any(fk.column.table.name == "person" for fk in table.foreign_keys)
    }


def process(client: TestClient, alliance: Alliance) -> int:
    response = client.post("/v1/admin/rights/process", headers=alliance.operator)
    assert response.status_code == 200, response.text
    processed: int = response.json()["processed"]
    return processed


async def test_export_is_complete(
    alliance: Alliance, client: TestClient, runtime: Runtime, redleaf: AsyncPlatformClient
) -> None:
    scene = await known_person(alliance, runtime, redleaf)
    request = await redleaf.request_export(ACCOUNT_A)
    assert request.kind == "export" and request.state == "received"
    with pytest.raises(ConflictError):
        await redleaf.export(request.request_id)
    assert process(client, alliance) == 1
    assert (await redleaf.rights_request(request.request_id)).state == "completed"
    document: dict[str, Any] = await redleaf.export(request.request_id)

    assert document["format"] == EXPORT_FORMAT and document["generated_at"]
    with Session(runtime.engine) as session:
        records = session.execute(
            select(RECORD.c.record_id).where(RECORD.c.person_id == scene.person)
        ).scalars()
        events = {
            (str(r), int(seq), str(t))
            for r, seq, t in session.execute(
                select(EVENT.c.record_id, EVENT.c.seq, EVENT.c.type).where(
                    EVENT.c.record_id.in_(scene.records)
                )
            )
        }
        accounts = session.execute(
            select(ACCOUNT.c.account_id).where(ACCOUNT.c.person_id == scene.person)
        ).scalars()
        subjects = session.execute(
            select(SUBJECT.c.sector, SUBJECT.c.sub).where(SUBJECT.c.person_id == scene.person)
        ).all()
        held = {
            name: session.execute(
                select(func.count())
                .select_from(metadata.tables[name])
                .where(metadata.tables[name].c.person_id == scene.person)
            ).scalar_one()
            for name in SECTIONS
        }
        assert set(records) == set(scene.records)

    # Every record with its terms and state, every event, every receipt.
    consents = {c["record_id"]: c for c in document["consents"]}
    assert set(consents) == set(scene.records)
    assert consents[scene.withdrawn]["state"] == "withdrawn"
    assert {c["state"] for r, c in consents.items() if r != scene.withdrawn} == {"given"}
    brand = next(c for c in consents.values() if c["recipient"]["kind"] == "brand")
    assert brand["purpose"] == "marketing.brand_view"
    assert brand["categories"] == ["user.interest.beauty"]
    assert brand["recipient"]["name"] == alliance.brand_a["name"]
    assert brand["notice"]["id"] == "redleaf-privacy" and brand["notice"]["version"] == 1
    exported = {(r, e["seq"], e["type"]) for r, c in consents.items() for e in c["events"]}
    assert exported == events and len(events) == 4  # three given, one withdrawn
    assert sorted((r["record_id"], r["seq"]) for r in document["receipts"]) == sorted(
        (r, s) for r, s, _ in events
    )
    for receipt in document["receipts"]:
        assert receipt["path"] == receipt_path(receipt["record_id"], receipt["seq"])
        assert receipt["receipt_id"] == f"{consents[receipt['record_id']]['receipt_id']}." + str(
            receipt["seq"]
        )

    # Every account and subject.
    assert (
        {a["account_id"] for a in document["accounts"]}
        == set(accounts)
        == {
            ACCOUNT_A,
            ACCOUNT_B,
        }
    )
    assert {a["platform"] for a in document["accounts"]} == {
        alliance.platform["name"],
        alliance.keyed_platform["name"],
    }
    assert {(s["sector"], s["sub"]) for s in document["subjects"]} == {tuple(s) for s in subjects}
    assert scene.subjects[alliance.brand_b["id"]] in {s["sub"] for s in document["subjects"]}
    assert [r["request_id"] for r in document["requests"]] == [request.request_id]
    assert document["requests"][0]["state"] == "completed"
    (read,) = document["access_log"]  # who read what, when: the reader by its name
    assert read["reader"] == alliance.brand_a["name"] and read["what"] == "userinfo"
    assert read["purpose"] == "identity.sso" and read["at"]
    assert read["categories"] == ["user.account.pseudonymous_id"]
    (value,) = document["attributes"]  # the platform's value, and until when it is kept
    assert value["platform"] == alliance.platform["name"]
    assert (value["category"], value["value"]) == ("user.interest.beauty", INTERESTS)
    assert value["observed_at"] < value["kept_until"]

    # Completeness guard: each personal-data table is exported, row for row.
    assert personal_tables() == set(SECTIONS) | set(DERIVED), (
        "export the new table and map it in SECTIONS"
    )
    for table, section in SECTIONS.items():
        assert len(document[section]) == held[table] > 0, table

    # The internal person id never leaves the gateway.
    assert scene.person not in json.dumps(document)
