"""Unified views: consented ∩ necessary, merged across platforms, logged, isolated."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select, update
from sqlmodel import Session

from consent.taxonomy import DataStandard
from gateway.consents.notices import Notices
from gateway.consents.store import EVENT
from gateway.db import transaction, utcnow
from gateway.identity.persons import PERSON
from gateway.runtime import Runtime
from gateway.views.access_log import LOG, AccessLog
from gateway.views.unified import AHEAD_FROM, BY_TERMS_FROM, Views
from sdk import BadRequestError
from tests.gateway.alliance import Alliance
from tests.gateway.views.scene import People, member

pytestmark = pytest.mark.anyio

T0 = utcnow() - timedelta(days=2)
T1 = T0 + timedelta(hours=5)
# What each platform pushed for the same person: one value per category of interest.
REDLEAF = {
    "user.demographic.city_tier": "tier_2",
    "user.demographic.generation": "gen_z",
    "user.interest.beauty": ["beauty.skincare", "beauty.fragrance"],
    "user.interaction.deep.trial_review.count_30d": 3,
    "user.interaction.deep.trial_review.last_at": (T0 - timedelta(days=3)).isoformat(),
    "user.content_quality.overall": 70,
    "user.loyalty.points_balance": 1200,
}
BLUEFIN = {
    "user.demographic.city_tier": "tier_1",  # observed later: the latest wins
    "user.interest.beauty": ["beauty.skincare", "beauty.lip_makeup"],
    "user.interaction.deep.trial_review.count_30d": 4,
    "user.interaction.deep.trial_review.last_at": (T0 - timedelta(days=1)).isoformat(),
}
CATEGORIES = {
    "marketing.brand_view": [
        "user.account.pseudonymous_id",
        "user.demographic.city_tier",
        "user.demographic.generation",
        "user.interest.beauty",
        "user.interaction.deep.trial_review.count_30d",
        "user.interaction.deep.trial_review.last_at",
        "user.content_quality.overall",
    ],
    "loyalty.points_recognition": [
        "user.account.pseudonymous_id",
        "user.loyalty.points_balance",
    ],
}


@pytest.fixture
def people(alliance: Alliance, runtime: Runtime, client: TestClient) -> People:
    return People(alliance, runtime, client)


async def both_push(people: People, alliance: Alliance) -> None:
    redleaf = [{"platform_user_id": "u-1", "observed_at": T0.isoformat(), "attributes": REDLEAF}]
    assert people.push(redleaf).status_code == 200
    async with alliance.keyed_client() as bluefin:
        await bluefin.push_attributes(
            [{"platform_user_id": "bf-1", "observed_at": T1, "attributes": BLUEFIN}]
        )


def get(
    client: TestClient, people: People, sub: str, purpose: str, brand: str = "a", **kw: Any
) -> Any:
    return client.get(
        f"/v1/views/{sub}", params={"purpose": purpose, **kw}, auth=people.brand_auth(brand)
    )


# Every purpose open to brands for views, with subsets of its categories consented.
MATRIX = [
    pytest.param(purpose, list(subset), id=f"{purpose}-{n}")
    for purpose, keys in CATEGORIES.items()
    for n, subset in enumerate(
        s for r in (1, 2, len(keys)) for s in itertools.islice(itertools.combinations(keys, r), 3)
    )
]


@pytest.mark.parametrize(("purpose", "consented"), MATRIX)
async def test_the_view_is_what_is_consented_and_necessary(
    people: People,
    alliance: Alliance,
    client: TestClient,
    standard: DataStandard,
    purpose: str,
    consented: list[str],
) -> None:
    person = people.person("u-1", "bf-1")
    _, sub = people.consent(person, "a", purpose, consented)
    # Other consents to brand A (another purpose) and to brand B never widen the view.
    other = next(p for p in CATEGORIES if p != purpose)
    people.consent(person, "a", other, CATEGORIES[other])
    people.consent(person, "b", purpose, CATEGORIES[purpose])
    await both_push(people, alliance)
    response = get(client, people, sub, purpose)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    view = response.json()
    necessary = standard.purposes[purpose].necessity
    assert set(view["consented"]) == set(consented) & necessary
    pushed = set(REDLEAF) | set(BLUEFIN) | {"user.account.pseudonymous_id"}
    assert set(view["attributes"]) == set(consented) & necessary & pushed
    # Asking for fewer categories narrows it; asking beyond the purpose is refused.
    first = consented[0]
    narrowed = get(client, people, sub, purpose, category=[first]).json()
    assert set(narrowed["attributes"]) == {first} & pushed
    outside = get(client, people, sub, purpose, category=["user.demographic.gender"])
    assert outside.status_code == 400 and "PIPL" in outside.json()["detail"]


async def test_values_merge_by_the_standards_rules(
    people: People, alliance: Alliance, client: TestClient
) -> None:
    person = people.person("u-1", "bf-1")
    _, sub = people.consent(person, "a", "marketing.brand_view", CATEGORIES["marketing.brand_view"])
    await both_push(people, alliance)
    attributes = get(client, people, sub, "marketing.brand_view").json()["attributes"]
    count = attributes["user.interaction.deep.trial_review.count_30d"]
    assert (count["value"], count["merge"]) == (7, "sum")  # counts add
    recency = attributes["user.interaction.deep.trial_review.last_at"]
    assert (
        recency["merge"] == "max"
        and recency["value"] == BLUEFIN["user.interaction.deep.trial_review.last_at"]
    )
    tags = attributes["user.interest.beauty"]
    assert tags["merge"] == "union"
    assert tags["value"] == ["beauty.skincare", "beauty.lip_makeup", "beauty.fragrance"]
    tier = attributes["user.demographic.city_tier"]
    assert (tier["value"], tier["merge"]) == ("tier_1", "latest")  # the later observation
    # Provenance: each platform's own value, named by its client id.
    assert {(s["platform"], s["value"]) for s in tier["sources"]} == {
        (alliance.platform["client_id"], "tier_2"),
        (alliance.keyed_platform["client_id"], "tier_1"),
    }
    assert attributes["user.account.pseudonymous_id"] == {"value": sub, "merge": "derived"}
    assert attributes["user.demographic.generation"]["value"] == "gen_z"  # one platform only


async def test_a_withdrawal_shows_in_the_very_next_view(
    people: People, alliance: Alliance, client: TestClient
) -> None:
    person = people.person("u-1", "bf-1")
    view, sub = people.consent(person, "a", "marketing.brand_view", ["user.interest.beauty"])
    people.consent(person, "a", "loyalty.points_recognition", ["user.loyalty"])
    await both_push(people, alliance)
    assert get(client, people, sub, "marketing.brand_view").status_code == 200
    people.withdraw(view.record.record_id)
    after = get(client, people, sub, "marketing.brand_view")
    assert after.status_code == 404
    # The other purpose's consent still stands, on its own categories only.
    still = get(client, people, sub, "loyalty.points_recognition").json()
    assert set(still["attributes"]) == {"user.loyalty.points_balance"}


async def test_every_view_is_in_the_persons_access_log(
    people: People, alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    person = people.person("u-1", "bf-1")
    _, sub = people.consent(person, "a", "marketing.brand_view", ["user.interest.beauty"])
    await both_push(people, alliance)
    get(client, people, sub, "marketing.brand_view")
    batch = client.post(
        "/v1/views/batch",
        json={"purpose": "marketing.brand_view", "subjects": [sub, "nobody"]},
        auth=people.brand_auth(),
    )
    assert batch.status_code == 200
    get(client, people, "nobody", "marketing.brand_view")  # nothing read, nothing logged
    with Session(runtime.engine) as session:
        reads = AccessLog(session).of_person(person)
    assert [(r.reader, r.purpose, r.categories, r.what) for r in reads] == [
        (alliance.brand_a["name"], "marketing.brand_view", ("user.interest.beauty",), "view")
    ] * 2


async def test_refusals_cannot_be_told_apart(
    people: People, alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    """Unknown, another brand's, withdrawn, never consented, erased: one answer."""
    purpose = "marketing.brand_view"
    seen = people.person("u-1", "bf-1")
    _, visible = people.consent(seen, "a", purpose, ["user.interest.beauty"])
    withdrawn_person = people.person("u-2")
    record, withdrawn = people.consent(withdrawn_person, "a", purpose, ["user.interest.beauty"])
    people.withdraw(record.record.record_id)
    never = people.subject(people.person("u-3"), "a")  # a sub issued, no consent
    _, other_brands = people.consent(people.person("u-4"), "b", purpose, ["user.interest.beauty"])
    erased_person = people.person("u-5")
    _, erased = people.consent(erased_person, "a", purpose, ["user.interest.beauty"])
    with Session(runtime.engine) as session, session.begin():
        session.execute(PERSON.delete().where(PERSON.c.id == erased_person))
    await both_push(people, alliance)
    refused = ["unknown-sub", other_brands, withdrawn, never, erased]
    answers = [get(client, people, sub, purpose) for sub in refused]
    assert {a.status_code for a in answers} == {404}
    assert len({a.content for a in answers}) == 1  # byte for byte the same
    assert {a.headers["content-type"] for a in answers} == {"application/problem+json"}
    batch = client.post(
        "/v1/views/batch",
        json={"purpose": purpose, "subjects": [visible, *refused]},
        auth=people.brand_auth(),
    ).json()
    assert batch["views"][0]["available"] is True
    assert batch["views"][1:] == [{"sub": s, "available": False} for s in refused]
    # Brand B learns nothing with brand A's subject, even for a person it may see.
    people.consent(seen, "b", purpose, ["user.interest.beauty"])
    assert get(client, people, visible, purpose, brand="b").content == answers[0].content


