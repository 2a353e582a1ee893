"""The SDK as an OpenID Connect relying party, against the real gateway.

The SDK runs over ``httpx.ASGITransport`` (async) or the TestClient's transport (sync),
each wrapped to record the paths it asks; the browser's part (chooser, the platform's
login, consent) is played with the TestClient as ``tests/gateway/oauth/flow.py`` does.
Request shapes of what a gateway may answer badly are checked with a MockTransport.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.runtime import Runtime
from gateway.settings import Settings
from sdk import (
    AsyncBrandClient,
    AuthorizationRefusedError,
    AuthorizationRequest,
    AuthorizationResponseError,
    BadRequestError,
    BrandClient,
    ClientSecretBasic,
    ExchangedToken,
    IDTokenError,
    KeyCache,
    PlatformClient,
    ResponseError,
    SignIn,
)
from sdk.authorization import code_challenge
from sdk.id_token import half_hash
from sdk.jwks import UnsuitableKey, verification_key
from tests.gateway.members.cases import brand_spec, ec_jwk, platform_spec
from tests.gateway.oauth.flow import approve, hidden, query

pytestmark = pytest.mark.anyio

CALLBACK = "https://nimbus.example/cb"
SIGNED_OUT = "https://nimbus.example/signed-out"
DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/.well-known/jwks.json"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class Recorded(httpx.AsyncBaseTransport):
    """An async transport that notes the path of every request it passes on."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await self.inner.handle_async_request(request)


class RecordedSync(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return self.inner.handle_request(request)


@dataclass
class Gateway:
    app: FastAPI
    browser: TestClient
    runtime: Runtime
    issuer: str
    operator: dict[str, str]
    platform: dict[str, Any]
    rp: dict[str, Any]
    transports: list[Recorded] = field(default_factory=list)

    def register(self, name: str, redirect_uri: str, **metadata: Any) -> dict[str, Any]:
        spec = brand_spec(
            name=name, redirect_uris=[redirect_uri], purposes=["identity.sso"], **metadata
        )
        response = self.browser.post("/v1/admin/brands", json=spec, headers=self.operator)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def client(self, member: dict[str, Any] | None = None) -> AsyncBrandClient:
        member = member or self.rp
        transport = Recorded(httpx.ASGITransport(app=self.app))
        self.transports.append(transport)
        auth = ClientSecretBasic(member["client_id"], member["client_secret"])
        return AsyncBrandClient(self.issuer, auth=auth, transport=transport)

    def walk(self, url: str, account: str = "u-1") -> str:
        """The browser from an authorization URL back to the relying party: the chooser
        and the platform's login without a session, the consent page when asked."""
        page = self.browser.get(url.removeprefix(self.issuer), follow_redirects=False)
        if page.status_code == 200 and 'action="/signin/choose"' in page.text:
            chosen = {**hidden(page.text), "platform": self.platform["id"]}
            chose = self.browser.post("/signin/choose", data=chosen, follow_redirects=False)
            assert chose.status_code == 303, chose.text
            challenge = query(chose.headers["location"])["login_challenge"]
            accepted = self.browser.post(
                "/v1/challenges/login/accept",
                json={"challenge": challenge, "account_id": account, "amr": ["pwd"], "acr": "1"},
                auth=(self.platform["client_id"], self.platform["client_secret"]),
            )
            assert accepted.status_code == 200, accepted.text
            back = accepted.json()["redirect_to"].removeprefix(self.issuer)
            page = self.browser.get(back, follow_redirects=False)
        if page.status_code == 200 and 'action="/consent"' in page.text:
            page = approve(self.browser, page.text)
        assert page.status_code == 303, page.text
        return str(page.headers["location"])


@pytest.fixture
def gateway(
    app: FastAPI,
    client: TestClient,
    runtime: Runtime,
    settings: Settings,
    operator: dict[str, str],
) -> Gateway:
    registered = client.post("/v1/admin/platforms", json=platform_spec(), headers=operator)
    assert registered.status_code == 201, registered.text
    gw = Gateway(app, client, runtime, settings.issuer, operator, registered.json(), {})
    gw.rp = gw.register("Nimbus Tea", CALLBACK, post_logout_redirect_uris=[SIGNED_OUT])
    return gw


async def sign_in(gw: Gateway, rp: AsyncBrandClient, *, pushed: bool = False) -> SignIn:
    request = await rp.start_sign_in(CALLBACK, pushed=pushed)
    return await rp.finish_sign_in(gw.walk(request.url), request)


# --- sign-in ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pushed", "alg"),
    [
        pytest.param(False, "ES256", id="query-es256"),
        pytest.param(True, "ES256", id="par-es256"),
        pytest.param(True, "RS256", id="par-rs256"),
    ],
)
async def test_sign_in_gives_a_verified_id_token(gateway: Gateway, pushed: bool, alg: str) -> None:
    member = gateway.rp
    if alg == "RS256":
        member = gateway.register("Old Tea", CALLBACK, id_token_signed_response_alg="RS256")
    async with gateway.client(member) as rp:
        request = await rp.start_sign_in(CALLBACK, pushed=pushed)
        sent = query(request.url)
        assert request.url.startswith(f"{gateway.issuer}/authorize?")
        if pushed:
            assert set(sent) == {"client_id", "request_uri"} and request.expires_in == 60
        else:
            assert sent["state"] == request.state and sent["nonce"] == request.nonce
            assert sent["code_challenge"] == code_challenge(request.code_verifier)
            assert sent["code_challenge_method"] == "S256" and sent["scope"] == "openid"
        assert len(request.code_verifier) >= 43 and request.code_verifier not in repr(request)

        signed_in = await rp.finish_sign_in(gateway.walk(request.url), request)
    claims = signed_in.claims
    assert claims.iss == gateway.issuer and claims.aud == member["client_id"]
    assert claims.nonce == request.nonce and claims.sub == signed_in.sub
    assert claims.amr == ["pwd"] and claims.acr == "1" and claims.at_hash is not None
    assert claims.platform_user_id is None  # a brand sees its pseudonym only
    assert signed_in.tokens.refresh_token and signed_in.tokens.id_token
    assert jwt.get_unverified_header(signed_in.tokens.id_token)["alg"] == alg
    asked = gateway.transports[0].paths
    assert asked == [DISCOVERY, *(["/par"] if pushed else []), "/token", JWKS]


