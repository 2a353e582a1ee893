"""Every way an authorization request can be wrong, each answered with the right OAuth
error (on an error page when the client or its redirect URI is not to be trusted, by
redirect with ``iss`` otherwise), and never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.gateway.alliance import Alliance
from tests.gateway.members.cases import brand_spec
from tests.gateway.oauth.flow import (
    Attempt,
    RelyingParty,
    accept,
    approve,
    exchange,
    hidden,
    query,
    register_rp,
    sign_in,
)


@pytest.fixture
def rp(client: TestClient, alliance: Alliance) -> RelyingParty:
    return register_rp(client, alliance, "Nimbus Tea", "nimbus.example")


def authorize(client: TestClient, params: dict[str, str]) -> Any:
    return client.get("/authorize", params=params, follow_redirects=False)


REDIRECTED = [
    pytest.param(
        {"code_challenge": None, "code_challenge_method": None},
        "invalid_request",
        id="pkce-missing",
    ),
    pytest.param({"code_challenge_method": "plain"}, "invalid_request", id="pkce-plain"),
    pytest.param(
        {"code_challenge_method": None}, "invalid_request", id="pkce-method-absent-means-plain"
    ),
    pytest.param({"code_challenge": "short"}, "invalid_request", id="pkce-malformed"),
    pytest.param({"response_type": "token"}, "unsupported_response_type", id="implicit"),
    pytest.param({"scope": "openid personalize.content"}, "invalid_scope", id="undeclared-purpose"),
    pytest.param(
        {"scope": "openid marketing.brand_view:user.location.precise"},
        "invalid_scope",
        id="beyond-necessity",
    ),
    pytest.param({"scope": "openid member_api"}, "invalid_scope", id="member-api-in-code-flow"),
    pytest.param({"prompt": "none"}, "login_required", id="prompt-none-without-session"),
]


@pytest.mark.parametrize(("change", "error"), REDIRECTED)
def test_errors_after_the_redirect_uri_is_trusted_go_back_to_the_client(
    client: TestClient, alliance: Alliance, rp: RelyingParty, change: dict[str, Any], error: str
) -> None:
    attempt = Attempt(rp)
    params = {k: v for k, v in {**attempt.params(), **change}.items() if v is not None}
    response = authorize(client, params)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(rp.redirect_uri + "?")
    answer = query(location)
    assert answer["error"] == error and answer["iss"] == alliance.issuer
    assert answer["state"] == attempt.state


PAGES = [
    pytest.param(
        {"redirect_uri": "https://nimbus.example/cb/"},
        "invalid_request",
        id="redirect-trailing-slash",
    ),
    pytest.param(
        {"redirect_uri": "https://NIMBUS.example/cb"}, "invalid_request", id="redirect-case"
    ),
    pytest.param(
        {"redirect_uri": "https://nimbus.example/cb?x=1"},
        "invalid_request",
        id="redirect-extra-query",
    ),
    pytest.param({"redirect_uri": None}, "invalid_request", id="redirect-missing"),
    pytest.param({"client_id": "brd_unknown"}, "invalid_client", id="unknown-client"),
    pytest.param({"state": "s" * 5000}, "invalid_request", id="oversized-parameter"),
    pytest.param(
        {"request_uri": "urn:ietf:params:oauth:request_uri:nope"},
        "invalid_request_uri",
        id="unknown-request-uri",
    ),
]


@pytest.mark.parametrize(("change", "error"), PAGES)
def test_errors_before_the_redirect_uri_is_trusted_stay_on_an_error_page(
    client: TestClient, alliance: Alliance, rp: RelyingParty, change: dict[str, Any], error: str
) -> None:
    params = {k: v for k, v in {**Attempt(rp).params(), **change}.items() if v is not None}
    response = authorize(client, params)
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert error in response.text and response.headers["content-type"].startswith("text/html")


def test_a_disabled_client_cannot_start_a_sign_in(
    client: TestClient, alliance: Alliance, rp: RelyingParty
) -> None:
    disabled = client.post(f"/v1/admin/brands/{rp.client_id}/disable", headers=alliance.operator)
    assert disabled.status_code == 200
    response = authorize(client, Attempt(rp).params())
    assert response.status_code == 400 and "invalid_client" in response.text


def test_a_wrong_code_verifier_is_refused(
    client: TestClient, alliance: Alliance, rp: RelyingParty
) -> None:
    attempt = Attempt(rp)
    response = approve(client, sign_in(client, alliance, attempt).text)
    code = query(response.headers["location"])["code"]
    attempt.verifier = "x" * 50
    refused = exchange(client, attempt, code)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_a_token_request_with_another_redirect_uri_is_refused(
    client: TestClient, alliance: Alliance, rp: RelyingParty
) -> None:
    attempt = Attempt(rp)
    code = query(approve(client, sign_in(client, alliance, attempt).text).headers["location"])[
        "code"
    ]
    attempt.rp = RelyingParty(rp.client_id, rp.secret, rp.redirect_uri + "/", rp.name)
    refused = exchange(client, attempt, code)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_the_return_from_another_browser_is_refused(
    client: TestClient, alliance: Alliance, rp: RelyingParty
) -> None:
    attempt = Attempt(rp)
    chooser = authorize(client, attempt.params())
    chose = client.post(
        "/signin/choose",
        data={**hidden(chooser.text), "platform": alliance.platform["id"]},
        follow_redirects=False,
    )
    challenge = query(chose.headers["location"])["login_challenge"]
    anonymous = client.post(
        "/v1/challenges/login/accept", json={"challenge": challenge, "account_id": "u-9"}
    )
    assert anonymous.status_code == 401  # only the chosen platform may answer
    back = accept(client, alliance, challenge, "u-9")
    client.cookies.clear()  # another browser
    stolen = client.get(back.removeprefix(alliance.issuer), follow_redirects=False)
    assert stolen.status_code == 403 and "access_denied" in stolen.text


def test_a_form_without_its_csrf_token_is_refused(
    client: TestClient, alliance: Alliance, rp: RelyingParty
) -> None:
    chooser = authorize(client, Attempt(rp).params())
    fields = {**hidden(chooser.text), "csrf": "forged", "platform": alliance.platform["id"]}
    refused = client.post("/signin/choose", data=fields, follow_redirects=False)
    assert refused.status_code == 403


def test_a_pushed_request_is_used_once(
    client: TestClient, alliance: Alliance, rp: RelyingParty
) -> None:
    attempt = Attempt(rp)
    pushed = client.post("/par", data=attempt.params(), headers=rp.auth)
    assert pushed.status_code == 201, pushed.text
    body = pushed.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert body["expires_in"] == 60
    by_reference = {"client_id": rp.client_id, "request_uri": body["request_uri"]}
    assert authorize(client, by_reference).status_code == 200  # the chooser
    again = authorize(client, by_reference)
    assert again.status_code == 400 and "invalid_request_uri" in again.text
    bad = client.post(
        "/par", data={**attempt.params(), "code_challenge_method": "plain"}, headers=rp.auth
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"


def test_a_consent_page_submitted_twice_yields_one_code(
    client: TestClient, alliance: Alliance, rp: RelyingParty
) -> None:
    page = sign_in(client, alliance, Attempt(rp))
    first = approve(client, page.text)
    assert first.status_code == 303 and "code" in query(first.headers["location"])
    second = approve(client, page.text)
    assert second.status_code in (404, 409) and "location" not in second.headers


def test_a_client_registered_for_par_is_refused_a_plain_request(
    client: TestClient, alliance: Alliance
) -> None:
    spec = brand_spec(
        name="Pushy Brand",
        redirect_uris=["https://pushy.example/cb"],
        purposes=["identity.sso"],
        require_pushed_authorization_requests=True,
    )
    body = client.post("/v1/admin/brands", json=spec, headers=alliance.operator).json()
    assert body["require_pushed_authorization_requests"] is True
    party = RelyingParty(body["client_id"], body["client_secret"], "https://pushy.example/cb", "")
    attempt = Attempt(party)
    plain = authorize(client, attempt.params())
    assert plain.status_code == 400 and "PAR" in plain.text
    pushed = client.post("/par", data=attempt.params(), headers=party.auth).json()
    by_reference = {"client_id": party.client_id, "request_uri": pushed["request_uri"]}
    assert authorize(client, by_reference).status_code == 200  # the chooser


@pytest.mark.parametrize("value", ["é", "token\x0e", 'co"de', "\x7f", "code\\"])
def test_a_response_type_of_any_characters_is_refused_cleanly(
    client: TestClient, rp: RelyingParty, value: str
) -> None:
    """Authlib words unsupported_response_type with the value, and then refuses its
    own words when they hold a character RFC 6749 §4.1.2.1 excludes: the answer was
    a 500."""
    attempt = Attempt(rp, extra={"response_type": value})
    pushed = client.post("/par", data=attempt.params(), headers=rp.auth)
    assert pushed.status_code == 400, pushed.text
    assert pushed.json()["error"] == "unsupported_response_type"
    redirected = authorize(client, attempt.params())
    assert redirected.status_code == 303, redirected.text
    back = query(redirected.headers["location"])
    assert back["error"] == "unsupported_response_type"
    assert back["state"] == attempt.state
    described = back["error_description"]
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in described), described
