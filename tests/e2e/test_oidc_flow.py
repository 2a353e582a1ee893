"""End to end over real HTTP: an independent OIDC client library (Authlib, with joserfc
for the ID token) signs a person in through a member platform whose login page runs on
the SDK: discovery → PAR → authorize → the platform accepts the challenge → consent →
code → tokens → userinfo → refresh (rotation) → introspect → revoke → logout."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.conftest import LiveAlliance

pytestmark = pytest.mark.slow
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def form_of(page: httpx.Response) -> dict[str, str]:
    assert page.status_code == 200, page.text
    return dict(HIDDEN.findall(page.text))


def test_the_whole_flow_with_authlib(live: LiveAlliance) -> None:
    platform = live.platforms[0]
    rp_url = "https://nimbus.example"
    brand = live.register_brand("Nimbus Tea", rp_url, post_logout_redirect_uris=[f"{rp_url}/bye"])
    redirect_uri = f"{rp_url}/cb"

    # Discovery (and the JWKS it names), as any RP would.
    meta = httpx.get(f"{live.issuer}/.well-known/openid-configuration").json()
    assert meta["issuer"] == live.issuer
    jwks = KeySet.import_key_set(httpx.get(meta["jwks_uri"]).json())
    rp = OAuth2Client(
        brand["client_id"],
        brand["client_secret"],
        scope="openid",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )

    # PAR (RFC 9126) with the client's credentials, then the short authorization URL.
    verifier, state, nonce = generate_token(64), generate_token(16), generate_token(16)
    pushed = rp.post(
        meta["pushed_authorization_request_endpoint"],
        data={
            "response_type": "code",
            "client_id": brand["client_id"],
            "redirect_uri": redirect_uri,
            "scope": "openid",
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        },
        auth=(brand["client_id"], brand["client_secret"]),
    )
    assert pushed.status_code == 201, pushed.text
    params = {"client_id": brand["client_id"], "request_uri": pushed.json()["request_uri"]}
    authorize_url = f"{meta['authorization_endpoint']}?{urlencode(params)}"

    # The browser: chooser → the platform's login page (SDK) → back → consent → code.
    with httpx.Client(follow_redirects=False) as browser:
        chooser = browser.get(authorize_url)
        went = browser.post(
            f"{live.issuer}/signin/choose", data={**form_of(chooser), "platform": platform.id}
        )
        assert went.status_code == 303 and went.headers["location"].startswith(platform.url)
        login_page = browser.get(went.headers["location"])
        assert login_page.status_code == 200
        signed = browser.post(
            f"{platform.url}/login", data={**form_of(login_page), "user": "lumen-42"}
        )
        assert signed.status_code == 303, signed.text  # the SDK accepted the challenge
        consent = browser.get(signed.headers["location"])
        approved = browser.post(
            f"{live.issuer}/consent", data={**form_of(consent), "decision": "approve"}
        )
        assert approved.status_code == 303, approved.text
        callback = approved.headers["location"]
        assert callback.startswith(redirect_uri)
        answer = query(callback)
        assert answer["state"] == state and answer["iss"] == live.issuer  # RFC 9207

        tokens: dict[str, Any] = rp.fetch_token(
            meta["token_endpoint"], code=answer["code"], code_verifier=verifier
        )
        id_token = jwt.decode(tokens["id_token"], jwks, algorithms=["ES256"])
        claims_registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": live.issuer},
            aud={"essential": True, "value": brand["client_id"]},
            nonce={"essential": True, "value": nonce},
            sub={"essential": True},
        )
        claims_registry.validate(id_token.claims)
        sub = id_token.claims["sub"]

        userinfo = rp.get(meta["userinfo_endpoint"])
        assert userinfo.status_code == 200 and userinfo.json() == {"sub": sub}

        first_refresh = tokens["refresh_token"]
        rotated: dict[str, Any] = rp.refresh_token(meta["token_endpoint"])
        assert rotated["refresh_token"] != first_refresh  # rotation
        reused = httpx.post(
            meta["token_endpoint"],
            data={"grant_type": "refresh_token", "refresh_token": first_refresh},
            auth=(brand["client_id"], brand["client_secret"]),
        )
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        # Reuse revoked the family: sign in again for the rest of the flow.
        again = _code(rp, meta, browser, live, redirect_uri)
        tokens = rp.fetch_token(meta["token_endpoint"], code=again[0], code_verifier=again[1])

        seen = rp.introspect_token(meta["introspection_endpoint"], token=tokens["access_token"])
        assert seen.json()["active"] is True and seen.json()["sub"] == sub
        revoked = rp.revoke_token(meta["revocation_endpoint"], token=tokens["refresh_token"])
        assert revoked.status_code == 200
        gone = rp.introspect_token(meta["introspection_endpoint"], token=tokens["access_token"])
        assert gone.json() == {"active": False}

        logout = browser.get(
            meta["end_session_endpoint"],
            params={
                "id_token_hint": tokens["id_token"],
                "post_logout_redirect_uri": f"{rp_url}/bye",
                "state": "bye-1",
            },
        )
        assert (
            logout.status_code == 303 and logout.headers["location"] == f"{rp_url}/bye?state=bye-1"
        )
        fresh = _fresh(brand, redirect_uri)
        chooser_again = browser.get(meta["authorization_endpoint"], params=fresh)
        assert chooser_again.status_code == 200 and "/signin/choose" in chooser_again.text


def _fresh(brand: dict[str, Any], redirect_uri: str) -> dict[str, str]:
    verifier = generate_token(64)
    return {
        "response_type": "code",
        "client_id": brand["client_id"],
        "redirect_uri": redirect_uri,
        "scope": "openid",
        "state": generate_token(8),
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }


def _code(
    rp: OAuth2Client, meta: dict[str, Any], browser: httpx.Client, live: LiveAlliance, uri: str
) -> tuple[str, str]:
    """A new code from the live session (consent is in force: straight back)."""
    url, state = rp.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=(verifier := generate_token(64))
    )
    back = browser.get(url)
    assert back.status_code == 303 and back.headers["location"].startswith(uri), back.text
    answer = query(back.headers["location"])
    assert answer["state"] == state and answer["iss"] == live.issuer
    return answer["code"], verifier