async def test_batches_through_the_sdk(people: People, alliance: Alliance) -> None:
    subs = []
    for n in range(3):
        person = people.person(f"u-{n}")
        _, sub = people.consent(person, "a", "marketing.brand_view", ["user.interest.beauty"])
        subs.append(sub)
        people.push(
            [
                {
                    "platform_user_id": f"u-{n}",
                    "attributes": {"user.interest.beauty": ["beauty.skincare"]},
                }
            ]
        )
    async with alliance.brand_client("a") as brand:
        views = await brand.views([*subs, "nobody"], "marketing.brand_view")
        assert list(views) == [*subs, "nobody"] and views["nobody"] is None
        for sub in subs:
            found = views[sub]
            assert found is not None and found.attributes["user.interest.beauty"].value == [
                "beauty.skincare"
            ]
        one = await brand.view(subs[0], "marketing.brand_view")
        assert one is not None and one.sub == subs[0] and one.consented == ["user.interest.beauty"]
        assert await brand.view("nobody", "marketing.brand_view") is None
        with pytest.raises(BadRequestError):
            await brand.view(subs[0], "identity.linking")  # not open to brands
        with pytest.raises(ValueError, match="1 to 1000"):
            await brand.views(["s"] * 1001, "marketing.brand_view")
    async with alliance.platform_client() as platform:
        assert not hasattr(platform, "view")  # a platform's client has no views