def test_the_sync_client_signs_in_and_refresh_tokens_rotate(gateway: Gateway) -> None:
    platform = gateway.platform
    redirect_uri = platform["redirect_uris"][0]
    transport = RecordedSync(gateway.browser._transport)
    auth = ClientSecretBasic(platform["client_id"], platform["client_secret"])
    with PlatformClient(gateway.issuer, auth=auth, transport=transport) as rp:
        request = rp.start_sign_in(redirect_uri)
        signed_in = rp.finish_sign_in(gateway.walk(request.url, account="u-7"), request)
        assert signed_in.claims.platform_user_id == "u-7"  # a platform learns its own id
        first = signed_in.tokens

        second = rp.refresh_tokens(str(first.refresh_token))
        assert second.refresh_token and second.refresh_token != first.refresh_token
        assert second.access_token != first.access_token
        assert rp.userinfo(second.access_token, sub=signed_in.sub).sub == signed_in.sub
        with pytest.raises(BadRequestError) as refused:
            rp.refresh_tokens(str(first.refresh_token))  # rotated: spent
        assert refused.value.code == "invalid_grant"
    assert transport.paths.count(DISCOVERY) == 1 and transport.paths.count(JWKS) == 1


async def test_an_error_from_the_gateway_is_raised_with_its_code(gateway: Gateway) -> None:
    async with gateway.client() as rp:
        request = await rp.start_sign_in(CALLBACK, prompt="none")  # no session: refused
        with pytest.raises(AuthorizationRefusedError) as refused:
            await rp.finish_sign_in(gateway.walk(request.url), request)
    assert refused.value.code == "login_required"
    assert "/token" not in gateway.transports[0].paths


