"""Attribute ingest: per-record errors, minimal storage, idempotency, retention, purge."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from gateway.consents.upkeep import expire_due
from gateway.db import core, utcnow
from gateway.runtime import Runtime
from gateway.views.models import Attribute, MergedAttribute
from gateway.views.purge import purge_expired
from tests.gateway.alliance import Alliance
from tests.gateway.views.scene import People

ATTRIBUTE, MERGED = core(Attribute), core(MergedAttribute)
VIEW = [
    "user.demographic.city_tier",
    "user.interest.beauty",
    "user.interaction.deep.trial_review.count_30d",
]


@pytest.fixture
def people(alliance: Alliance, runtime: Runtime, client: TestClient) -> People:
    return People(alliance, runtime, client)


def kept(runtime: Runtime, person: str) -> dict[str, Any]:
    with Session(runtime.engine) as session:
        rows = session.execute(
            select(ATTRIBUTE.c.category, ATTRIBUTE.c.value).where(ATTRIBUTE.c.person_id == person)
        )
        return {str(c): v for c, v in rows}


def merged_rows(runtime: Runtime, person: str) -> set[tuple[str, str, float | None, str | None]]:
    with Session(runtime.engine) as session:
        rows = session.execute(
            select(MERGED.c.category, MERGED.c.item, MERGED.c.num, MERGED.c.text).where(
                MERGED.c.person_id == person
            )
        )
        return {(str(c), str(i), n, t) for c, i, n, t in rows}


def test_keeps_only_linked_persons_and_consented_categories(
    people: People, runtime: Runtime
) -> None:
    person = people.person("u-1")
    people.consent(person, "a", "marketing.brand_view", VIEW)
    people.person("u-2")  # known, but consented to nothing: nothing of theirs is kept
    response = people.push(
        [
            {
                "platform_user_id": "u-1",
                "attributes": {
                    "user.demographic.city_tier": "tier_1",
                    "user.interest.beauty": ["beauty.skincare"],
                    "user.interaction.deep.trial_review.count_30d": 3,
                    "user.demographic.gender": "female",  # not consented
                    "user.account.pseudonymous_id": "abc",  # each recipient's own
                },
            },
            {"platform_user_id": "u-2", "attributes": {"user.demographic.city_tier": "tier_2"}},
            {
                "platform_user_id": "stranger",
                "attributes": {"user.demographic.city_tier": "tier_3"},
            },
        ]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["records"], body["accepted"], body["rejected"]) == (3, 3, 0)
    assert body["values"] == {
        "stored": 3,
        "dropped": {"not_linked": 1, "not_consented": 2, "derived": 1, "expired": 0, "stale": 0},
    }
    assert kept(runtime, person) == {
        "user.demographic.city_tier": "tier_1",
        "user.interest.beauty": ["beauty.skincare"],
        "user.interaction.deep.trial_review.count_30d": 3,
    }
    assert merged_rows(runtime, person) == {
        ("user.demographic.city_tier", "", None, "tier_1"),
        ("user.interest.beauty", "beauty.skincare", None, "beauty.skincare"),
        ("user.interaction.deep.trial_review.count_30d", "", 3.0, None),
    }


BAD_RECORDS = [
    pytest.param({"attributes": {"user.demographic.city_tier": "tier_1"}}, "", id="no-account"),
    pytest.param({"platform_user_id": "u-1", "attributes": {}}, "/attributes", id="no-attribute"),
    pytest.param(
        {"platform_user_id": "u-1", "attributes": {"user.demographic.city_tier": "tier_9"}},
        "/attributes/user.demographic.city_tier",
        id="not-in-enum",
    ),
    pytest.param(
        {"platform_user_id": "u-1", "attributes": {"user.demographic": "x"}},
        "/attributes",
        id="not-a-leaf",
    ),
    pytest.param(
        {"platform_user_id": "u-1", "attributes": {"user.content_quality.overall": 101}},
        "/attributes/user.content_quality.overall",
        id="out-of-range",
    ),
    pytest.param(
        {
            "platform_user_id": "u-1",
            "attributes": {"user.interest.beauty": ["beauty.skincare"] * 2},
        },
        "/attributes/user.interest.beauty",
        id="tag-twice",
    ),
    pytest.param(
        {
            "platform_user_id": "u-1",
            "observed_at": "yesterday",
            "attributes": {"user.demographic.city_tier": "tier_1"},
        },
        "/observed_at",
        id="bad-time",
    ),
    pytest.param(
        {
            "platform_user_id": "u-1",
            "observed_at": (utcnow() + timedelta(days=1)).isoformat(),
            "attributes": {"user.demographic.city_tier": "tier_1"},
        },
        "/observed_at",
        id="future",
    ),
    pytest.param("not an object", "", id="not-an-object"),
    pytest.param(
        {"platform_user_id": "u-1", "attributes": {"user.demographic.city_tier": 1}, "x": 1},
        "",
        id="unknown-member",
    ),
]


@pytest.mark.parametrize(("record", "pointer"), BAD_RECORDS)
def test_a_bad_record_is_answered_alone(
    people: People, runtime: Runtime, record: Any, pointer: str
) -> None:
    person = people.person("u-1")
    people.consent(person, "a", "marketing.brand_view", VIEW)
    good = {"platform_user_id": "u-1", "attributes": {"user.demographic.city_tier": "tier_2"}}
    response = people.push([good, record])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"], body["values"]["stored"]) == (1, 1, 1)
    (error,) = body["errors"]
    assert error["index"] == 1
    assert any(p["pointer"] == f"/records/1{pointer}" for p in error["problems"]), error
    assert "tier_9" not in json.dumps(error) and "yesterday" not in json.dumps(error)
    assert kept(runtime, person) == {"user.demographic.city_tier": "tier_2"}


ENVELOPES = [
    pytest.param(b"not json", 400, id="not-json"),
    pytest.param(b"[]", 400, id="not-an-object"),
    pytest.param(b'{"records": []}', 400, id="no-records"),
    pytest.param(b'{"records": {}}', 400, id="records-not-array"),
    pytest.param(b'{"records": [], "more": 1}', 400, id="unknown-member"),
    pytest.param(
        json.dumps({"records": [{"platform_user_id": "u", "attributes": {}}] * 10_001}).encode(),
        400,
        id="over-10000",
    ),
]


@pytest.mark.parametrize(("body", "status"), ENVELOPES)
def test_a_bad_envelope_takes_nothing(
    people: People, client: TestClient, body: bytes, status: int
) -> None:
    response = client.post(
        "/v1/attributes",
        content=body,
        headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"},
        auth=people.platform_auth(),
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["error"] == "invalid_request"


def test_ten_thousand_records_are_taken(people: People, runtime: Runtime) -> None:
    person = people.person("u-1")
    people.consent(person, "a", "marketing.brand_view", VIEW)
    records = [
        {"platform_user_id": f"acct-{n}", "attributes": {"user.demographic.city_tier": "tier_1"}}
        for n in range(9_999)
    ]
    records.append(
        {"platform_user_id": "u-1", "attributes": {"user.demographic.city_tier": "tier_4"}}
    )
    body = people.push(records).json()
    assert (body["accepted"], body["values"]["stored"]) == (10_000, 1)
    assert body["values"]["dropped"]["not_linked"] == 9_999


def test_oversized_and_unauthorised_pushes_are_refused(
    people: People, client: TestClient, settings: Any
) -> None:
    key = {"Idempotency-Key": "k1"}
    record = {"platform_user_id": "u-1", "attributes": {"user.demographic.city_tier": "tier_1"}}
    anonymous = client.post("/v1/attributes", json={"records": [record]}, headers=key)
    assert anonymous.status_code == 401
    as_brand = client.post(
        "/v1/attributes", json={"records": [record]}, headers=key, auth=people.brand_auth()
    )
    assert as_brand.status_code == 403
    no_key = client.post("/v1/attributes", json={"records": [record]}, auth=people.platform_auth())
    assert no_key.status_code == 400 and "idempotency" in no_key.text.lower()
    too_long = client.post(
        "/v1/attributes",
        json={"records": [record]},
        headers={"Idempotency-Key": "k" * 256},
        auth=people.platform_auth(),
    )
    assert too_long.status_code == 400
    huge = b'{"records": [' + b" " * settings.max_attribute_bytes + b"]}"
    oversized = client.post(
        "/v1/attributes",
        content=huge,
        headers={**key, "Content-Type": "application/json"},
        auth=people.platform_auth(),
    )
    assert oversized.status_code == 413
    # Another route keeps the general limit: the wider one is for this path alone.
    other = client.post(
        "/v1/consents/batch",
        content=b" " * (settings.max_body_bytes + 1),
        headers={"Content-Type": "application/json"},
        auth=people.platform_auth(),
    )
    assert other.status_code == 413


def test_a_retry_gets_the_first_answer_and_stores_nothing_twice(
    people: People, runtime: Runtime
) -> None:
    person = people.person("u-1")
    people.consent(person, "a", "marketing.brand_view", VIEW)
    records = [
        {
            "platform_user_id": "u-1",
            "attributes": {"user.interaction.deep.trial_review.count_30d": 2},
        }
    ]
    first = people.push(records, key="batch-1")
    again = people.push(records, key="batch-1")
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    reused = people.push(
        [
            {
                "platform_user_id": "u-1",
                "attributes": {"user.interaction.deep.trial_review.count_30d": 9},
            }
        ],
        key="batch-1",
    )
    assert reused.status_code == 422 and reused.json()["error"] == "invalid_request"
    assert kept(runtime, person) == {"user.interaction.deep.trial_review.count_30d": 2}
    # A key is the platform's own: another platform's same key is another batch.
    with Session(runtime.engine) as session:
        count = session.execute(select(func.count()).select_from(ATTRIBUTE)).scalar_one()
    assert count == 1


def test_an_older_observation_never_replaces_a_newer_one(people: People, runtime: Runtime) -> None:
    person = people.person("u-1")
    people.consent(person, "a", "marketing.brand_view", VIEW)
    now = utcnow()
    newer = {
        "platform_user_id": "u-1",
        "observed_at": now.isoformat(),
        "attributes": {"user.demographic.city_tier": "tier_1"},
    }
    older = {**newer, "observed_at": (now - timedelta(days=1)).isoformat()}
    older["attributes"] = {"user.demographic.city_tier": "tier_5"}
    assert people.push([newer]).json()["values"]["stored"] == 1
    body = people.push([older]).json()
    assert body["values"]["stored"] == 0 and body["values"]["dropped"]["stale"] == 1
    # In one batch too: the later observation wins whatever the order.
    both = people.push([newer, older]).json()
    assert both["values"]["dropped"]["stale"] >= 1
    assert kept(runtime, person) == {"user.demographic.city_tier": "tier_1"}


def test_retention_and_the_purge(people: People, runtime: Runtime) -> None:
    person = people.person("u-1")
    people.consent(person, "a", "marketing.brand_view", VIEW)  # retention P90D
    now = utcnow()
    record = {"platform_user_id": "u-1", "attributes": {"user.demographic.city_tier": "tier_1"}}
    stale = {**record, "observed_at": (now - timedelta(days=91)).isoformat()}
    assert people.push([stale]).json()["values"]["dropped"]["expired"] == 1
    fresh = {**record, "observed_at": (now - timedelta(days=89)).isoformat()}
    assert people.push([fresh]).json()["values"]["stored"] == 1
    with Session(runtime.engine) as session:
        (expires,) = session.execute(
            select(ATTRIBUTE.c.expires_at).where(ATTRIBUTE.c.person_id == person)
        ).one()
    assert abs(expires - (now + timedelta(days=1))) < timedelta(seconds=5)
    with Session(runtime.engine) as session, session.begin():
        assert purge_expired(runtime.standard, session, now) == 0
    with Session(runtime.engine) as session, session.begin():
        assert purge_expired(runtime.standard, session, now + timedelta(days=2)) == 1
    assert kept(runtime, person) == {}
    assert merged_rows(runtime, person) == set()


def test_the_upkeep_purges(people: People, runtime: Runtime) -> None:
    person = people.person("u-1")
    people.consent(person, "a", "marketing.brand_view", VIEW)
    with Session(runtime.engine) as session, session.begin():
        session.execute(
            ATTRIBUTE.insert().values(
                person_id=person,
                category="user.demographic.city_tier",
                platform_id=people.alliance.platform["id"],
                value="tier_1",
                num=None,
                observed_at=utcnow() - timedelta(days=100),
                expires_at=utcnow() - timedelta(days=10),
            )
        )
    expire_due(runtime)
    assert kept(runtime, person) == {}


def test_a_withdrawal_takes_what_no_other_consent_needs(people: People, runtime: Runtime) -> None:
    person = people.person("u-1")
    view, _ = people.consent(person, "a", "marketing.brand_view", VIEW)
    people.consent(person, "b", "marketing.brand_view", ["user.demographic.city_tier"])
    people.push(
        [
            {
                "platform_user_id": "u-1",
                "attributes": {
                    "user.demographic.city_tier": "tier_1",
                    "user.interest.beauty": ["beauty.skincare"],
                },
            }
        ]
    )
    people.withdraw(view.record.record_id)
    # Brand B's consent still needs the city tier; nothing needs the interests now.
    assert kept(runtime, person) == {"user.demographic.city_tier": "tier_1"}
    assert merged_rows(runtime, person) == {("user.demographic.city_tier", "", None, "tier_1")}
