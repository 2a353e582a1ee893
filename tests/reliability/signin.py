"""A person signing in to a relying party through a member platform, over real HTTP
(the browser is an httpx client with cookies; the platform's backend accepts the
challenge with its own credential), ending with the RP's token response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.gateway.members.cases import brand_spec
from tests.gateway.oauth.flow import hidden, pkce, query
from tests.reliability.alliance import Platform


@dataclass(frozen=True)
class RelyingParty:
    client_id: str
    secret: str
    redirect_uri: str

    @property
    def auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self.client_id, self.secret)


def register_rp(url: str, operator: dict[str, str], slug: str) -> RelyingParty:
    redirect_uri = f"https://{slug}.example/cb"
    spec = brand_spec(
        name=f"Reliability RP {slug}",
        redirect_uris=[redirect_uri],
        purposes=["identity.sso", "marketing.brand_view"],
    )
    response = httpx.post(f"{url}/v1/admin/brands", json=spec, headers=operator, timeout=30)
    assert response.status_code == 201, response.text
    made = response.json()
    return RelyingParty(made["client_id"], made["client_secret"], redirect_uri)


def sign_in(url: str, platform: Platform, rp: RelyingParty, account: str) -> dict[str, Any]:
    """From /authorize through the chooser, the platform and the consent screen to
    the code exchange; the token response."""
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "scope": "openid",
        "state": "s-" + account,
        "nonce": "n-" + account,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with httpx.Client(base_url=url, timeout=30) as browser:
        chooser = browser.get("/authorize", params=params)
        assert chooser.status_code == 200, chooser.text
        chose = browser.post(
            "/signin/choose", data={**hidden(chooser.text), "platform": platform.id}
        )
        assert chose.status_code == 303, chose.text
        login_challenge = query(chose.headers["location"])["login_challenge"]
        accepted = httpx.post(
            f"{url}/v1/challenges/login/accept",
            json={"challenge": login_challenge, "account_id": account, "amr": ["pwd"], "acr": "1"},
            auth=platform.auth,
            timeout=30,
        )
        assert accepted.status_code == 200, accepted.text
        page = browser.get(accepted.json()["redirect_to"].removeprefix(url))
        if page.status_code == 200:  # the consent screen: approve
            page = browser.post("/consent", data={**hidden(page.text), "decision": "approve"})
        assert page.status_code == 303, page.text
        code = query(page.headers["location"])["code"]
    tokens = httpx.post(
        f"{url}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": verifier,
        },
        auth=rp.auth,
        timeout=30,
    )
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body
