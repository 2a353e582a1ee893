"""A demo platform's own login and its answers to the gateway's challenges, bad input
included: wrong passwords, redirects off the site, missing, malformed, unknown and used
challenges, a cancelled sign-in, a forged SET."""

from __future__ import annotations

import httpx
import pytest

from examples.cast import PASSWORD
from tests.examples.conftest import LiveDemo, hidden

pytestmark = pytest.mark.slow


def test_the_login_refuses_bad_passwords_and_never_redirects_off_site(
    live_demo: LiveDemo,
) -> None:
    shop = live_demo.url("social_shop")
    with httpx.Client(base_url=shop) as client:
        for user, password in [("mia", "wrong"), ("nobody", PASSWORD), ("", ""), ("mia", "")]:
            refused = client.post("/login", data={"user": user, "password": password})
            assert refused.status_code == 401
            assert (
                '<p id="login-error" class="error" role="alert">Wrong user name or password.'
                in (refused.text)
            )
            assert "shop_session" not in refused.headers.get("set-cookie", "")
        for target, landing in [
            ("https://evil.example/", "/"),
            ("//evil.example/x", "/"),
            ("/\\evil.example", "/"),
            ("javascript:alert(1)", "/"),
            ("/events", "/events"),
        ]:
            signed = client.post(
                "/login", data={"user": "MIA", "password": PASSWORD, "next": target}
            )
            assert signed.status_code == 303 and signed.headers["location"] == landing
        repeated = client.post("/login", content=b"user=mia&user=leo&password=x")
        assert repeated.status_code == 400
        huge = client.post("/login", content=b"user=" + b"a" * 20_000)
        assert huge.status_code == 400
        home = client.get("/")
        assert 'id="user-name">Mia Chen<' in home.text and 'id="profile"' in home.text
        # A signed-in form without its CSRF token does nothing.
        assert client.post("/logout", data={}).status_code == 303
        assert 'id="user-name"' in client.get("/").text
        csrf = hidden(client.get("/").text)["csrf"]
        assert client.post("/logout", data={"csrf": csrf}).status_code == 303
        assert 'id="login-form"' in client.get("/").text


def test_challenge_pages_and_receivers_refuse_what_the_gateway_did_not_send(
    live_demo: LiveDemo,
) -> None:
    shop = live_demo.url("social_shop")
    with httpx.Client(base_url=shop) as client:
        for query in ["", "?login_challenge=a&link_challenge=b", "?login_challenge=<script>"]:
            page = client.get("/accord/login" + query)
            assert page.status_code == 400 and 'id="challenge-error"' in page.text
            assert "<script>" not in page.text
        unknown = client.get("/accord/login", params={"login_challenge": "x" * 40})
        assert unknown.status_code == 400 and "not one this platform can answer" in unknown.text
        forged = client.post(
            "/accord/login",
            data={"challenge": "x" * 40, "kind": "login", "user": "mia", "password": PASSWORD},
        )
        assert forged.status_code == 400
        no_session = client.post(
            "/accord/login", data={"challenge": "x" * 40, "kind": "login", "decision": "continue"}
        )
        assert no_session.status_code == 403
        bad_kind = client.post("/accord/login", data={"challenge": "abc", "kind": "other"})
        assert bad_kind.status_code == 400
    # The SET receivers take nothing without the stream's secret.
    for slug in ("social_shop", "brand"):
        forged = httpx.post(
            f"{live_demo.url(slug)}/accord/events",
            content=b"eyJhbGciOiJub25lIn0.e30.",
            headers={
                "Content-Type": "application/secevent+jwt",
                "Authorization": "Bearer guess",
            },
        )
        assert forged.status_code == 400 and forged.json()["err"] == "authentication_failed"
        assert httpx.get(f"{live_demo.url(slug)}/accord/events").status_code == 405


def test_a_challenge_is_answered_once_and_a_cancel_goes_back_to_the_gateway(
    live_demo: LiveDemo,
) -> None:
    shop = live_demo.url("social_shop")
    center = f"{live_demo.issuer}/center"
    with httpx.Client(follow_redirects=False) as browser:
        chooser = browser.get(center)
        data = {"csrf": hidden(chooser.text)["csrf"], "platform": live_demo.member_id("notes")}
        # The wrong platform's page for the notes platform's challenge: unknown to it.
        notes_login = browser.post(center + "/signin", data=data).headers["location"]
        challenge = httpx.URL(notes_login).params["login_challenge"]
        elsewhere = browser.get(f"{shop}/accord/login", params={"login_challenge": challenge})
        assert elsewhere.status_code == 400
        # At the notes platform: a wrong password keeps the challenge, then cancel.
        page = browser.get(notes_login)
        assert page.status_code == 200 and 'id="login-form"' in page.text
        wrong = browser.post(
            notes_login.split("?")[0],
            data={**hidden(page.text), "user": "mia", "password": "no"},
        )
        assert wrong.status_code == 401 and hidden(wrong.text)["challenge"] == challenge
        cancelled = browser.post(
            notes_login.split("?")[0], data={**hidden(page.text), "decision": "cancel"}
        )
        assert cancelled.status_code == 303
        assert cancelled.headers["location"].startswith(live_demo.issuer + "/")
        again = browser.post(
            notes_login.split("?")[0],
            data={**hidden(page.text), "user": "mia", "password": PASSWORD},
        )
        assert again.status_code == 409 and "already answered" in again.text
