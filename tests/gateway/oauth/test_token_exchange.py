"""Token exchange (RFC 8693): a member swaps a person's access token for one naming
the person by another member's pairwise ``sub``, only while the person's sign-in
consent to that member is in force."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.runtime import Runtime
from tests.gateway.alliance import Alliance
from tests.gateway.oauth.flow import RelyingParty, register_rp, signed_in
from tests.gateway.oauth.grants_of import person_of, withdraw
from tests.gateway.oauth.test_code_flow import id_claims

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture
def rp(client: TestClient, alliance: Alliance) -> RelyingParty:
    return register_rp(client, alliance, "Nimbus Tea", "nimbus.example")


@pytest.fixture
def target(client: TestClient, alliance: Alliance) -> RelyingParty:
    return register_rp(client, alliance, "Zephyr Shoes", "zephyr.example")


def swap(client: TestClient, rp: RelyingParty, token: str, audience: str, **extra: str) -> Any:
    form = {
        "grant_type": EXCHANGE,
        "subject_token": token,
        "subject_token_type": ACCESS,
        "audience": audience,
        **extra,
    }
    return client.post("/token", data=form, headers=rp.auth)


def test_an_exchanged_token_carries_the_targets_sub(
    client: TestClient,
    alliance: Alliance,
    runtime: Runtime,
    rp: RelyingParty,
    target: RelyingParty,
) -> None:
    theirs = signed_in(client, alliance, target)  # the person consented to the target
    target_sub = id_claims(runtime, theirs["id_token"], target.client_id)["sub"]
    ours = signed_in(client, alliance, rp)
    response = swap(client, rp, ours["access_token"], target.client_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == ACCESS and body["token_type"] == "Bearer"
    assert "refresh_token" not in body and body["scope"] == "openid"
    assert 0 < body["expires_in"] <= runtime.settings.access_token_ttl

    seen = client.post("/introspect", data={"token": body["access_token"]}, headers=target.auth)
    claims = seen.json()
    assert claims["active"] is True and claims["sub"] == target_sub
    assert claims["aud"] == target.client_id and claims["act"] == {"sub": rp.client_id}
    assert claims["client_id"] == rp.client_id
    # A token for the target is no token for the gateway's userinfo.
    userinfo = client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert userinfo.status_code == 401

    # Revoking the family (the subject token's refresh token) ends the exchanged token.
    client.post("/revoke", data={"token": ours["refresh_token"]}, headers=rp.auth)
    after = client.post("/introspect", data={"token": body["access_token"]}, headers=target.auth)
    assert after.json() == {"active": False}


def test_no_sign_in_consent_to_the_target_no_token(
    client: TestClient,
    alliance: Alliance,
    runtime: Runtime,
    rp: RelyingParty,
    target: RelyingParty,
) -> None:
    ours = signed_in(client, alliance, rp)
    never = swap(client, rp, ours["access_token"], target.client_id)
    assert never.status_code == 400 and never.json()["error"] == "invalid_grant"
    assert "identity.sso" in never.json()["error_description"]

    theirs = signed_in(client, alliance, target)
    assert swap(client, rp, ours["access_token"], target.client_id).status_code == 200
    sub = id_claims(runtime, theirs["id_token"], target.client_id)["sub"]
    withdraw(runtime, person_of(runtime, target.client_id, sub), target.client_id, "identity.sso")
    withdrawn = swap(client, rp, ours["access_token"], target.client_id)
    assert withdrawn.status_code == 400 and withdrawn.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        pytest.param({"subject_token_type": "urn:x"}, 400, "invalid_request", id="wrong-type"),
        pytest.param(
            {"requested_token_type": "urn:ietf:params:oauth:token-type:id_token"},
            400,
            "invalid_request",
            id="asks-an-id-token",
        ),
        pytest.param({"audience": ""}, 400, "invalid_request", id="no-audience"),
        pytest.param({"audience": "brd_nobody"}, 400, "invalid_target", id="unknown-audience"),
        pytest.param({"audience": "self"}, 400, "invalid_target", id="own-audience"),
        pytest.param({"resource": "https://x.example"}, 400, "invalid_target", id="resource"),
        pytest.param(
            {"actor_token": "x", "actor_token_type": ACCESS},
            400,
            "invalid_request",
            id="actor-token",
        ),
        pytest.param(
            {"scope": "openid marketing.brand_view"}, 400, "invalid_scope", id="scope-beyond-openid"
        ),
        pytest.param({"subject_token": "refresh"}, 400, "invalid_grant", id="refresh-as-subject"),
        pytest.param({"subject_token": "a.b.c"}, 400, "invalid_grant", id="forged-subject"),
        pytest.param({"subject_token": "other"}, 400, "invalid_grant", id="another-clients"),
        pytest.param({"subject_token": "client"}, 400, "invalid_grant", id="client-own-token"),
        pytest.param({"auth": "none"}, 401, "invalid_client", id="no-client-auth"),
    ],
)
def test_a_bad_exchange_is_refused(
    client: TestClient,
    alliance: Alliance,
    rp: RelyingParty,
    target: RelyingParty,
    change: dict[str, str],
    status: int,
    error: str,
) -> None:
    theirs = signed_in(client, alliance, target)
    ours = signed_in(client, alliance, rp)
    form = {
        "grant_type": EXCHANGE,
        "subject_token": ours["access_token"],
        "subject_token_type": ACCESS,
        "audience": target.client_id,
    }
    headers = rp.auth
    for key, value in change.items():
        if key == "auth":
            headers = {}
            form["client_id"] = rp.client_id
        elif value == "self":
            form[key] = rp.client_id
        elif value == "refresh":
            form[key] = ours["refresh_token"]
        elif value == "other":  # the person's token, but issued to the target
            form[key] = theirs["access_token"]
        elif value == "client":
            own = client.post("/token", data={"grant_type": "client_credentials"}, headers=rp.auth)
            form[key] = own.json()["access_token"]
        else:
            form[key] = value
    response = client.post("/token", data=form, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
