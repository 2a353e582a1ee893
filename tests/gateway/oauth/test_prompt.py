"""``prompt`` and ``max_age`` (OIDC Core §3.1.2.1) with a live session."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.gateway.alliance import Alliance
from tests.gateway.oauth.flow import Attempt, RelyingParty, query, register_rp, signed_in


@pytest.fixture
def rp(client: TestClient, alliance: Alliance) -> RelyingParty:
    rp = register_rp(client, alliance, "Nimbus Tea", "nimbus.example")
    signed_in(client, alliance, rp)  # a session, and the sign-in consent in force
    return rp


def authorize(client: TestClient, rp: RelyingParty, **extra: str) -> tuple[int, str]:
    attempt = Attempt(rp, extra=extra)
    response = client.get("/authorize", params=attempt.params(), follow_redirects=False)
    return response.status_code, response.headers.get("location", response.text)


def test_without_prompt_a_live_session_goes_straight_back(
    client: TestClient, rp: RelyingParty
) -> None:
    status, location = authorize(client, rp)
    assert status == 303 and "code" in query(location)


def test_prompt_login_signs_in_again(client: TestClient, rp: RelyingParty) -> None:
    status, page = authorize(client, rp, prompt="login")
    assert status == 200 and "/signin/choose" in page  # the chooser, though signed in


def test_max_age_exceeded_signs_in_again(client: TestClient, rp: RelyingParty) -> None:
    status, page = authorize(client, rp, max_age="0")
    assert status == 200 and "/signin/choose" in page
    status, location = authorize(client, rp, max_age="3600")  # young enough
    assert status == 303 and "code" in query(location)


def test_prompt_consent_asks_again(client: TestClient, rp: RelyingParty) -> None:
    status, page = authorize(client, rp, prompt="consent")
    assert status == 200 and 'action="/consent"' in page


def test_prompt_none_answers_without_a_page(
    client: TestClient, alliance: Alliance, rp: RelyingParty
) -> None:
    status, location = authorize(client, rp, prompt="none")
    assert status == 303 and "code" in query(location)
    other = register_rp(client, alliance, "Zephyr Shoes", "zephyr.example")  # no consent yet
    status, location = authorize(client, other, prompt="none")
    assert status == 303 and query(location)["error"] == "consent_required"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("abc", id="not-a-number"),
        pytest.param("-5", id="negative"),
        pytest.param("1" * 12, id="too-long"),
    ],
)
def test_a_malformed_max_age_is_refused(client: TestClient, rp: RelyingParty, value: str) -> None:
    status, page = authorize(client, rp, max_age=value)
    assert status == 400 and "invalid_request" in page and "max_age" in page
