"""The code flow in the browser: sign-in through a platform, consent, code, tokens."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from gateway.runtime import Runtime
from tests.gateway.alliance import Alliance
from tests.gateway.oauth.flow import (
    Attempt,
    RelyingParty,
    approve,
    exchange,
    query,
    register_rp,
    sign_in,
)


@pytest.fixture
def rp(client: TestClient, alliance: Alliance) -> RelyingParty:
    return register_rp(client, alliance, "Nimbus Tea", "nimbus.example")


def code_of(response: Any, attempt: Attempt, issuer: str) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(attempt.rp.redirect_uri + "?")
    params = query(location)
    assert params["state"] == attempt.state and params["iss"] == issuer
    return params["code"]


def id_claims(runtime: Runtime, token: str, audience: str) -> dict[str, Any]:
    kid = jwt.get_unverified_header(token)["kid"]
    claims: dict[str, Any] = jwt.decode(
        token, runtime.keys.verification_key(kid), algorithms=["ES256"], audience=audience
    )
    return claims


def test_first_sign_in_asks_consent_then_issues_tokens(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    attempt = Attempt(rp)
    consent_page = sign_in(client, alliance, attempt)
    assert consent_page.status_code == 200, consent_page.text
    assert rp.name in consent_page.text and "privacy@aurora.example" in consent_page.text
    code = code_of(approve(client, consent_page.text), attempt, alliance.issuer)

    tokens = exchange(client, attempt, code)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["scope"] == "openid" and body["refresh_token"] and body["id_token"]
    claims = id_claims(runtime, body["id_token"], rp.client_id)
    assert claims["nonce"] == attempt.nonce and claims["amr"] == ["pwd"] and claims["acr"] == "1"
    assert claims["auth_time"] <= claims["iat"] and claims["iss"] == alliance.issuer
    assert "platform_user_id" not in claims  # a brand learns only its pseudonym

    # Signed in and consented: the next request goes straight back with a code.
    again = Attempt(rp)
    direct = client.get("/authorize", params=again.params(), follow_redirects=False)
    second = exchange(client, again, code_of(direct, again, alliance.issuer)).json()
    assert id_claims(runtime, second["id_token"], rp.client_id)["sub"] == claims["sub"]


def test_two_clients_get_different_subs_for_one_person(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    other = register_rp(client, alliance, "Zephyr Shoes", "zephyr.example")
    subs = []
    for party in (rp, other):
        attempt = Attempt(party)
        page = sign_in(client, alliance, attempt, account="same-user")
        if page.status_code == 200:
            page = approve(client, page.text)
        body = exchange(client, attempt, code_of(page, attempt, alliance.issuer)).json()
        subs.append(id_claims(runtime, body["id_token"], party.client_id)["sub"])
    assert subs[0] != subs[1]


def test_code_reuse_is_refused_and_revokes_the_first_tokens(
    client: TestClient, alliance: Alliance, rp: RelyingParty
) -> None:
    attempt = Attempt(rp)
    code = code_of(
        approve(client, sign_in(client, alliance, attempt).text), attempt, alliance.issuer
    )
    first = exchange(client, attempt, code).json()
    reused = exchange(client, attempt, code)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    active = client.post(
        "/introspect", data={"token": first["access_token"]}, headers=rp.auth
    ).json()
    assert active == {"active": False}
    refreshed = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=rp.auth,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_refresh_rotates_and_reuse_revokes_the_family(
    client: TestClient, alliance: Alliance, rp: RelyingParty
) -> None:
    attempt = Attempt(rp)
    code = code_of(
        approve(client, sign_in(client, alliance, attempt).text), attempt, alliance.issuer
    )
    first = exchange(client, attempt, code).json()

    def refresh(token: str) -> Any:
        return client.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": token},
            headers=rp.auth,
        )

    rotated = refresh(first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    reuse = refresh(first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert refresh(second["refresh_token"]).status_code == 400  # the family is revoked
    for token in (first["access_token"], second["access_token"]):
        info = client.post("/introspect", data={"token": token}, headers=rp.auth).json()
        assert info == {"active": False}
