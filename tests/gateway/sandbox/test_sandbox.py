"""The sandbox end to end: who counts, the budget, the cache, suppression, the log."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlmodel import Session

from consent import policy
from consent.taxonomy import DataStandard, RecipientKind
from gateway.consents import store as consents_store
from gateway.consents.notices import Notices
from gateway.db import core, transaction, utcnow
from gateway.identity.persons import PERSON
from gateway.runtime import Runtime
from gateway.sandbox import aggregate
from gateway.sandbox.models import SandboxQuery
from gateway.sandbox.query import parse
from gateway.settings import Settings
from sdk import AsyncBrandClient
from tests.conftest import make_settings
from tests.gateway.alliance import Alliance
from tests.gateway.views.scene import People

ANALYTICS = "analytics.aggregate"
TIER, GEN, BEAUTY = (
    "user.demographic.city_tier",
    "user.demographic.generation",
    "user.interest.beauty",
)
QUALITY = "user.content_quality.overall"
LOG = core(SandboxQuery)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, sandbox_min_group=5)  # small groups, small tests


@pytest.fixture
def people(alliance: Alliance, runtime: Runtime, client: TestClient) -> People:
    return People(alliance, runtime, client)


def cap(client: TestClient, alliance: Alliance, epsilon: float, brand: str = "a") -> Any:
    member = alliance.brand_a if brand == "a" else alliance.brand_b
    response = client.put(
        f"/v1/admin/brands/{member['client_id']}/budget",
        json={"epsilon": epsilon},
        headers=alliance.operator,
    )
    assert response.status_code == 200, response.text
    return response.json()


def ask(client: TestClient, people: People, body: dict[str, Any], brand: str = "a") -> Any:
    return client.post("/v1/sandbox/queries", json=body, auth=people.brand_auth(brand))


def populate(people: People, n: int, *, tier: str = "tier_1", prefix: str = "p") -> list[str]:
    """``n`` consenting persons with a tier, a generation, beauty tags and a quality."""
    persons = []
    records = []
    for k in range(n):
        account = f"{prefix}-{k}"
        person = people.person(account)
        people.consent(person, "a", ANALYTICS, [TIER, GEN, BEAUTY, QUALITY])
        persons.append(person)
        records.append(
            {
                "platform_user_id": account,
                "attributes": {
                    TIER: tier,
                    GEN: "gen_z" if k % 2 else "millennial",
                    BEAUTY: ["beauty.skincare", "beauty.fragrance"][: 1 + k % 2],
                    QUALITY: 60 + k % 20,
                },
            }
        )
    assert people.push(records).json()["values"]["stored"] == 4 * n
    return persons


def test_a_count_released_charged_and_logged(
    people: People, alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    populate(people, 30)
    populate(people, 2, tier="tier_3", prefix="q")  # a small group: suppressed
    cap(client, alliance, 10.0)
    response = ask(client, people, {"measure": "count", "group_by": [TIER], "epsilon": 5.0})
    assert response.status_code == 200, response.text
    body = response.json()
    groups = {g["key"][TIER]: g for g in body["groups"]}
    assert set(groups) == set(runtime.standard.categories[TIER].values)  # the whole domain
    assert abs(groups["tier_1"]["count"] - 30) <= 3  # scale 0.2: |noise| > 3 has p < 1e-6
    assert groups["tier_3"] == {"key": {TIER: "tier_3"}, "suppressed": True}
    assert groups["tier_5"]["suppressed"] is True  # nobody at all: suppressed alike
    assert body["epsilon_charged"] <= 5.0 and body["budget"]["epsilon_spent"] == pytest.approx(
        body["epsilon_charged"]
    )
    assert body["mechanism"]["count"]["mechanism"] == "discrete_laplace"
    with Session(runtime.engine) as session:
        (row,) = session.execute(select(LOG.c.outcome, LOG.c.epsilon, LOG.c.charge_id)).all()
    assert row.outcome == "released" and row.epsilon == body["epsilon_charged"]
    assert row.charge_id == body["query_id"]


def test_the_budget_is_enforced_and_the_refusal_states_what_remains(
    people: People, alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    populate(people, 6)
    no_cap = ask(client, people, {"measure": "count", "group_by": [TIER], "epsilon": 0.5})
    assert no_cap.status_code == 403 and no_cap.json()["error"] == "budget_exhausted"
    cap(client, alliance, 1.0)
    first = ask(client, people, {"measure": "count", "group_by": [TIER], "epsilon": 0.6})
    assert first.status_code == 200
    second = ask(client, people, {"measure": "count", "group_by": [GEN], "epsilon": 0.6})
    assert second.status_code == 403
    problem = second.json()
    assert problem["error"] == "budget_exhausted"
    assert "0.4 of 1 is left" in problem["detail"] and "asks ε 0.6" in problem["detail"]
    fits = ask(client, people, {"measure": "count", "group_by": [GEN], "epsilon": 0.4})
    assert fits.status_code == 200 and fits.json()["budget"]["epsilon_remaining"] == pytest.approx(
        0
    )
    budget = client.get("/v1/sandbox/budget", auth=people.brand_auth()).json()
    assert budget["epsilon_spent"] == pytest.approx(1.0) and budget["epsilon_cap"] == 1.0
    with Session(runtime.engine) as session:
        outcomes = [o for (o,) in session.execute(select(LOG.c.outcome).order_by(LOG.c.at))]
    assert sorted(outcomes) == ["refused", "refused", "released", "released"]
    # Brand B's budget is its own.
    assert client.get("/v1/sandbox/budget", auth=people.brand_auth("b")).json()["epsilon_cap"] == 0


def test_a_repeated_query_is_answered_from_its_release(
    people: People, alliance: Alliance, client: TestClient
) -> None:
    populate(people, 6)
    cap(client, alliance, 1.0)
    query = {"measure": "mean", "category": QUALITY, "group_by": [GEN], "epsilon": 0.5}
    first = ask(client, people, query).json()
    again = ask(client, people, {**query, "group_by": [GEN]}).json()
    assert again["cached"] is True and again["epsilon_charged"] == 0.0
    assert again["groups"] == first["groups"] and again["query_id"] == first["query_id"]
    fresh = ask(client, people, {**query, "fresh": True}).json()
    assert fresh["cached"] is False and fresh["query_id"] != first["query_id"]
    assert fresh["budget"]["epsilon_spent"] == pytest.approx(1.0)
    assert ask(client, people, {**query, "fresh": True}).status_code == 403


def test_means_and_sums_are_bounded(people: People, alliance: Alliance, client: TestClient) -> None:
    populate(people, 40)
    cap(client, alliance, 20.0)
    mean = ask(client, people, {"measure": "mean", "category": QUALITY, "epsilon": 10.0}).json()
    (group,) = mean["groups"]
    true_mean = sum(60 + k % 20 for k in range(40)) / 40
    assert group["key"] == {} and abs(group["mean"] - true_mean) < 5
    clipped = ask(
        client,
        people,
        {"measure": "sum", "category": QUALITY, "bounds": [0, 50], "epsilon": 10.0},
    ).json()
    (group,) = clipped["groups"]
    assert abs(group["sum"] - 50 * 40) < 100  # every value clipped to 50
    assert clipped["mechanism"]["sum"]["sensitivity"] == 50


def test_tags_group_with_a_bound_per_person(
    people: People, alliance: Alliance, client: TestClient
) -> None:
    populate(people, 20)  # half have one beauty tag, half two
    cap(client, alliance, 20.0)
    body = ask(
        client, people, {"measure": "count", "group_by": [BEAUTY], "epsilon": 10.0, "max_tags": 2}
    ).json()
    groups = {g["key"][BEAUTY]: g for g in body["groups"] if not g["suppressed"]}
    assert abs(groups["beauty.skincare"]["count"] - 20) <= 2
    assert abs(groups["beauty.fragrance"]["count"] - 10) <= 2
    assert body["mechanism"]["count"]["sensitivity"] == 2
    one = ask(
        client, people, {"measure": "count", "group_by": [BEAUTY], "epsilon": 10.0, "max_tags": 1}
    ).json()
    groups = {g["key"][BEAUTY]: g for g in one["groups"] if not g["suppressed"]}
    # One tag per person, the first by key: "beauty.fragrance" < "beauty.skincare".
    assert abs(groups["beauty.fragrance"]["count"] - 10) <= 2
    assert abs(groups["beauty.skincare"]["count"] - 10) <= 2


def test_filters_and_depth(people: People, alliance: Alliance, client: TestClient) -> None:
    populate(people, 12)
    cap(client, alliance, 30.0)
    filtered = ask(
        client,
        people,
        {"measure": "count", "where": {GEN: ["gen_z"]}, "group_by": [TIER], "epsilon": 10.0},
    ).json()
    tier_1 = next(g for g in filtered["groups"] if g["key"] == {TIER: "tier_1"})
    assert abs(tier_1["count"] - 6) <= 2
    # No interaction counts were consented to: nobody counts by depth.
    depth = ask(
        client, people, {"measure": "count", "group_by": ["interaction_depth"], "epsilon": 10.0}
    ).json()
    assert all(g["suppressed"] for g in depth["groups"])


BAD = [
    pytest.param({"measure": "count"}, id="no-epsilon"),
    pytest.param({"measure": "count", "epsilon": 0}, id="zero-epsilon"),
    pytest.param({"measure": "count", "epsilon": 11}, id="big-epsilon"),
    pytest.param({"measure": "count", "epsilon": "1"}, id="string-epsilon"),
    pytest.param({"measure": "median", "epsilon": 1}, id="unknown-measure"),
    pytest.param({"measure": "count", "group_by": [TIER, GEN, BEAUTY], "epsilon": 1}, id="3-dims"),
    pytest.param({"measure": "count", "group_by": [TIER, TIER], "epsilon": 1}, id="twice"),
    pytest.param(
        {"measure": "count", "group_by": ["user.demographic.gender"], "epsilon": 1}, id="not-a-dim"
    ),
    pytest.param({"measure": "count", "where": {TIER: ["tier_9"]}, "epsilon": 1}, id="bad-value"),
    pytest.param({"measure": "count", "where": {TIER: []}, "epsilon": 1}, id="empty-filter"),
    pytest.param({"measure": "sum", "epsilon": 1}, id="sum-no-category"),
    pytest.param({"measure": "sum", "category": TIER, "epsilon": 1}, id="sum-of-enum"),
    pytest.param(
        {
            "measure": "sum",
            "category": "user.interaction.deep.trial_review.count_30d",
            "epsilon": 1,
        },
        id="unbounded-needs-bounds",
    ),
    pytest.param(
        {"measure": "sum", "category": QUALITY, "bounds": [5, 1], "epsilon": 1}, id="inverted"
    ),
    pytest.param({"measure": "count", "category": QUALITY, "epsilon": 1}, id="count-with-category"),
    pytest.param({"measure": "count", "epsilon": 1, "max_tags": 0}, id="max-tags"),
    pytest.param({"measure": "count", "epsilon": 1, "rows": True}, id="unknown-member"),
    pytest.param({"measure": "count", "epsilon": 1, "fresh": "yes"}, id="fresh-not-bool"),
    pytest.param(["count"], id="not-an-object"),
]


@pytest.mark.parametrize("body", BAD)
def test_bad_queries_are_refused_and_charge_nothing(
    people: People, alliance: Alliance, client: TestClient, body: Any
) -> None:
    cap(client, alliance, 1.0)
    response = client.post("/v1/sandbox/queries", json=body, auth=people.brand_auth())
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    budget = client.get("/v1/sandbox/budget", auth=people.brand_auth()).json()
    assert budget["epsilon_spent"] == 0


def test_only_brands_and_the_operator(
    people: People, alliance: Alliance, client: TestClient
) -> None:
    query = {"measure": "count", "epsilon": 1}
    assert client.post("/v1/sandbox/queries", json=query).status_code == 401
    as_platform = client.post("/v1/sandbox/queries", json=query, auth=people.platform_auth())
    assert as_platform.status_code == 403
    brand_a = alliance.brand_a["client_id"]
    assert client.put(f"/v1/admin/brands/{brand_a}/budget", json={"epsilon": 1}).status_code == 401
    not_a_brand = client.put(
        f"/v1/admin/brands/{alliance.platform['client_id']}/budget",
        json={"epsilon": 1},
        headers=alliance.operator,
    )
    assert not_a_brand.status_code == 404
    negative = client.put(
        f"/v1/admin/brands/{brand_a}/budget", json={"epsilon": -1}, headers=alliance.operator
    )
    assert negative.status_code == 400
    listing = client.get("/v1/sandbox/dimensions", auth=people.brand_auth()).json()
    assert {d["key"] for d in listing["dimensions"]} >= {TIER, GEN, BEAUTY, "interaction_depth"}
    assert listing["threshold"] == 5


def test_sql_counts_exactly_whom_the_policy_allows(
    people: People, alliance: Alliance, runtime: Runtime, standard: DataStandard
) -> None:
    """The SQL gates and ``consent.policy.decide`` agree person by person."""
    everyone = populate(people, 4)  # consent covers all four categories
    narrow = people.person("n-1")  # consent covers the tier only
    people.consent(narrow, "a", ANALYTICS, [TIER])
    withdrawn = people.person("w-1")
    record, _ = people.consent(withdrawn, "a", ANALYTICS, [TIER, GEN])
    people.withdraw(record.record.record_id)
    other_brand = people.person("o-1")
    people.consent(other_brand, "b", ANALYTICS, [TIER, GEN])
    minor = people.person("m-1")
    people.consent(minor, "a", ANALYTICS, [TIER, GEN])
    ended = people.person("e-1")  # given 400 days ago for 365: expired
    people.consent(ended, "a", ANALYTICS, [TIER, GEN], at=utcnow() - timedelta(days=400))
    with transaction(runtime.sessions) as session:
        session.execute(PERSON.update().where(PERSON.c.id == minor).values(minor_under_14=True))
    accounts = ["n-1", "w-1", "o-1", "m-1", "e-1"]
    people.push(
        [{"platform_user_id": a, "attributes": {TIER: "tier_2", GEN: "gen_x"}} for a in accounts]
    )
    candidates = [*everyone, narrow, withdrawn, other_brand, minor, ended]
    now = utcnow()
    for asked in ([TIER], [TIER, GEN]):
        query = parse({"measure": "count", "group_by": asked, "epsilon": 1}, standard)
        with Session(runtime.engine) as session:
            notices = Notices(session).current_versions()
            counted = sum(
                n
                for n, _ in aggregate.exact(
                    session, query, alliance.brand_a["id"], notices, now
                ).values()
            )
            allowed = 0
            for person in candidates:
                histories = consents_store.histories(session, person)
                minor_now = person == minor
                question = policy.Question(
                    person,
                    alliance.brand_a["id"],
                    RecipientKind.brand,
                    ANALYTICS,
                    frozenset(asked),
                    now,
                )
                decision = policy.decide(
                    question, histories, policy.Facts(standard, notices, minor_now)
                )
                allowed += decision.allowed
        assert counted == allowed, asked
    assert allowed == 4  # only the fully covered four count for two categories


def test_the_aggregate_tunes_postgresql_for_its_own_transaction_only(
    people: People, alliance: Alliance, runtime: Runtime, standard: DataStandard
) -> None:
    """More work_mem, and no generic plan (blind to the brand and the sets) after a
    statement has been prepared: within the sandbox's transaction, not after it."""
    populate(people, 3)
    query = parse({"measure": "count", "group_by": [TIER], "epsilon": 1}, standard)
    with Session(runtime.engine) as session:
        if session.get_bind().dialect.name != "postgresql":  # nothing to tune on SQLite
            found = aggregate.exact(session, query, alliance.brand_a["id"], {}, utcnow())
            assert sum(n for n, _ in found.values()) == 3
            return
        before = session.execute(text("SHOW work_mem")).scalar_one()
        session.commit()
        for _ in range(8):  # past psycopg's prepare threshold (5): the same answer
            found = aggregate.exact(session, query, alliance.brand_a["id"], {}, utcnow())
            assert sum(n for n, _ in found.values()) == 3
            assert session.execute(text("SHOW work_mem")).scalar_one() == aggregate.WORK_MEM
            shown = session.execute(text("SHOW plan_cache_mode")).scalar_one()
            assert shown == "force_custom_plan"
            session.commit()
        assert session.execute(text("SHOW work_mem")).scalar_one() == before
        assert session.execute(text("SHOW plan_cache_mode")).scalar_one() == "auto"


@pytest.mark.anyio
async def test_the_sdk(people: People, alliance: Alliance, client: TestClient) -> None:
    populate(people, 6)
    cap(client, alliance, 2.0)
    async with alliance.brand_client("a") as brand:
        assert isinstance(brand, AsyncBrandClient)
        budget = await brand.budget()
        assert budget.epsilon_cap == 2.0 and budget.epsilon_spent == 0
        result = await brand.sandbox_query("count", group_by=[TIER], epsilon=1.0)
        assert not result.cached and result.epsilon_charged <= 1.0
        assert {tuple(g.key.values()) for g in result.groups} >= {("tier_1",)}
        again = await brand.sandbox_query("count", group_by=[TIER], epsilon=1.0)
        assert again.cached and again.query_id == result.query_id
        mean = await brand.sandbox_query("mean", category=QUALITY, epsilon=1.0)
        assert mean.groups[0].key == {}
        assert (await brand.budget()).epsilon_remaining == pytest.approx(0)