BAD_BATCHES = [
    pytest.param({"purpose": "marketing.brand_view", "subjects": []}, id="no-subjects"),
    pytest.param({"purpose": "marketing.brand_view", "subjects": ["s"] * 1001}, id="over-1000"),
    pytest.param({"purpose": "marketing.brand_view", "subjects": ["s" * 65]}, id="long-sub"),
    pytest.param({"purpose": "personalize.content", "subjects": ["s"]}, id="platform-purpose"),
    pytest.param({"purpose": "no.such", "subjects": ["s"]}, id="unknown-purpose"),
    pytest.param({"subjects": ["s"]}, id="no-purpose"),
    pytest.param(
        {"purpose": "marketing.brand_view", "subjects": ["s"], "categories": ["nope"]},
        id="unknown-category",
    ),
    pytest.param({"purpose": "marketing.brand_view", "subjects": ["s"], "x": 1}, id="extra"),
]


@pytest.mark.parametrize("body", BAD_BATCHES)
def test_bad_batches_are_refused(people: People, client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/v1/views/batch", json=body, auth=people.brand_auth())
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


def test_views_need_a_brand(people: People, client: TestClient) -> None:
    assert client.get("/v1/views/s", params={"purpose": "marketing.brand_view"}).status_code == 401
    as_platform = client.get(
        "/v1/views/s", params={"purpose": "marketing.brand_view"}, auth=people.platform_auth()
    )
    assert as_platform.status_code == 403
    missing = client.get("/v1/views/s", auth=people.brand_auth())
    assert missing.status_code == 400


NARROW = ["user.account.pseudonymous_id", "user.demographic.city_tier"]


async def test_a_large_batch_reads_entries_ahead_and_answers_as_one_read_would(
    people: People, alliance: Alliance, runtime: Runtime, standard: DataStandard
) -> None:
    """From AHEAD_FROM persons, entries are read on a second connection while the
    decisions are made; persons granted fewer categories are read again, and the
    answer and the access log are those of the single-connection read."""
    purpose = "marketing.brand_view"
    necessity = sorted(standard.purposes[purpose].necessity)
    subs, pushed = [], []
    for n in range(AHEAD_FROM + 6):
        person = people.person(f"u-{n}")
        narrow = n % 7 == 3  # some grant fewer categories than the early read took
        history, sub = people.consent(person, "a", purpose, NARROW if narrow else necessity)
        if narrow:  # brand B's consent keeps their other values stored: A must not see them
            people.consent(person, "b", purpose, necessity)
        if n == 5:
            people.withdraw(history.record.record_id)
        subs.append(sub)
        pushed.append(
            {"platform_user_id": f"u-{n}", "observed_at": T0.isoformat(), "attributes": REDLEAF}
        )
    other = people.person("o-1")
    _, other_brands = people.consent(other, "b", purpose, necessity)
    assert people.push(pushed).status_code == 200
    asked = [*subs, other_brands, "nobody"]
    now = utcnow()
    answers, reads, opened = [], [], []

    def reader() -> Session:
        opened.append(1)
        return runtime.sessions()

    for ahead in (reader, None):
        with runtime.sessions() as session:
            brand = member(session, alliance.brand_a["id"])
            views = Views(session, standard, runtime.notices, reader=ahead)
            answers.append(views.read(brand, purpose, asked, None, now))
            logged = session.execute(
                select(LOG.c.person_id, LOG.c.categories_digest, LOG.c.categories_mask)
            ).all()
            reads.append(sorted((str(p), str(d), str(m)) for p, d, m in logged))
            session.rollback()
    assert opened == [1]
    assert answers[0] == answers[1]
    assert reads[0] == reads[1] and len(reads[0]) == len(subs) - 1
    shown = [v for v in answers[0] if v is not None]
    assert len(shown) == len(subs) - 1  # the withdrawn, the other brand's and nobody: None
    wide = [v for v in shown if len(v.consented) == len(necessity)]
    expected = set(REDLEAF) & set(necessity)
    assert wide and all(expected <= set(json.loads(v.attributes)) for v in wide)
    narrow_views = [v for v in shown if len(v.consented) < len(necessity)]
    assert narrow_views  # read again for just what they grant, never the early read's
    assert all(set(json.loads(v.attributes)) == set(NARROW) for v in narrow_views)


async def test_a_batch_decides_as_each_single_view_would_whatever_the_records_history(
    people: People, alliance: Alliance, client: TestClient, runtime: Runtime, standard: DataStandard
) -> None:
    """From BY_TERMS_FROM persons, a batch groups persons by their records' projections
    and reads one history per group. Each person's answer is still the one their own
    history gives: given, withdrawn, lapsed, given twice, a minor's, and one whose
    withdrawal is stamped after now (a writer's clock ahead): committed, it counts, in
    the single view (judged at its latest event) as in the batch (its projection)."""
    purpose = "marketing.brand_view"
    keys = sorted(standard.purposes[purpose].necessity)
    subs: list[str] = []
    ahead: list[str] = []
    for n in range(BY_TERMS_FROM + 9):
        person = people.person(f"t-{n}")
        kind = n % 7
        at = utcnow() - timedelta(days=400) if kind == 2 else None  # lapsed: validity ran out
        history, sub = people.consent(person, "a", purpose, keys[: 1 + n % 3], at=at)
        if kind == 1:
            people.withdraw(history.record.record_id)
        if kind == 3:
            people.consent(person, "a", purpose, keys[:2])
        if kind == 4:
            with transaction(runtime.sessions) as session:
                session.execute(
                    update(PERSON).where(PERSON.c.id == person).values(minor_under_14=True)
                )
        if kind == 5:
            people.withdraw(history.record.record_id)
            ahead.append(history.record.record_id)
        subs.append(sub)
    with transaction(runtime.sessions) as session:  # the withdrawals stamped a minute ahead
        session.execute(
            update(EVENT)
            .where(EVENT.c.record_id.in_(ahead), EVENT.c.type == "withdrawn")
            .values(at=utcnow() + timedelta(minutes=1))
        )
    singles = [get(client, people, sub, purpose) for sub in subs]
    batch = client.post(
        "/v1/views/batch", json={"purpose": purpose, "subjects": subs}, auth=people.brand_auth()
    )
    assert batch.status_code == 200
    for n, (single, item) in enumerate(zip(singles, batch.json()["views"], strict=True)):
        assert item["available"] is (single.status_code == 200), (n, n % 7)
        if item["available"]:
            assert item["consented"] == single.json()["consented"]
            assert item["attributes"] == single.json()["attributes"]
    available = [s.status_code == 200 for s in singles]
    assert not any(available[n] for n in (1, 2, 5, 12))  # withdrawn, lapsed, withdrawn ahead
    assert 10 < sum(available) < len(subs)  # both kinds of answer are in the batch


async def test_a_new_notice_version_from_another_worker_ends_views_at_its_next_poll(
    people: People, alliance: Alliance, client: TestClient, runtime: Runtime, standard: DataStandard
) -> None:
    """The current notice versions are remembered (no read per view) and forgotten when
    the change counter moves: a publish elsewhere shows at this worker's next poll."""
    purpose = "marketing.brand_view"
    person = people.person("n-1")
    _, sub = people.consent(person, "a", purpose, sorted(standard.purposes[purpose].necessity))
    runtime.changes.poll(runtime.engine)
    assert get(client, people, sub, purpose).status_code == 200  # the versions remembered
    reads: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM notice_version" in statement:
            reads.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", record)
    try:
        assert get(client, people, sub, purpose).status_code == 200
        assert reads == []
        other = Runtime.build(runtime.settings, engine=runtime.engine, standard=standard)
        with transaction(other.sessions) as session:
            Notices(session).publish("redleaf-privacy", "A changed notice.", "zh-CN")
        runtime.changes.poll(runtime.engine)
        gone = get(client, people, sub, purpose)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", record)
    assert gone.status_code == 404  # consented under version 1, and version 2 is current
    assert any("max(notice_version.version)" in s for s in reads)


async def test_a_batch_longer_than_one_statements_list_reads_every_subject(
    people: People, alliance: Alliance, client: TestClient, runtime: Runtime, standard: DataStandard
) -> None:
    """SQLite reads ids in lists of 500: a batch of 1,000 takes two statements, each
    resolving subjects with their minor flag. Minors (no guardian) after the first list
    are refused as in it; the adult at the start is answered."""
    purpose = "marketing.brand_view"
    keys = sorted(standard.purposes[purpose].necessity)
    known = []
    for n in range(3):
        person = people.person(f"l-{n}")
        _, sub = people.consent(person, "a", purpose, keys)
        if n:
            with transaction(runtime.sessions) as session:
                session.execute(
                    update(PERSON).where(PERSON.c.id == person).values(minor_under_14=True)
                )
        known.append(sub)
    unknown = [f"nobody-{n}" for n in range(997)]
    subs = [known[0], *unknown[:600], known[1], *unknown[600:], known[2]]
    answer = client.post(
        "/v1/views/batch", json={"purpose": purpose, "subjects": subs}, auth=people.brand_auth()
    )
    assert answer.status_code == 200
    views = answer.json()["views"]
    assert [v["sub"] for v in views] == subs
    assert [v["sub"] for v in views if v["available"]] == [known[0]]
    assert get(client, people, known[1], purpose).status_code == 404  # as a single view