def _callback(request: AuthorizationRequest, issuer: str, change: dict[str, str | None]) -> str:
    answer = {"code": "c-1", "state": request.state, "iss": issuer, **change}
    return CALLBACK + "?" + "&".join(f"{k}={v}" for k, v in answer.items() if v is not None)


CALLBACKS = [
    pytest.param({"state": "forged"}, AuthorizationResponseError, "state", id="state-mismatch"),
    pytest.param({"state": None}, AuthorizationResponseError, "state", id="state-missing"),
    pytest.param({"iss": None}, AuthorizationResponseError, "no iss", id="iss-missing"),
    pytest.param(
        {"iss": "https://evil.example"}, AuthorizationResponseError, "issuer", id="iss-wrong"
    ),
    pytest.param(
        {"code": None, "error": "access_denied", "iss": "https://evil.example"},
        AuthorizationResponseError,
        "issuer",
        id="error-from-another-issuer",
    ),
    pytest.param(
        {"code": None, "error": "access_denied", "error_description": "declined"},
        AuthorizationRefusedError,
        "access_denied: declined",
        id="error-response",
    ),
    pytest.param({"code": None}, AuthorizationResponseError, "neither", id="no-code"),
    pytest.param({"code": "c-1&code=c-2"}, AuthorizationResponseError, "repeated", id="repeated"),
]


@pytest.mark.parametrize(("change", "error", "message"), CALLBACKS)
async def test_a_callback_that_does_not_answer_the_request_is_refused(
    gateway: Gateway, change: dict[str, str | None], error: type[Exception], message: str
) -> None:
    async with gateway.client() as rp:
        request = await rp.start_sign_in(CALLBACK)
        with pytest.raises(error, match=message):
            await rp.finish_sign_in(_callback(request, gateway.issuer, change), request)
    assert gateway.transports[0].paths == [DISCOVERY]  # refused before any request


async def test_an_id_token_for_another_nonce_is_refused(gateway: Gateway) -> None:
    async with gateway.client() as rp:
        request = await rp.start_sign_in(CALLBACK)
        callback = gateway.walk(request.url)
        replayed = request.model_copy(update={"nonce": "the-nonce-of-another-request"})
        with pytest.raises(IDTokenError, match="nonce"):
            await rp.finish_sign_in(callback, replayed)


def test_an_authorization_request_is_stored_and_checked() -> None:
    request = AuthorizationRequest(
        url="u", redirect_uri=CALLBACK, state="s", nonce="n", code_verifier="v" * 43, max_age=60
    )
    assert AuthorizationRequest.model_validate_json(request.model_dump_json()) == request
    with pytest.raises(ValueError, match="at least 43"):
        AuthorizationRequest(
            url="u", redirect_uri=CALLBACK, state="s", nonce="n", code_verifier="v"
        )


async def test_sign_in_needs_credentials_and_keeps_its_own_parameters(gateway: Gateway) -> None:
    transport = httpx.ASGITransport(app=gateway.app)
    async with AsyncBrandClient(gateway.issuer, transport=transport) as anonymous:
        with pytest.raises(ValueError, match="pass auth="):
            await anonymous.start_sign_in(CALLBACK)
    async with gateway.client() as rp:
        with pytest.raises(ValueError, match="state"):
            await rp.start_sign_in(CALLBACK, extra={"state": "mine"})
        request = await rp.start_sign_in(CALLBACK, scope=["profile", "openid"], max_age=300)
    assert (
        query(request.url)["scope"] == "openid profile" and query(request.url)["max_age"] == "300"
    )


# --- ID-token verification ----------------------------------------------------------------

ACCESS = "an-access-token"
NONCE = "n-0S6_WzA2Mj"
TIMES = {"iat": 0, "exp": 300, "auth_time": -5}  # seconds from now


