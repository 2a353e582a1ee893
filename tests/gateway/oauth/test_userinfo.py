"""The UserInfo endpoint: the pairwise ``sub`` and, for a platform, its own user id;
every bad or spent token a clear 401 or 403."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from gateway.db import utcnow
from gateway.oauth.server import lifetimes
from gateway.oauth.tokens import AccessClaims, Signer
from gateway.runtime import Runtime
from tests.gateway.alliance import Alliance
from tests.gateway.oauth.flow import RelyingParty, register_rp, signed_in
from tests.gateway.oauth.grants_of import person_of, withdraw
from tests.gateway.oauth.test_code_flow import id_claims


@pytest.fixture
def rp(client: TestClient, alliance: Alliance) -> RelyingParty:
    return register_rp(client, alliance, "Nimbus Tea", "nimbus.example")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_userinfo_names_the_person_by_the_id_tokens_sub(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    tokens = signed_in(client, alliance, rp)
    sub = id_claims(runtime, tokens["id_token"], rp.client_id)["sub"]
    got = client.get("/userinfo", headers=bearer(tokens["access_token"]))
    assert got.status_code == 200, got.text
    assert got.json() == {"sub": sub}  # a brand learns its pseudonym and nothing more
    assert got.headers["cache-control"] == "no-store"
    posted = client.post("/userinfo", data={"access_token": tokens["access_token"]})
    assert posted.status_code == 200 and posted.json() == {"sub": sub}


def test_a_platform_also_learns_its_own_user_id(
    client: TestClient, alliance: Alliance, runtime: Runtime
) -> None:
    platform = RelyingParty(
        alliance.platform["client_id"],
        alliance.platform_secret,
        alliance.platform["redirect_uris"][0],
        alliance.platform["name"],
    )
    tokens = signed_in(client, alliance, platform, account="redleaf-77")
    got = client.get("/userinfo", headers=bearer(tokens["access_token"])).json()
    assert got["platform_user_id"] == "redleaf-77"
    assert got["sub"] == id_claims(runtime, tokens["id_token"], platform.client_id)["sub"]


def test_withdrawing_sign_in_consent_ends_the_tokens(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    tokens = signed_in(client, alliance, rp)
    sub = id_claims(runtime, tokens["id_token"], rp.client_id)["sub"]
    withdraw(runtime, person_of(runtime, rp.client_id, sub), rp.client_id, "identity.sso")
    gone = client.get("/userinfo", headers=bearer(tokens["access_token"]))
    assert gone.status_code == 401 and gone.json()["error"] == "invalid_token"
    refreshed = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=rp.auth,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def _forged(runtime: Runtime, **changes: object) -> str:
    signer = Signer(runtime.keys, runtime.settings.issuer, lifetimes(runtime))
    claims = AccessClaims("brd_x", "someone", "openid", runtime.settings.issuer, grant_id="g-1")
    when = changes.pop("now", utcnow())
    token, _ = signer.access_token(claims, "ES256", now=when)  # type: ignore[arg-type]
    return token


@pytest.mark.parametrize(
    ("how", "status", "error"),
    [
        pytest.param("none", 401, "invalid_token", id="no-token"),
        pytest.param("basic", 401, "invalid_token", id="wrong-scheme"),
        pytest.param("garbage", 401, "invalid_token", id="not-a-jwt"),
        pytest.param("expired", 401, "invalid_token", id="expired"),
        pytest.param("unknown-grant", 401, "invalid_token", id="grant-unknown"),
        pytest.param("client-token", 403, "insufficient_scope", id="client-credentials-token"),
        pytest.param("revoked", 401, "invalid_token", id="revoked"),
        pytest.param("query", 400, "invalid_request", id="token-in-query"),
        pytest.param("twice", 400, "invalid_request", id="header-and-form"),
        pytest.param("oversized", 401, "invalid_token", id="oversized"),
    ],
)
def test_bad_tokens_are_refused(
    client: TestClient,
    alliance: Alliance,
    runtime: Runtime,
    rp: RelyingParty,
    how: str,
    status: int,
    error: str,
) -> None:
    tokens = signed_in(client, alliance, rp)
    access = tokens["access_token"]
    headers: dict[str, str] = {}
    data: dict[str, str] | None = None
    url = "/userinfo"
    if how == "basic":
        headers = rp.auth
    elif how == "garbage":
        headers = bearer("not.a.token")
    elif how == "expired":
        headers = bearer(_forged(runtime, now=utcnow() - timedelta(hours=2)))
    elif how == "unknown-grant":
        headers = bearer(_forged(runtime))
    elif how == "client-token":
        own = client.post("/token", data={"grant_type": "client_credentials"}, headers=rp.auth)
        headers = bearer(own.json()["access_token"])
    elif how == "revoked":
        revoked = client.post("/revoke", data={"token": access}, headers=rp.auth)
        assert revoked.status_code == 200
        headers = bearer(access)
    elif how == "query":
        url = f"/userinfo?access_token={access}"
    elif how == "twice":
        headers, data = bearer(access), {"access_token": access}
    elif how == "oversized":
        headers = bearer("a" * 5000)
    response = (
        client.post(url, headers=headers, data=data) if data else client.get(url, headers=headers)
    )
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    if status == 401:
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="accord"')
        assert ("error=" in challenge) == (how != "none")  # RFC 6750 §3.1
