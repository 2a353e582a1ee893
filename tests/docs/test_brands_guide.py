"""docs/brands.md, run: every sample in order against a real gateway whose alliance has
people consenting to the brand, with only what a brand has (the gateway's URL, its
site's URL, its credentials) given through the environment the guide reads. Where the
guide asks its reader to act as a person in a browser, the test does."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.docs.alliance import PEOPLE, BrandAlliance, alliance
from tests.docs.browser import Browser, button, checked_scopes, hidden, labelled
from tests.docs.conftest import Gateway
from tests.docs.samples import ROOT, UVICORN_WEBSOCKETS, Act, Block, Namespace, read_through
from tests.e2e.live import free_port

GUIDE = ROOT / "docs" / "brands.md"
SIGN_IN = "signs in at the brand's site through Lumen as lumen-1 and approves the consent screen"
WITHDRAW = "withdraws the marketing.brand_view consent to Aurora Cosmetics in the consent center"


def signs_in_at_the_brand(browser: Browser, namespace: Namespace) -> None:
    """The person goes to the brand's /login, picks Lumen at the gateway's chooser, signs
    in there as lumen-1, approves the consent screen and lands on the brand's callback."""
    gateway, site = namespace["GATEWAY"], namespace["SITE"]
    chooser = browser.get(browser.go(browser.get(f"{site}/login")))
    assert chooser.status_code == 200 and "Aurora Cosmetics" in chooser.text, chooser.text
    fields = hidden(chooser)
    fields["platform"] = button(chooser, "platform", "Lumen Social Shop")
    login = browser.get(browser.go(browser.submit(f"{gateway}/signin/choose", fields)))
    form = hidden(login)
    signed = browser.go(browser.submit(str(login.url.join("/login")), form | {"user": "lumen-1"}))
    consent = browser.get(signed)
    fields = hidden(consent)
    answer: dict[str, str | list[str]] = {**fields, "decision": "approve"}
    answer["scope"] = checked_scopes(consent)
    back = browser.go(browser.submit(f"{gateway}/consent", answer))
    assert back.startswith(f"{site}/callback?"), back
    welcome = browser.get(back)
    assert welcome.status_code == 200 and "Welcome to Aurora" in welcome.text, welcome.text


def withdraws_in_the_center(browser: Browser, namespace: Namespace) -> None:
    """Signed in since the brand's sign-in, the person sees in the consent center that
    Aurora read their view, and withdraws Aurora's view with one button."""
    gateway = namespace["GATEWAY"]
    center = browser.get(f"{gateway}/center")
    assert center.status_code == 200, center.text
    access = center.text.split('id="access"', 1)[1]
    assert "Aurora Cosmetics" in access, access[:3000]
    record = labelled(center, "record", "marketing.brand_view Aurora Cosmetics")
    done = browser.submit(
        f"{gateway}/center/withdraw", {"csrf": hidden(center)["csrf"], "record": record}
    )
    assert browser.go(done) == f"{gateway}/center"


@pytest.mark.slow
@pytest.mark.filterwarnings(UVICORN_WEBSOCKETS)
def test_every_sample_of_the_brands_guide_runs(
    gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = f"http://127.0.0.1:{free_port()}"
    monkeypatch.chdir(tmp_path)
    with alliance(gateway, site) as members:
        _read(gateway, site, members, monkeypatch)


def _read(
    gateway: Gateway, site: str, members: BrandAlliance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY", gateway.url)
    monkeypatch.setenv("SITE", site)
    monkeypatch.setenv("BRAND_CLIENT_ID", members.brand.client_id)
    monkeypatch.setenv("BRAND_CLIENT_SECRET", members.brand.secret)

    def no_shell(block: Block, namespace: Namespace) -> None:
        raise AssertionError(f"brands.md:{block.line}: a shell sample the test does not run")

    namespace: Namespace = {"__name__": "brands_guide"}
    with Browser() as person:
        acts: dict[str, Act] = {
            SIGN_IN: lambda ns: signs_in_at_the_brand(person, ns),
            WITHDRAW: lambda ns: withdraws_in_the_center(person, ns),
        }
        try:
            read_through(GUIDE, namespace=namespace, acts=acts, shell=no_shell)
        finally:
            _close(namespace)

    # What the guide says happened, did.
    assert len(namespace["consenting"]) == PEOPLE
    assert namespace["view"].attributes["user.interest.beauty"].sources is not None
    assert len(namespace["view"].attributes["user.interest.beauty"].sources) == 2
    assert namespace["views"]["a-subject-we-never-saw"] is None
    assert namespace["again"].cached and namespace["again"].epsilon_charged == 0
    assert namespace["fresh"].budget.epsilon_remaining < 0.5


def _close(namespace: Namespace) -> None:
    site = namespace.get("site")
    if site is not None:
        site.should_exit = True
        for thread in threading.enumerate():
            if thread.name == "site":
                thread.join(timeout=10)
    brand = namespace.get("brand")
    if brand is not None:
        brand.close()
