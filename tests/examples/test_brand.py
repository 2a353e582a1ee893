"""The demo brand: its sign-in refusals (callbacks it did not start, a person who
denies), the view page without a session, and the sandbox page: the SVG chart, the ε
charged, the budget, bad parameters and an exhausted budget. (The chart over the seeded
population is checked by the launcher's test, which seeds it anyway.)"""

from __future__ import annotations

import re

import httpx
import pytest

from consent.budget import Cap, Period
from examples.cast import PASSWORD
from gateway.budget.store import SqlBudgetStore
from gateway.db import transaction
from gateway.members.models import Member
from gateway.sandbox.service import population
from tests.examples.conftest import LiveDemo, hidden

pytestmark = pytest.mark.slow


def test_the_brand_refuses_sign_ins_it_cannot_finish(live_demo: LiveDemo) -> None:
    brand, shop = live_demo.url("brand"), live_demo.url("social_shop")
    with httpx.Client(base_url=brand, follow_redirects=False) as client:
        stray = client.get("/auth/callback", params={"code": "x", "state": "y"})
        assert stray.status_code == 400 and 'id="signin-error"' in stray.text
        view = client.get("/view")
        assert view.status_code == 401 and 'id="sign-in-with-accord"' in view.text
        started = client.get("/auth/start")
        assert started.status_code == 303
        assert started.headers["location"].startswith(f"{live_demo.issuer}/authorize?")
        # A callback carrying another state is refused, and the attempt is spent.
        forged = client.get("/auth/callback", params={"code": "x", "state": "forged"})
        assert forged.status_code == 400 and "state does not match" in forged.text
        again = client.get("/auth/callback", params={"code": "x", "state": "forged"})
        assert again.status_code == 400 and "not started here" in again.text

    # A person who signs in through a platform, then refuses on the consent screen.
    with httpx.Client(follow_redirects=True) as browser:
        chooser = browser.get(brand + "/auth/start")
        page = browser.post(
            f"{live_demo.issuer}/signin/choose",
            data={**hidden(chooser.text), "platform": live_demo.member_id("social_shop")},
        )
        assert 'id="challenge-title"' in page.text and 'id="login-form"' in page.text
        consent = browser.post(
            f"{shop}/accord/login",
            data={**hidden(page.text), "user": "ava", "password": PASSWORD},
        )
        assert '<form method="post" action="/consent">' in consent.text
        answer = browser.post(
            f"{live_demo.issuer}/consent", data={**hidden(consent.text), "decision": "deny"}
        )
        assert answer.url.path == "/auth/callback"
        assert answer.status_code == 403 and "You did not allow the sign-in." in answer.text
        assert 'id="sign-in-with-accord"' in answer.text  # and may try again


def test_the_sandbox_page_charts_a_dp_count_and_its_cost(live_demo: LiveDemo) -> None:
    brand = live_demo.url("brand")
    with httpx.Client(base_url=brand) as client:
        first = client.get("/sandbox")
        assert first.status_code == 200, first.text
        assert '<svg id="sandbox-chart"' in first.text
        assert re.search(r'id="epsilon-charged">0\.5<', first.text)
        assert re.search(r'id="budget-remaining">9\.5<', first.text)
        assert re.search(r'id="budget-cap">10<', first.text)
        bars = re.findall(r'<g class="bar" data-label="([^"]+)">', first.text)
        assert bars == ["tier_1", "new_tier_1", "tier_2", "tier_3", "tier_4", "tier_5"]
        assert first.text.count("suppressed</text>") == 6  # nobody consents here yet

        repeat = client.get("/sandbox", params={"dimension": "user.demographic.city_tier"})
        assert "a repeat" in repeat.text and re.search(r'id="budget-remaining">9\.5<', repeat.text)
        regions = client.get(
            "/sandbox", params={"dimension": "user.demographic.region", "epsilon": "1"}
        )
        assert re.search(r'id="budget-remaining">8\.5<', regions.text)
        assert regions.text.count('<g class="bar"') == 11

        for params in (
            {"dimension": "user.account.nickname"},
            {"epsilon": "100"},
            {"epsilon": "<b>"},
        ):
            bad = client.get("/sandbox", params=params)
            assert bad.status_code == 400 and 'id="sandbox-error"' in bad.text
            assert "<b>" not in bad.text

        with transaction(live_demo.runtime.sessions) as session:
            aurora = session.get(Member, live_demo.member_id("brand"))
            assert aurora is not None
            SqlBudgetStore(session).set_cap(Cap(population(aurora), Period.month, 1.6, 0.0))
        refused = client.get("/sandbox", params={"dimension": "user.channel.primary"})
        assert refused.status_code == 403 and 'id="sandbox-refused"' in refused.text
        assert "is left" in refused.text