def claims_for(gw: Gateway, change: dict[str, Any]) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": gw.issuer,
        "sub": "pairwise-sub",
        "aud": gw.rp["client_id"],
        "nonce": NONCE,
        "at_hash": half_hash(ACCESS, "ES256"),
    }
    claims.update({name: now + offset for name, offset in TIMES.items()})
    for name, value in change.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = now + value if name in TIMES else value
    return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compact(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def forge(gw: Gateway, claims: dict[str, Any], how: str = "gateway") -> str:
    """An ID token signed as ``how`` says: by the gateway's key, or in one of the ways
    an attacker would try."""
    key = gw.runtime.keys.active("ES256")
    kid = key.kid
    if how == "gateway":
        return jwt.encode(claims, key.signer(), algorithm="ES256", headers={"kid": kid})
    if how == "access-token":
        headers = {"kid": kid, "typ": "at+jwt"}
        return jwt.encode(claims, key.signer(), algorithm="ES256", headers=headers)
    if how in {"other-key", "unknown-kid"}:
        kid = kid if how == "other-key" else "a-kid-nobody-published"
        return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), "ES256", {"kid": kid})
    if how == "rs256":
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": kid})
    if how == "none":
        return _compact({"alg": "none", "kid": kid}, claims, lambda _: b"")
    assert how == "hs256-public-key"  # the classic confusion: the public key as HMAC secret
    pem = gw.runtime.keys.verification_key(kid).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _compact(
        {"alg": "HS256", "kid": kid}, claims, lambda data: hmac.digest(pem, data, "sha256")
    )


REFUSED = [
    pytest.param({"nonce": "n-other"}, "gateway", "nonce does not match", id="wrong-nonce"),
    pytest.param({"nonce": None}, "gateway", "nonce does not match", id="nonce-missing"),
    pytest.param({"aud": "brd_someone_else"}, "gateway", "another audience", id="wrong-aud"),
    pytest.param({"iss": "https://evil.example"}, "gateway", "another issuer", id="wrong-iss"),
    pytest.param({"iat": -4000, "exp": -3600}, "gateway", "expired", id="expired"),
    pytest.param({"iat": 600, "exp": 900}, "gateway", "future", id="issued-in-the-future"),
    pytest.param({"sub": None}, "gateway", "malformed", id="no-sub"),
    pytest.param(
        {"at_hash": half_hash("another-token", "ES256")}, "gateway", "at_hash", id="bad-at-hash"
    ),
    pytest.param({}, "none", "alg 'none' is not accepted", id="alg-none"),
    pytest.param({}, "hs256-public-key", "alg 'HS256'", id="hs256-signed-with-the-public-key"),
    pytest.param({}, "rs256", "not a RSA key", id="alg-not-the-keys"),
    pytest.param({}, "other-key", "signature does not verify", id="forged-signature"),
    pytest.param({}, "unknown-kid", "no key 'a-kid-nobody-published'", id="unknown-kid"),
    pytest.param({}, "access-token", "access token", id="access-token-as-id-token"),
]


async def test_a_well_formed_id_token_verifies(gateway: Gateway) -> None:
    token = forge(gateway, claims_for(gateway, {}))
    async with gateway.client() as rp:
        claims = await rp.verify_id_token(token, nonce=NONCE, access_token=ACCESS, max_age=60)
    assert claims.sub == "pairwise-sub" and claims.nonce == NONCE


@pytest.mark.parametrize(("change", "how", "message"), REFUSED)
async def test_an_id_token_is_refused(
    gateway: Gateway, change: dict[str, Any], how: str, message: str
) -> None:
    token = forge(gateway, claims_for(gateway, change), how)
    async with gateway.client() as rp:
        with pytest.raises(IDTokenError, match=message):
            await rp.verify_id_token(token, nonce=NONCE, access_token=ACCESS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"aud": ["brd_x", "brd_y"]}, "another audience", id="not-among-audiences"),
        pytest.param({"aud": ["AUD", "brd_y"]}, "no azp", id="several-audiences-no-azp"),
        pytest.param({"aud": ["AUD", "brd_y"], "azp": "brd_y"}, "another party", id="azp-other"),
        pytest.param({"auth_time": -3600}, "max_age", id="sign-in-older-than-max-age"),
        pytest.param({"auth_time": None}, "auth_time", id="max-age-without-auth-time"),
    ],
)
async def test_audiences_and_authentication_age_are_checked(
    gateway: Gateway, change: dict[str, Any], message: str
) -> None:
    change = dict(change)  # the parameter is shared by every backend's run: never mutate it
    if "aud" in change:
        change["aud"] = [gateway.rp["client_id"] if a == "AUD" else a for a in change["aud"]]
    token = forge(gateway, claims_for(gateway, change))
    async with gateway.client() as rp:
        with pytest.raises(IDTokenError, match=message):
            await rp.verify_id_token(token, nonce=NONCE, max_age=60)


