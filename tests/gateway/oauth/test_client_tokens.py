"""client_credentials, introspection and revocation: every client authentication
method, and every way a client or a token can be wrong."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm

from gateway.runtime import Runtime
from tests.gateway.alliance import Alliance
from tests.gateway.members.cases import brand_spec

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def platform_auth(alliance: Alliance) -> dict[str, str]:
    return basic(alliance.platform["client_id"], alliance.platform_secret)


def client_assertion(alliance: Alliance, audience: str, **changes: Any) -> dict[str, str]:
    now = int(time.time())
    client_id = alliance.keyed_platform["client_id"]
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": f"jti-{time.monotonic_ns()}",
        "iat": now,
        "exp": now + 60,
    }
    claims.update(changes)
    signer: Any = ECAlgorithm.from_jwk(json.dumps(alliance.keyed_platform_key))
    token = jwt.encode(claims, signer, algorithm="ES256", headers={"kid": "pk1"})
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": token}


def issue(client: TestClient, alliance: Alliance, **form: str) -> dict[str, Any]:
    response = client.post(
        "/token", data={"grant_type": "client_credentials", **form}, headers=platform_auth(alliance)
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def introspect(client: TestClient, alliance: Alliance, token: str) -> dict[str, Any]:
    response = client.post("/introspect", data={"token": token}, headers=platform_auth(alliance))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_client_credentials_token_is_an_rfc9068_jwt(
    alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    body = issue(client, alliance, scope="member_api")
    assert body["token_type"] == "Bearer" and body["scope"] == "member_api"
    assert "refresh_token" not in body and body["expires_in"] == 900
    token = body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    key = runtime.keys.verification_key(header["kid"])
    claims = jwt.decode(token, key, algorithms=["ES256"], audience=alliance.issuer)
    client_id = alliance.platform["client_id"]
    assert claims["client_id"] == client_id and claims["sub"] == client_id
    assert claims["iss"] == alliance.issuer and claims["exp"] - claims["iat"] == 900
    assert claims["jti"] and "gid" not in claims


def test_every_confidential_method_authenticates(alliance: Alliance, client: TestClient) -> None:
    issue(client, alliance)  # client_secret_basic
    keyed = client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            **client_assertion(alliance, alliance.issuer + "/token"),
        },
    )
    assert keyed.status_code == 200, keyed.text
    by_issuer = client.post(
        "/token",
        data={"grant_type": "client_credentials", **client_assertion(alliance, alliance.issuer)},
    )
    assert by_issuer.status_code == 200, by_issuer.text


def test_client_secret_post_works_only_for_a_client_registered_with_it(
    alliance: Alliance, client: TestClient, operator: dict[str, str]
) -> None:
    registered = client.post(
        "/v1/admin/brands",
        json=brand_spec(
            name="Poster Brand",
            redirect_uris=["https://poster.example/cb"],
            auth_method="client_secret_post",
        ),
        headers=operator,
    ).json()
    form = {
        "grant_type": "client_credentials",
        "client_id": registered["client_id"],
        "client_secret": registered["client_secret"],
    }
    assert client.post("/token", data=form).status_code == 200
    # The basic-registered platform may not switch to post.
    other = {
        **form,
        "client_id": alliance.platform["client_id"],
        "client_secret": alliance.platform_secret,
    }
    refused = client.post("/token", data=other)
    assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_client"


def test_introspection_answers_for_the_clients_own_token_only(
    alliance: Alliance, client: TestClient
) -> None:
    token = issue(client, alliance)["access_token"]
    info = introspect(client, alliance, token)
    assert info["active"] is True and info["client_id"] == alliance.platform["client_id"]
    assert info["token_type"] == "Bearer" and info["iss"] == alliance.issuer
    brand = basic(alliance.brand_a["client_id"], alliance.brand_a_secret)
    foreign = client.post("/introspect", data={"token": token}, headers=brand)
    assert foreign.status_code == 200 and foreign.json() == {"active": False}


def test_a_revoked_access_token_introspects_inactive(
    alliance: Alliance, client: TestClient
) -> None:
    token = issue(client, alliance)["access_token"]
    revoked = client.post("/revoke", data={"token": token}, headers=platform_auth(alliance))
    assert revoked.status_code == 200
    assert introspect(client, alliance, token) == {"active": False}
    # Revoking an unknown token is no error (RFC 7009 §2.2).
    unknown = client.post("/revoke", data={"token": "nope"}, headers=platform_auth(alliance))
    assert unknown.status_code == 200


@pytest.mark.parametrize("hint", ["refresh_token", "access_token", "id_token", "é", ""])
def test_a_token_type_hint_of_any_value_is_only_a_hint(
    alliance: Alliance, client: TestClient, hint: str
) -> None:
    """RFC 7662 §2.1 and RFC 7009 §2.1: a hint the server does not know, or one that is
    wrong, does not stop it looking the token up everywhere. (Authlib answered an
    unknown hint with 401, without WWW-Authenticate.)"""
    token = issue(client, alliance)["access_token"]
    auth = platform_auth(alliance)
    looked = client.post(
        "/introspect", data={"token": token, "token_type_hint": hint}, headers=auth
    )
    assert looked.status_code == 200, looked.text
    assert looked.json()["active"] is True
    revoked = client.post("/revoke", data={"token": token, "token_type_hint": hint}, headers=auth)
    assert revoked.status_code == 200, revoked.text
    assert introspect(client, alliance, token) == {"active": False}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(alliance: Alliance, runtime: Runtime, kind: str) -> str:
    client_id = alliance.platform["client_id"]
    now = int(time.time())
    claims = {
        "iss": alliance.issuer,
        "sub": client_id,
        "client_id": client_id,
        "aud": alliance.issuer,
        "iat": now,
        "exp": now + 600,
        "jti": "forged",
        "scope": "",
    }
    if kind == "none":
        unsigned = b'{"alg":"none","typ":"at+jwt"}'
        return f"{b64(unsigned)}.{b64(json.dumps(claims).encode())}."
    if kind == "hs256-public-key":
        # The classic confusion: HMAC keyed with the published public key (PEM).
        key = runtime.keys.active()
        pem = jwt.PyJWK(key.public_jwk).key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(mac)}"
    key = runtime.keys.active()
    expired = {**claims, "iat": now - 7200, "exp": now - 3600}
    return jwt.encode(
        expired, key.signer(), algorithm="ES256", headers={"kid": key.kid, "typ": "at+jwt"}
    )


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("none", id="alg-none"),
        pytest.param("hs256-public-key", id="hs256-signed-with-the-public-key"),
        pytest.param("expired", id="expired"),
    ],
)
def test_forged_or_expired_tokens_introspect_inactive(
    alliance: Alliance, client: TestClient, runtime: Runtime, kind: str
) -> None:
    assert introspect(client, alliance, forged(alliance, runtime, kind)) == {"active": False}


def disable(client: TestClient, alliance: Alliance) -> None:
    ref = alliance.platform["client_id"]
    response = client.post(f"/v1/admin/platforms/{ref}/disable", headers=alliance.operator)
    assert response.status_code == 200


BAD_CLIENTS = [
    pytest.param({"Authorization": "Basic " + "x" * 10}, {}, id="garbled-basic"),
    pytest.param(basic("plt_unknown", "secret"), {}, id="unknown-client"),
    pytest.param(None, {"secret": "wrong"}, id="wrong-secret"),
    pytest.param(None, {"disabled": True}, id="disabled-client"),
    pytest.param({}, {}, id="no-credential"),
]


@pytest.mark.parametrize(("headers", "case"), BAD_CLIENTS)
def test_a_bad_client_gets_invalid_client(
    alliance: Alliance,
    client: TestClient,
    headers: dict[str, str] | None,
    case: dict[str, Any],
) -> None:
    if case.get("disabled"):
        disable(client, alliance)
    if headers is None:
        secret = case.get("secret", alliance.platform_secret)
        headers = basic(alliance.platform["client_id"], secret)
    response = client.post("/token", data={"grant_type": "client_credentials"}, headers=headers)
    assert response.status_code in (400, 401), response.text
    body = response.json()
    assert body["error"] == "invalid_client" and body["status"] == response.status_code
    assert response.headers["content-type"] == "application/problem+json"


ASSERTION_CASES = [
    pytest.param({"exp": int(time.time()) - 600, "iat": int(time.time()) - 660}, id="expired"),
    pytest.param({"iat": int(time.time()) + 3600, "exp": int(time.time()) + 3660}, id="future"),
    pytest.param({"exp": int(time.time()) + 3600}, id="lifetime-too-long"),
    pytest.param({"aud": "https://elsewhere.example/token"}, id="wrong-audience"),
    pytest.param({"sub": "someone-else"}, id="sub-not-client"),
]


@pytest.mark.parametrize("changes", ASSERTION_CASES)
def test_a_bad_client_assertion_is_refused(
    alliance: Alliance, client: TestClient, changes: dict[str, Any]
) -> None:
    form = {"grant_type": "client_credentials", **client_assertion(alliance, alliance.issuer)}
    if changes:
        form.update(client_assertion(alliance, alliance.issuer, **changes))
    response = client.post("/token", data=form)
    assert response.status_code in (400, 401) and response.json()["error"] == "invalid_client"


def test_a_replayed_jti_is_refused(alliance: Alliance, client: TestClient) -> None:
    form = {"grant_type": "client_credentials", **client_assertion(alliance, alliance.issuer)}
    assert client.post("/token", data=form).status_code == 200
    again = client.post("/token", data=form)
    assert again.status_code in (400, 401) and again.json()["error"] == "invalid_client"


MALFORMED = [
    pytest.param("grant_type=client_credentials&grant_type=client_credentials", id="repeated"),
    pytest.param("grant_type=client_credentials&scope=" + "a" * 5000, id="oversized-value"),
    pytest.param("&".join(f"p{i}=1" for i in range(60)), id="too-many-parameters"),
    pytest.param("grant_type=password&username=a&password=b", id="password-grant"),
    pytest.param("grant_type=client_credentials&scope=openid", id="user-scope"),
    pytest.param("", id="empty"),
    pytest.param("grant_type=%C3%A9%0E%22", id="grant-type-outside-the-error-charset"),
]


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_token_requests_get_a_clear_4xx(
    alliance: Alliance, client: TestClient, body: str
) -> None:
    headers = {**platform_auth(alliance), "Content-Type": "application/x-www-form-urlencoded"}
    response = client.post("/token", content=body, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"] in {
        "invalid_request",
        "unsupported_grant_type",
        "invalid_scope",
    }
    # RFC 6749 §5.2: a description is printable ASCII without '"' or '\\'.
    described = response.json()["error_description"]
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in described), described


def test_json_bodies_are_refused(alliance: Alliance, client: TestClient) -> None:
    response = client.post(
        "/token", json={"grant_type": "client_credentials"}, headers=platform_auth(alliance)
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_discovery_names_what_is_served(client: TestClient, alliance: Alliance) -> None:
    document = client.get("/.well-known/openid-configuration").json()
    assert document["issuer"] == alliance.issuer
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert client.get("/.well-known/oauth-authorization-server").json() == document
    for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        path = document[name].removeprefix(alliance.issuer)
        assert client.post(path, data={}).status_code != 404
