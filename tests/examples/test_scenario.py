"""The demo's scenario through real HTTP, as a browser without JavaScript would click it:
sign in at Lumen Social Shop, sign in to the consent center through it, link Pulse
Video Mall, sign in to Aurora Cosmetics with Accord and consent to its view, see the
view merge both platforms, withdraw in the consent center, see the view refused and the
SETs on the apps' event pages."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import urlencode

import httpx
import pytest

from examples.cast import PASSWORD
from tests.examples.conftest import LiveDemo, hidden

pytestmark = pytest.mark.slow
CHECKED = re.compile(r'<input type="checkbox" name="scope" value="([^"]*)" checked>')


class Browser:
    """Cookies shared by every app on 127.0.0.1, redirects followed one by one."""

    def __init__(self) -> None:
        self.http = httpx.Client(follow_redirects=False, timeout=10.0)

    def follow(self, response: httpx.Response, limit: int = 10) -> httpx.Response:
        while response.is_redirect and limit:
            response = self.http.get(str(response.next_request.url))  # type: ignore[union-attr]
            limit -= 1
        return response

    def get(self, url: str) -> httpx.Response:
        return self.follow(self.http.get(url))

    def post(self, url: str, data: dict[str, str]) -> httpx.Response:
        return self.follow(self.http.post(url, data=data))


def test_the_whole_scenario(live_demo: LiveDemo) -> None:
    shop, mall = live_demo.url("social_shop"), live_demo.url("video_mall")
    brand, center = live_demo.url("brand"), f"{live_demo.issuer}/center"
    browser = Browser()

    # 1. Sign in at the shop: a wrong password is refused with a clear page, then mia.
    login = browser.get(shop + "/")
    assert 'id="login-form"' in login.text and f'id="demo-password">{PASSWORD}<' in login.text
    wrong = browser.post(shop + "/login", {"user": "mia", "password": "nope"})
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text
    home = browser.post(shop + "/login", {"user": "mia", "password": PASSWORD})
    assert '<span id="user-name">Mia Chen</span>' in home.text
    assert f'id="open-consent-center" class="button" href="{center}"' in home.text

    # 2. The consent center, through the shop: signed in there, mia only confirms.
    chooser = browser.get(center)
    shop_id, mall_id = live_demo.member_id("social_shop"), live_demo.member_id("video_mall")
    went = browser.http.post(
        center + "/signin", data={"csrf": hidden(chooser.text)["csrf"], "platform": shop_id}
    )
    assert went.headers["location"].startswith(f"{shop}/accord/login?login_challenge=")
    confirm = browser.follow(went)
    assert 'id="confirm-form"' in confirm.text and "Continue as mia" in confirm.text
    assert '<h1 id="challenge-title">Sign in with Accord</h1>' in confirm.text
    signed = browser.post(shop + "/accord/login", {**hidden(confirm.text), "decision": "continue"})
    assert signed.url == httpx.URL(center) and "Lumen Social Shop" in signed.text

    # 3. Link the video mall: its login page, then the gateway's confirmation.
    went = browser.http.post(
        center + "/link", data={"csrf": hidden(signed.text)["csrf"], "platform": mall_id}
    )
    link_page = browser.follow(went)
    assert link_page.url.path == "/accord/login" and "Link your Pulse Video Mall" in link_page.text
    proposal = browser.post(
        mall + "/accord/login", {**hidden(link_page.text), "user": "mia", "password": PASSWORD}
    )
    assert proposal.status_code == 200 and "Pulse Video Mall" in proposal.text
    linked = browser.post(
        f"{live_demo.issuer}/center/link/confirm", {**hidden(proposal.text), "decision": "link"}
    )
    assert linked.text.count("Unlink") >= 2

    # 4. The brand: Sign in with Accord (the session is there), consent to its view.
    welcome = browser.get(brand + "/")
    assert 'id="sign-in-with-accord"' in welcome.text
    consent = browser.get(brand + "/auth/start")
    assert consent.url.path == "/authorize" and '<form method="post" action="/consent">' in (
        consent.text
    )
    scopes = CHECKED.findall(consent.text)
    assert "marketing.brand_view" in [html.unescape(s) for s in scopes]
    fields = {**hidden(consent.text), "decision": "approve"}
    response = browser.http.post(
        f"{live_demo.issuer}/consent",
        content=urlencode([*fields.items(), *(("scope", html.unescape(s)) for s in scopes)]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    view = browser.follow(response)
    assert view.url == httpx.URL(brand + "/view"), view.text

    # 5. The view merges both platforms (they push again until the gateway keeps it).
    deadline = time.monotonic() + 45  # as the browser test: the pushes back off to 5 s
    while not (
        '<li class="source">Lumen Social Shop' in view.text and "Pulse Video Mall" in view.text
    ):
        assert time.monotonic() < deadline, view.text
        time.sleep(0.3)
        view = browser.get(brand + "/view")
    assert 'id="view-refreshing"' in view.text and 'http-equiv="refresh"' in view.text
    beauty = re.search(
        r'data-category="user.interest.beauty">.*?<td class="value">([^<]*)<', view.text
    )
    assert beauty is not None
    assert {"beauty.skincare", "beauty.lip_makeup", "beauty.fragrance"} <= set(
        beauty.group(1).split(", ")
    )  # the shop's tags and the mall's, united

    # 6. Withdraw in the consent center: the view is refused.
    page = browser.get(center)
    withdraw = re.search(
        r'name="record" value="([^"]+)"'
        r' aria-label="Withdraw marketing.brand_view Aurora Cosmetics"',
        page.text,
    )
    assert withdraw is not None, page.text
    back = browser.post(
        center + "/withdraw", {"csrf": hidden(page.text)["csrf"], "record": withdraw.group(1)}
    )
    assert back.status_code == 200
    refused = browser.get(brand + "/view")
    assert 'id="view-refused"' in refused.text and 'id="view"' not in refused.text

    # 7. The SETs, on each app's events page.
    events = live_demo.wait_for(brand + "/events", "consent/withdrawn")
    assert "consent/granted" in events and 'class="event"' in events
    mall_events = live_demo.wait_for(mall + "/events", "identity/link-added")
    assert "user mia" in mall_events  # the platform's own user id, named
    assert "verification" in live_demo.wait_for(shop + "/events", "verification")