async def test_an_unknown_kid_refetches_the_jwks_at_most_once_per_interval(
    gateway: Gateway,
) -> None:
    now = [1000.0]
    stranger = ec_jwk("x", private=True)
    signer = jwt.PyJWK(stranger, algorithm="ES256").key

    def unknown(kid: str) -> str:
        claims = claims_for(gateway, {})
        return jwt.encode(claims, signer, algorithm="ES256", headers={"kid": kid})

    async with gateway.client() as rp:
        rp.key_cache = KeyCache(refetch_interval=60, max_age=3600, clock=lambda: now[0])
        fetched = gateway.transports[0].paths
        await rp.verify_id_token(forge(gateway, claims_for(gateway, {})), nonce=NONCE)
        assert fetched.count(JWKS) == 1
        for kid in ("random-1", "random-2", "random-3"):  # a flood within the interval
            with pytest.raises(IDTokenError, match=f"no key '{kid}'"):
                await rp.verify_id_token(unknown(kid), nonce=NONCE)
        assert fetched.count(JWKS) == 2  # one refetch, for the first unknown kid only
        now[0] += 61
        with pytest.raises(IDTokenError, match="no key"):
            await rp.verify_id_token(unknown("random-4"), nonce=NONCE)
        assert fetched.count(JWKS) == 3  # the interval has passed
        now[0] += 3600
        await rp.verify_id_token(forge(gateway, claims_for(gateway, {})), nonce=NONCE)
        assert fetched.count(JWKS) == 4  # too old to use: fetched again
    assert fetched.count(DISCOVERY) == 1


async def test_a_rotated_key_verifies_after_one_refetch(gateway: Gateway) -> None:
    async with gateway.client() as rp:
        before = await sign_in(gateway, rp)
        fetched = gateway.transports[0].paths
        assert fetched.count(JWKS) == 1
        rotated = gateway.runtime.keys.create("ES256")  # published and signing from now
        after = await sign_in(gateway, rp)  # the browser's session: straight back
        assert after.tokens.id_token and before.tokens.id_token
        assert jwt.get_unverified_header(after.tokens.id_token)["kid"] == rotated.kid
        assert jwt.get_unverified_header(before.tokens.id_token)["kid"] != rotated.kid
        assert after.sub == before.sub and fetched.count(JWKS) == 2


async def test_concurrent_verifications_of_a_new_key_all_wait_for_a_fetch(
    gateway: Gateway,
) -> None:
    """Eight ID tokens of a key the cache does not hold yet, verified at once: each
    verification that finds a refetch under way fetches too, instead of failing with
    "no key" while the first one's fetch is in flight."""
    async with gateway.client() as rp:
        await rp.verify_id_token(forge(gateway, claims_for(gateway, {})), nonce=NONCE)
        fetched = gateway.transports[0].paths
        assert fetched.count(JWKS) == 1
        rotated = gateway.runtime.keys.create("ES256")  # published and signing from now
        tokens = [forge(gateway, claims_for(gateway, {})) for _ in range(8)]
        assert {jwt.get_unverified_header(t)["kid"] for t in tokens} == {rotated.kid}
        verified = await asyncio.gather(
            *(rp.verify_id_token(t, nonce=NONCE) for t in tokens), return_exceptions=True
        )
        assert [v for v in verified if isinstance(v, BaseException)] == []
        assert 2 <= fetched.count(JWKS) <= 9  # the first fetch, then the joined ones
        # The joined fetches ended: an unknown kid within the interval fetches nothing.
        count = fetched.count(JWKS)
        unknown = forge(gateway, claims_for(gateway, {}), "unknown-kid")
        with pytest.raises(IDTokenError, match="no key"):
            await rp.verify_id_token(unknown, nonce=NONCE)
        assert fetched.count(JWKS) == count


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"use": "enc"}, "not a signature key", id="encryption-key"),
        pytest.param({"alg": "ES384"}, "is for ES384", id="other-alg"),
        pytest.param({"crv": "P-384"}, "not a P-256 key", id="other-curve"),
        pytest.param({"key_ops": ["encrypt"]}, "may not verify", id="key-ops"),
        pytest.param({"key_ops": ["sign"]}, "may not verify", id="key-ops-of-a-private-key"),
        pytest.param({"d": "secret"}, "private part", id="private-key-published"),
    ],
)
def test_a_jwk_verifies_only_what_it_is_for(change: dict[str, Any], message: str) -> None:
    jwk = ec_jwk("k1")
    assert verification_key(jwk, "ES256") is not None
    with pytest.raises(UnsuitableKey, match=message):
        verification_key({**jwk, **change}, "ES256")


