"""RP-initiated logout: the session ends, its grants are revoked, every member that
held one hears a CAEP session-revoked SET, and the browser goes back only to a
registered URI. A request that could be forged is confirmed by the person first."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.events import types
from gateway.events.models import SecurityEvent
from gateway.runtime import Runtime
from tests.gateway.alliance import Alliance
from tests.gateway.oauth.flow import (
    Attempt,
    RelyingParty,
    approve,
    exchange,
    hidden,
    query,
    register_rp,
    signed_in,
)
from tests.gateway.oauth.test_code_flow import id_claims

BACK = "https://nimbus.example/signed-out"


@pytest.fixture
def rp(client: TestClient, alliance: Alliance) -> RelyingParty:
    return register_rp(
        client, alliance, "Nimbus Tea", "nimbus.example", post_logout_redirect_uris=[BACK]
    )


def signed_in_still(client: TestClient, rp: RelyingParty) -> bool:
    """Whether the browser's session lives: /authorize skips the chooser."""
    attempt = Attempt(rp)
    response = client.get("/authorize", params=attempt.params(), follow_redirects=False)
    return bool(response.status_code == 303)


def refresh_works(client: TestClient, rp: RelyingParty, tokens: dict[str, Any]) -> bool:
    response = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=rp.auth,
    )
    return bool(response.status_code == 200)


def session_revoked_sets(runtime: Runtime) -> list[SecurityEvent]:
    with Session(runtime.engine) as session:
        rows = session.exec(
            select(SecurityEvent).where(SecurityEvent.event_type == types.SESSION_REVOKED)
        )
        return list(rows)


def test_logout_with_a_hint_ends_the_session_and_goes_back(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    tokens = signed_in(client, alliance, rp)
    claims = id_claims(runtime, tokens["id_token"], rp.client_id)
    assert signed_in_still(client, rp)
    response = client.get(
        "/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": BACK,
            "state": "s-9",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{BACK}?state=s-9"
    assert 'accord_session=""' in response.headers["set-cookie"]  # the cookie is cleared
    client.cookies.delete("accord_session")
    assert not signed_in_still(client, rp)
    assert not refresh_works(client, rp, tokens)  # the grant went with the session
    introspected = client.post(
        "/introspect", data={"token": tokens["access_token"]}, headers=rp.auth
    )
    assert introspected.json() == {"active": False}

    (event,) = session_revoked_sets(runtime)
    member_id = client.get(f"/v1/admin/brands/{rp.client_id}", headers=alliance.operator)
    assert event.recipient_id == member_id.json()["id"]
    subject = event.claims["sub_id"]
    assert subject["format"] == "complex"
    assert subject["user"] == {"format": "iss_sub", "iss": alliance.issuer, "sub": claims["sub"]}
    assert subject["session"] == {"format": "opaque", "id": claims["sid"]}
    assert event.claims["events"][types.SESSION_REVOKED]["initiating_entity"] == "user"


def test_every_member_signed_in_through_the_session_is_told(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    other = register_rp(client, alliance, "Zephyr Shoes", "zephyr.example")
    tokens = signed_in(client, alliance, rp)
    attempt = Attempt(other)  # the same browser, in the same session: consent, then code
    page = client.get("/authorize", params=attempt.params())
    assert page.status_code == 200 and "Zephyr Shoes" in page.text
    other_tokens = exchange(
        client, attempt, query(approve(client, page.text).headers["location"])["code"]
    ).json()
    assert (
        id_claims(runtime, tokens["id_token"], rp.client_id)["sid"]
        != id_claims(runtime, other_tokens["id_token"], other.client_id)["sid"]
    )  # sid does not let two members correlate the session
    response = client.get("/logout", params={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200 and "signed out" in response.text.lower()
    assert not refresh_works(client, other, other_tokens)
    assert len(session_revoked_sets(runtime)) == 2


def test_logout_without_a_hint_is_confirmed_first(
    client: TestClient, alliance: Alliance, rp: RelyingParty
) -> None:
    tokens = signed_in(client, alliance, rp)
    page = client.get(
        "/logout", params={"client_id": rp.client_id, "post_logout_redirect_uri": BACK}
    )
    assert page.status_code == 200 and 'name="confirm"' in page.text
    assert signed_in_still(client, rp)  # asking ended nothing
    fields = hidden(page.text)
    forged = client.post("/logout", data={**fields, "csrf": "forged", "confirm": "yes"})
    assert forged.status_code == 403 and signed_in_still(client, rp)
    done = client.post("/logout", data={**fields, "confirm": "yes"}, follow_redirects=False)
    assert done.status_code == 200, done.text  # no hint: never redirected (§3)
    client.cookies.delete("accord_session")
    assert not signed_in_still(client, rp) and not refresh_works(client, rp, tokens)


def test_a_hint_ends_its_session_from_another_browser(
    client: TestClient, app: Any, alliance: Alliance, rp: RelyingParty
) -> None:
    tokens = signed_in(client, alliance, rp)
    with TestClient(app, base_url=alliance.issuer) as elsewhere:  # no cookies
        response = elsewhere.get("/logout", params={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200
    assert not signed_in_still(client, rp)


def _none_alg(token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("access-token", id="hint-is-an-access-token"),
        pytest.param("alg-none", id="hint-alg-none"),
        pytest.param("garbage", id="hint-garbage"),
        pytest.param("other-client", id="client-id-not-the-audience"),
        pytest.param("repeated", id="repeated-parameter"),
    ],
)
def test_a_bad_logout_request_ends_nothing(
    client: TestClient, alliance: Alliance, rp: RelyingParty, how: str
) -> None:
    tokens = signed_in(client, alliance, rp)
    params: Any = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": BACK}
    if how == "access-token":
        params["id_token_hint"] = tokens["access_token"]
    elif how == "alg-none":
        params["id_token_hint"] = _none_alg(tokens["id_token"])
    elif how == "garbage":
        params["id_token_hint"] = "x" * 300
    elif how == "other-client":
        params["client_id"] = alliance.brand_a["client_id"]
    elif how == "repeated":
        params = [*params.items(), ("state", "a"), ("state", "b")]
    response = client.get("/logout", params=params, follow_redirects=False)
    assert response.status_code == 400, response.text  # an error page, never a redirect
    assert "location" not in response.headers
    assert signed_in_still(client, rp) and refresh_works(client, rp, tokens)


def test_an_unregistered_return_uri_is_not_followed(
    client: TestClient, alliance: Alliance, rp: RelyingParty
) -> None:
    tokens = signed_in(client, alliance, rp)
    for uri in (BACK + "/", BACK.upper(), BACK + "?x=1", "https://evil.example/"):
        response = client.get(
            "/logout",
            params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": uri},
            follow_redirects=False,
        )
        assert response.status_code == 200 and "location" not in response.headers


def test_discovery_advertises_logout_and_userinfo(client: TestClient, alliance: Alliance) -> None:
    meta = client.get("/.well-known/openid-configuration").json()
    assert meta["end_session_endpoint"] == f"{alliance.issuer}/logout"
    assert meta["userinfo_endpoint"] == f"{alliance.issuer}/userinfo"
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in meta["grant_types_supported"]
