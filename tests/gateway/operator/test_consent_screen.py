"""The consent screen at /authorize records what it asked and what the person answered;
the authorisation and withdrawal rates count it with the consents members record."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.db import transaction, utcnow
from gateway.oauth import consent_step
from gateway.operator.asks import ASK
from gateway.operator.figures import Authorisation, Snapshot, Withdrawal
from gateway.operator.kpis import GATEWAY_METHODS, Kpis
from gateway.runtime import Runtime
from tests.gateway.alliance import Alliance
from tests.gateway.oauth.flow import (
    Attempt,
    RelyingParty,
    approve,
    hidden,
    query,
    register_rp,
    sign_in,
)
from tests.gateway.operator.consents import record_and_withdraw_the_first


def snapshot(runtime: Runtime, days: int = 30, later: timedelta = timedelta()) -> Snapshot:
    with transaction(runtime.sessions) as session:
        return Kpis(session, clock=lambda: utcnow() + later).snapshot(days)


def refuse(client: TestClient, page_html: str) -> str:
    response = client.post(
        "/consent", data={**hidden(page_html), "decision": "deny"}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def screen(client: TestClient, alliance: Alliance, attempt: Attempt, account: str) -> str:
    """A new browser signs ``account`` in; the consent screen it lands on."""
    client.cookies.clear()
    page = sign_in(client, alliance, attempt, account)
    assert page.status_code == 200 and 'action="/consent"' in page.text, page.text
    return str(page.text)


def asks(runtime: Runtime) -> list[tuple[int, int, str]]:
    """(asked, given, answer) of every screen shown; "-" while unanswered."""
    with runtime.sessions() as session:
        rows = session.execute(select(ASK.c.asked, ASK.c.given, ASK.c.answer)).all()
    return sorted((r.asked, r.given, r.answer or "-") for r in rows)


def test_each_screen_and_its_answer_is_recorded(
    client: TestClient, alliance: Alliance, runtime: Runtime
) -> None:
    rp: RelyingParty = register_rp(client, alliance, "Nimbus Tea", "nimbus.example")
    # u-1 approves sign-in; asked again (prompt=consent) with it in force, nothing is asked.
    page = screen(client, alliance, Attempt(rp), "u-1")
    assert "code" in query(approve(client, page).headers["location"])
    again = client.get("/authorize", params=Attempt(rp, extra={"prompt": "consent"}).params())
    assert again.status_code == 200 and 'action="/consent"' in again.text
    assert approve(client, again.text).status_code == 303
    # u-2 refuses; u-3 never answers; u-4 is asked two purposes and grants only sign-in.
    assert "error=access_denied" in refuse(client, screen(client, alliance, Attempt(rp), "u-2"))
    screen(client, alliance, Attempt(rp), "u-3")
    both = Attempt(rp, scope="openid marketing.brand_view")
    assert approve(client, screen(client, alliance, both, "u-4")).status_code == 303

    assert asks(runtime) == [
        (0, 0, "given"),
        (1, 0, "-"),
        (1, 0, "refused"),
        (1, 1, "given"),
        (2, 1, "given"),
    ]
    found = snapshot(runtime)
    assert found.authorisation == Authorisation(
        screen_asked=5, screen_given=2, screen_refused=2, screen_unanswered=1, member_recorded=0
    )
    assert found.authorisation.rate == 0.4
    # The two sign-in consents are "given" events, but not consents members recorded.
    assert found.withdrawal == Withdrawal(given=2, withdrawn=0)
    # A window that ended before they happened counts none of it.
    assert snapshot(runtime, 30, later=timedelta(days=31)).authorisation.asked == 0


def test_consents_members_record_are_asks_given_and_withdrawals_count(
    client: TestClient, alliance: Alliance, runtime: Runtime
) -> None:
    record_and_withdraw_the_first(client, alliance, ("m-1", "m-2", "m-3"))

    found = snapshot(runtime)
    assert found.authorisation == Authorisation(0, 0, 0, 0, member_recorded=3)
    assert found.authorisation.rate == 1.0  # refusals at the platform are not reported
    assert found.withdrawal == Withdrawal(given=3, withdrawn=1)
    assert found.withdrawal.rate == 1 / 3
    assert snapshot(runtime, 1, later=timedelta(days=2)).withdrawal == Withdrawal(0, 0)


def test_the_gateway_methods_are_the_consent_screens() -> None:
    assert consent_step.screen_evidence(None).method in GATEWAY_METHODS