# --- using the tokens --------------------------------------------------------------------


async def test_exchange_userinfo_revocation_and_logout_at_the_gateway(gateway: Gateway) -> None:
    target = gateway.register("Zephyr Shoes", "https://zephyr.example/cb")
    async with gateway.client(target) as theirs:
        request = await theirs.start_sign_in("https://zephyr.example/cb")
        at_target = await theirs.finish_sign_in(gateway.walk(request.url), request)
    async with gateway.client() as rp:
        ours = await sign_in(gateway, rp)
        exchanged = await rp.exchange_token(ours.tokens.access_token, target["client_id"])
        assert isinstance(exchanged, ExchangedToken) and exchanged.scope == "openid"
        assert exchanged.issued_token_type == ACCESS_TYPE and exchanged.token_type == "Bearer"
        assert "refresh_token" not in (exchanged.model_extra or {})

        info = await rp.userinfo(ours.tokens.access_token, sub=ours.sub)
        assert info.sub == ours.sub != at_target.sub  # pairwise: one person, two subjects

        await rp.revoke_token(str(ours.tokens.refresh_token), token_type_hint="refresh_token")
        with pytest.raises(BadRequestError, match="invalid_grant"):
            await rp.refresh_tokens(str(ours.tokens.refresh_token))

        url = await rp.logout_url(
            id_token_hint=ours.tokens.id_token, post_logout_redirect_uri=SIGNED_OUT, state="s-9"
        )
    assert query(url)["client_id"] == gateway.rp["client_id"]
    response = gateway.browser.get(url.removeprefix(gateway.issuer), follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{SIGNED_OUT}?state=s-9"


FAKE = "https://gateway.example"


class FakeGateway:
    """A MockTransport handler: the discovery document, then canned JSON per path."""

    def __init__(self, answers: dict[str, Any], **metadata: str | None) -> None:
        document = {
            "issuer": FAKE,
            "authorization_endpoint": f"{FAKE}/authorize",
            "token_endpoint": f"{FAKE}/token",
            "jwks_uri": f"{FAKE}/jwks",
            "userinfo_endpoint": f"{FAKE}/userinfo",
            "revocation_endpoint": f"{FAKE}/revoke",
            "end_session_endpoint": f"{FAKE}/logout?ui=1",
            **metadata,
        }
        self.document = {k: v for k, v in document.items() if v is not None}
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == DISCOVERY:
            return httpx.Response(200, json=self.document)
        return httpx.Response(200, json=self.answers.get(request.url.path, {}))

    def form(self, index: int) -> dict[str, list[str]]:
        return parse_qs(self.requests[index].content.decode())


def test_the_requests_for_exchange_userinfo_revocation_and_logout() -> None:
    exchanged = {"access_token": "at-2", "issued_token_type": ACCESS_TYPE, "token_type": "Bearer"}
    fake = FakeGateway({"/token": exchanged, "/userinfo": {"sub": "s-1", "locale": "zh-CN"}})
    auth = ClientSecretBasic("brd_1", "secret")
    with BrandClient(FAKE, auth=auth, transport=httpx.MockTransport(fake)) as rp:
        token = rp.exchange_token("at-1", "brd_2", scope="openid")
        info = rp.userinfo("at-2", sub="s-1")
        rp.revoke_token("rt-1", token_type_hint="refresh_token")
        url = rp.logout_url(id_token_hint="id-1", post_logout_redirect_uri="https://a.example/out")
    assert [r.url.path for r in fake.requests] == [DISCOVERY, "/token", "/userinfo", "/revoke"]
    assert fake.form(1) == {
        "grant_type": ["urn:ietf:params:oauth:grant-type:token-exchange"],
        "subject_token": ["at-1"],
        "subject_token_type": [ACCESS_TYPE],
        "audience": ["brd_2"],
        "scope": ["openid"],
    }
    assert fake.requests[1].headers["authorization"].startswith("Basic ")
    assert token.access_token == "at-2" and "at-2" not in repr(token)
    assert fake.requests[2].method == "GET"
    assert fake.requests[2].headers["authorization"] == "Bearer at-2"
    assert info.sub == "s-1" and (info.model_extra or {})["locale"] == "zh-CN"
    assert fake.form(3) == {"token": ["rt-1"], "token_type_hint": ["refresh_token"]}
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{FAKE}/logout"
    assert parse_qs(parts.query) == {
        "ui": ["1"],
        "id_token_hint": ["id-1"],
        "client_id": ["brd_1"],
        "post_logout_redirect_uri": ["https://a.example/out"],
    }


BAD_ANSWERS = [
    pytest.param(
        {"issuer": "https://evil.example"},
        {},
        lambda rp: rp.openid_configuration(),
        "not 'https://gateway.example'",
        id="discovery-for-another-issuer",
    ),
    pytest.param(
        {"userinfo_endpoint": "https://evil.example/userinfo"},
        {},
        lambda rp: rp.userinfo("at-1"),
        "not under the issuer",
        id="endpoint-outside-the-issuer",
    ),
    pytest.param(
        {"end_session_endpoint": None},
        {},
        lambda rp: rp.logout_url(),
        "no end_session_endpoint",
        id="no-logout",
    ),
    pytest.param(
        {},
        {"/userinfo": {"sub": "s-2"}},
        lambda rp: rp.userinfo("at-1", sub="s-1"),
        "not the ID token's",
        id="userinfo-for-another-sub",
    ),
    pytest.param(
        {},
        {"/token": {"access_token": "a", "issued_token_type": "x", "token_type": "Bearer"}},
        lambda rp: rp.exchange_token("at-1", "brd_2"),
        "did not issue a Bearer access token",
        id="exchange-issues-another-type",
    ),
    pytest.param(
        {},
        {"/token": {"access_token": "a", "token_type": "MAC"}},
        lambda rp: rp.refresh_tokens("rt-1"),
        "not Bearer",
        id="refresh-not-bearer",
    ),
]


@pytest.mark.parametrize(("metadata", "answers", "action", "message"), BAD_ANSWERS)
def test_unusable_answers_are_response_errors(
    metadata: dict[str, str | None],
    answers: dict[str, Any],
    action: Callable[[BrandClient], object],
    message: str,
) -> None:
    fake = FakeGateway(answers, **metadata)
    auth = ClientSecretBasic("brd_1", "secret")
    with (
        BrandClient(FAKE, auth=auth, transport=httpx.MockTransport(fake)) as rp,
        pytest.raises(ResponseError, match=message),
    ):
        action(rp)


def test_a_refresh_without_rotation_keeps_the_refresh_token() -> None:
    fake = FakeGateway({"/token": {"access_token": "a-2", "token_type": "Bearer"}})
    auth = ClientSecretBasic("brd_1", "secret")
    with BrandClient(FAKE, auth=auth, transport=httpx.MockTransport(fake)) as rp:
        tokens = rp.refresh_tokens("rt-1", scope="openid")
    assert tokens.refresh_token == "rt-1" and tokens.access_token == "a-2"
    assert fake.form(1) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["rt-1"],
        "scope": ["openid"],
    }
