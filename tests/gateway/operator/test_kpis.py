"""Each KPI over the scene (tests/gateway/operator/scene.py), counted by the SQL alone."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from gateway.db import transaction, utcnow
from gateway.operator import asks
from gateway.operator.asks import ASK, Answer
from gateway.operator.figures import (
    Authorisation,
    BrandBudget,
    Interoperability,
    Sample,
    Snapshot,
    Timeliness,
    Unification,
)
from gateway.operator.kpis import Kpis
from gateway.runtime import Runtime
from tests.gateway.alliance import Alliance
from tests.gateway.operator import scene


def snapshot(runtime: Runtime, days: int = 30, at: datetime | None = None) -> Snapshot:
    with transaction(runtime.sessions) as session:
        return Kpis(session, clock=lambda: at or utcnow()).snapshot(days)


@pytest.fixture
def now(alliance: Alliance, runtime: Runtime) -> datetime:
    at = utcnow()
    with transaction(runtime.sessions) as session:
        scene.seed(session, alliance, at)
    return at


def test_identity_unification_counts_persons_with_two_or_more_accounts(
    runtime: Runtime, now: datetime
) -> None:
    found = snapshot(runtime, at=now).unification
    # P5's two accounts are at one platform: still two linked accounts (docs/kpis.md).
    assert found == Unification(persons=5, unified=3, rate=0.6)


def test_interoperability_counts_persons_and_categories_across_platforms(
    runtime: Runtime, now: datetime
) -> None:
    found = snapshot(runtime, at=now).interoperability
    assert found == Interoperability(
        persons=4, cross_platform=1, rate=0.25, categories=3, cross_platform_categories=2
    )


def test_past_the_sample_size_persons_are_sampled_by_id(runtime: Runtime, now: datetime) -> None:
    with transaction(runtime.sessions) as session:
        found = Kpis(session, clock=lambda: now, sample_persons=2).snapshot()
    # 2/5 of the id space: ids below "66666666", P1 ("1…") and P2 ("4…").
    assert found.sample == Sample(persons=5, sampled=2, bound="66666666")
    assert found.sample.fraction == 0.4 and not found.sample.exact
    # P1 of the two is unified: half the sample, scaled to 2.5 of 5 persons (rounded up).
    assert found.unification == Unification(persons=5, unified=3, rate=0.5)
    # Both have attributes, P1's from two platforms; beauty (P1: A, B) and device (P2: A).
    assert found.interoperability == Interoperability(
        persons=5, cross_platform=3, rate=0.5, categories=2, cross_platform_categories=1
    )
    # The flows are never sampled.
    assert found.rights == snapshot(runtime, at=now).rights


def test_rights_requests_on_time_in_the_window_and_overdue_now(
    runtime: Runtime, now: datetime
) -> None:
    month = snapshot(runtime, 30, at=now).rights
    assert month == Timeliness(completed=2, on_time=1, open_overdue=1) and month.rate == 0.5
    longer = snapshot(runtime, 120, at=now).rights
    assert longer == Timeliness(completed=3, on_time=2, open_overdue=1)


def test_epsilon_per_brand_this_period(runtime: Runtime, alliance: Alliance, now: datetime) -> None:
    budgets = {b.client_id: b for b in snapshot(runtime, at=now).budgets}
    assert budgets == {
        alliance.brand_a["client_id"]: BrandBudget(
            client_id=alliance.brand_a["client_id"],
            name=alliance.brand_a["name"],
            period=now.strftime("%Y-%m"),
            spent=1.25,
            cap=scene.MONTHLY_CAP,
        ),
        alliance.brand_b["client_id"]: BrandBudget(
            client_id=alliance.brand_b["client_id"],
            name=alliance.brand_b["name"],
            period=None,
            spent=0.0,
            cap=None,
        ),
    }
    assert budgets[alliance.brand_a["client_id"]].remaining == 3.75
    assert budgets[alliance.brand_b["client_id"]].remaining is None


def test_consent_asks_count_in_their_window(
    runtime: Runtime, alliance: Alliance, now: datetime
) -> None:
    brand = alliance.brand_a["id"]
    with transaction(runtime.sessions) as session:
        asks.shown(session, "partly", brand, 2, now - timedelta(days=1))
        asks.answered(session, "partly", Answer.given, 1, now)
        asks.shown(session, "refused", brand, 1, now - timedelta(days=2))
        asks.answered(session, "refused", Answer.refused, 0, now)
        asks.shown(session, "left", brand, 1, now - timedelta(days=3))
        asks.shown(session, "old", brand, 3, now - timedelta(days=40))
        asks.answered(session, "old", Answer.given, 3, now - timedelta(days=40))
    month = snapshot(runtime, 30, at=now).authorisation
    assert month == Authorisation(
        screen_asked=4, screen_given=1, screen_refused=2, screen_unanswered=1, member_recorded=0
    )
    assert month.asked == 4 and month.given == 1 and month.rate == 0.25
    # The window [now - days, now) includes its start: "partly" is exactly one day old.
    assert snapshot(runtime, 1, at=now).authorisation.screen_asked == 2
    assert snapshot(runtime, 2, at=now).authorisation.screen_asked == 3  # "left": 3 days
    assert snapshot(runtime, 60, at=now).authorisation.screen_given == 4


def test_only_the_first_answer_counts_and_never_more_than_asked(
    runtime: Runtime, alliance: Alliance
) -> None:
    now = utcnow()
    with transaction(runtime.sessions) as session:
        asks.shown(session, "twice", alliance.brand_a["id"], 2, now)
        asks.shown(session, "twice", alliance.brand_a["id"], 5, now)  # ignored: same screen
        asks.answered(session, "twice", Answer.given, 3, now)  # capped at the 2 asked
        asks.answered(session, "twice", Answer.refused, 0, now)  # a second post: ignored
        row = session.execute(ASK.select()).one()
    assert (row.asked, row.given, row.answer) == (2, 2, "given")


def test_an_empty_alliance_has_counts_of_zero_and_no_rates(runtime: Runtime) -> None:
    found = snapshot(runtime)
    assert found.sample == Sample(persons=0, sampled=0, bound=None)
    assert found.unification == Unification(0, 0, None)
    assert found.interoperability.rate is None and found.interoperability.categories == 0
    assert found.authorisation.rate is None and found.withdrawal.rate is None
    assert found.rights.rate is None and found.rights.open_overdue == 0
    assert found.budgets == []


@pytest.mark.parametrize("days", [pytest.param(0, id="zero"), pytest.param(367, id="too-long")])
def test_the_window_is_bounded(runtime: Runtime, days: int) -> None:
    with pytest.raises(ValueError, match="1 to 366 days"):
        snapshot(runtime, days)
