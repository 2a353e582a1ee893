"""A person in a real browser (Debian's chromium, driven by Playwright): signs in to a
brand through a demo platform, links a second platform in the consent center, withdraws
the brand's consent there and sees it gone; the brand's receiver gets the SET."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright
from sqlmodel import Session, select

from gateway.events.models import SecurityEvent as Row
from sdk import BrandClient, ClientSecretBasic
from tests.e2e.conftest import LiveAlliance
from tests.e2e.demo_platform import brand_app
from tests.e2e.live import free_port, serving

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WITHDRAWN = "https://schemas.accord.dev/secevent/consent/withdrawn"
TIMEOUT_MS = 15_000


@pytest.fixture
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: .ci/run installs it (apt-get install chromium)")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def test_sign_in_link_and_withdraw_in_a_browser(live: LiveAlliance, chromium: Browser) -> None:
    lumen, pulse = live.platforms
    port = free_port()
    brand_url = f"http://127.0.0.1:{port}"
    brand = live.register_brand("Nimbus Tea", brand_url)
    secret = secrets.token_urlsafe(24)
    jwks = httpx.get(f"{live.issuer}/.well-known/jwks.json").json()
    app, received = brand_app(
        {
            "jwks": jwks,
            "issuer": live.issuer,
            "audience": brand["client_id"],
            "authorization": f"Bearer {secret}",
        }
    )
    with serving(app, port):
        auth = ClientSecretBasic(brand["client_id"], brand["client_secret"])
        with BrandClient(live.issuer, auth=auth) as sdk_client:
            sdk_client.create_stream(
                endpoint_url=f"{brand_url}/events/",  # the receiver is mounted there
                authorization_header=f"Bearer {secret}",
                events_requested=[WITHDRAWN],
            )
            request = sdk_client.start_sign_in(f"{brand_url}/cb")

        page = chromium.new_page(locale="en-US")
        page.set_default_timeout(TIMEOUT_MS)
        # Sign in to the brand through the first platform, and consent.
        page.goto(request.url)
        page.get_by_role("button", name=lumen.name).click()
        page.get_by_label(f"User name at {lumen.name}").fill("lumen-7")
        page.get_by_role("button", name=f"Sign in to {lumen.name}").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Review what is asked")
        page.get_by_role("button", name="Allow the selected items").click()
        expect(page.locator("#back")).to_have_text("signed in")

        # The consent center: link the second platform.
        page.goto(f"{live.issuer}/center")
        accounts = page.get_by_role("region", name="Linked accounts")
        expect(accounts.get_by_role("listitem")).to_have_count(1)
        page.get_by_role("button", name=pulse.name).click()
        page.get_by_label(f"User name at {pulse.name}").fill("pulse-7")
        page.get_by_role("button", name=f"Sign in to {pulse.name}").click()
        page.get_by_role("button", name="Link", exact=True).click()
        expect(accounts.get_by_role("listitem")).to_have_count(2)
        expect(accounts).to_contain_text(pulse.name)

        # Withdraw the brand's sign-in consent: one click, and it is gone.
        consents = page.get_by_role("region", name="Consents in force")
        withdraw = consents.get_by_role("button", name="Withdraw identity.sso Nimbus Tea")
        expect(withdraw).to_have_count(1)
        withdraw.click()
        expect(
            consents.get_by_role("button", name="Withdraw identity.sso Nimbus Tea")
        ).to_have_count(0)
        expect(consents).to_contain_text("identity.linking")  # the link's own consent stays

        deadline = time.monotonic() + 15
        while not any(WITHDRAWN in event.events for event in received):
            assert time.monotonic() < deadline, ("no withdrawal SET", _outbox(live))
            time.sleep(0.1)
        page.close()


def _outbox(live: LiveAlliance) -> list[object]:
    """What the gateway holds for delivery, to say why a SET did not arrive."""
    with Session(live.runtime.engine) as session:
        return [
            (r.event_type, r.state, r.last_error, r.attempts) for r in session.exec(select(Row))
        ]
