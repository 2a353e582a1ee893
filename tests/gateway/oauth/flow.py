"""A browser and a relying party walking the code flow through the TestClient."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from tests.gateway.alliance import Alliance
from tests.gateway.members.cases import brand_spec
from tests.gateway.oauth.test_client_tokens import basic, platform_auth

HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hidden(html: str) -> dict[str, str]:
    return dict(HIDDEN.findall(html))


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class RelyingParty:
    client_id: str
    secret: str
    redirect_uri: str
    name: str

    @property
    def auth(self) -> dict[str, str]:
        return basic(self.client_id, self.secret)


def register_rp(
    client: TestClient, alliance: Alliance, name: str, host: str, **metadata: Any
) -> RelyingParty:
    spec = brand_spec(
        name=name,
        redirect_uris=[f"https://{host}/cb"],
        purposes=["identity.sso", "marketing.brand_view"],
        **metadata,
    )
    response = client.post("/v1/admin/brands", json=spec, headers=alliance.operator)
    assert response.status_code == 201, response.text
    body = response.json()
    return RelyingParty(body["client_id"], body["client_secret"], f"https://{host}/cb", name)


@dataclass
class Attempt:
    """One authorization request: its PKCE verifier, state and nonce."""

    rp: RelyingParty
    scope: str = "openid"
    verifier: str = ""
    challenge: str = ""
    state: str = field(default_factory=lambda: secrets.token_urlsafe(8))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(8))
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.verifier:
            self.verifier, self.challenge = pkce()

    def params(self) -> dict[str, str]:
        return {
            "response_type": "code",
            "client_id": self.rp.client_id,
            "redirect_uri": self.rp.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
            **self.extra,
        }


def accept(client: TestClient, alliance: Alliance, challenge: str, account: str) -> str:
    response = client.post(
        "/v1/challenges/login/accept",
        json={"challenge": challenge, "account_id": account, "amr": ["pwd"], "acr": "1"},
        headers=platform_auth(alliance),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["redirect_to"])


def sign_in(client: TestClient, alliance: Alliance, attempt: Attempt, account: str = "u-1") -> Any:
    """From /authorize through the chooser and the platform to what follows the return."""
    chooser = client.get("/authorize", params=attempt.params(), follow_redirects=False)
    assert chooser.status_code == 200, chooser.text
    fields = hidden(chooser.text)
    chose = client.post(
        "/signin/choose",
        data={**fields, "platform": alliance.platform["id"]},
        follow_redirects=False,
    )
    assert chose.status_code == 303, chose.text
    login = chose.headers["location"]
    assert login.startswith(alliance.platform["login_url"])
    back = accept(client, alliance, query(login)["login_challenge"], account)
    return client.get(back.removeprefix(alliance.issuer), follow_redirects=False)


def approve(client: TestClient, page_html: str, scopes: list[str] | None = None) -> Any:
    form: dict[str, Any] = {**hidden(page_html), "decision": "approve"}
    if scopes is not None:
        form["scope"] = scopes
    return client.post("/consent", data=form, follow_redirects=False)


def exchange(client: TestClient, attempt: Attempt, code: str) -> Any:
    return client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": attempt.rp.redirect_uri,
            "code_verifier": attempt.verifier,
        },
        headers=attempt.rp.auth,
    )


def signed_in(
    client: TestClient, alliance: Alliance, rp: RelyingParty, account: str = "u-1"
) -> dict[str, Any]:
    """Sign a person in to ``rp`` (consenting if asked); the token response."""
    attempt = Attempt(rp)
    page = sign_in(client, alliance, attempt, account)
    if page.status_code == 200:
        page = approve(client, page.text)
    assert page.status_code == 303, page.text
    tokens = exchange(client, attempt, query(page.headers["location"])["code"])
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body
