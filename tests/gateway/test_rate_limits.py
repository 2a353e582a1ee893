"""Rate limits: GCRA to the microsecond on both stores, the in-process store's bounds,
atomicity under concurrency, and the limits of the token endpoint (express lane
included), the challenge API and sandbox queries; plus the request-head limits.

The shared store is tested on the Redis that ACCORD_TEST_REDIS_URL names, as
PostgreSQL is (tests/conftest.py); in CI (``CI`` set) it must be named and answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from consent.taxonomy import DataStandard
from gateway.app import create_app
from gateway.limits import MAX_HEADER_BYTES, MAX_QUERY_BYTES, MAX_QUERY_PARAMETERS
from gateway.limits import refusal_of_head as head_refusal
from gateway.ratelimit.gcra import Check, InProcessLimiter, Limiter, Verdict
from gateway.ratelimit.guard import CHALLENGES, COUNTED, basic_user, form_client, peer
from gateway.ratelimit.rates import MICROS, Policy, Rate, parse_policy
from gateway.ratelimit.redis_store import RedisLimiter
from gateway.runtime import Runtime
from gateway.sandbox.models import SandboxQuery
from gateway.settings import Settings
from sdk import RateLimitError
from tests.conftest import make_settings
from tests.gateway.alliance import Alliance
from tests.gateway.members.cases import brand_spec
from tests.gateway.oauth.flow import Attempt, exchange, hidden, query, register_rp, sign_in
from tests.gateway.oauth.test_client_tokens import basic, client_assertion, platform_auth
from tests.gateway.oauth.test_remembered import statements
from tests.gateway.sandbox.test_sandbox import GEN, TIER, cap, populate
from tests.gateway.views.scene import People

REDIS_URL = os.environ.get("ACCORD_TEST_REDIS_URL")
STORES = ["memory", *(["redis"] if REDIS_URL or os.environ.get("CI") else [])]

TOKEN = "client 3/minute, ip 5/minute"  # T = 20 s per client, 12 s per address
CHALLENGE = "client 2/minute, ip 4/minute"  # T = 30 s, 15 s
SANDBOX = "client 2/minute, ip 3/minute"
OAUTH = "client 2/minute, ip 4/minute"  # T = 30 s per client, 15 s per address


class FakeClock:
    """Microseconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_000 * MICROS

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * MICROS)


def rate(text: str) -> Rate:
    policy = parse_policy(f"client {text}")
    assert policy.client is not None
    return policy.client


def one(key: str, text: str) -> list[Check]:
    return [Check(key, rate(text), "client")]


# --- the stores ---------------------------------------------------------------------

StoreFactory = Callable[..., Limiter]


@pytest.fixture(params=STORES)
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """Make limiters of one kind: in-process, or Redis under a prefix of this test's."""
    made: list[Limiter] = []
    prefix = f"accord-test:{uuid.uuid4().hex}:"
    if request.param == "redis":
        if REDIS_URL is None:
            pytest.fail("CI is set: name the Redis to test with ACCORD_TEST_REDIS_URL")
        probe = Redis.from_url(REDIS_URL)
        assert await probe.ping()  # unreachable: the test fails, it is never skipped
        await probe.aclose()

    def make(clock: Callable[[], int] | None = None, **options: Any) -> Limiter:
        limiter: Limiter
        if request.param == "memory":
            limiter = InProcessLimiter(clock=clock, **options) if clock else InProcessLimiter()
        else:
            assert REDIS_URL is not None
            limiter = RedisLimiter(REDIS_URL, prefix=prefix, clock=clock, **options)
        made.append(limiter)
        return limiter

    yield make
    if request.param == "redis" and REDIS_URL is not None:
        redis = Redis.from_url(REDIS_URL)
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
    for limiter in made:
        await limiter.aclose()
        if isinstance(limiter, RedisLimiter):  # Redis answered every time: no fallback
            assert len(limiter.fallback) == 0


def remaining(verdict: Verdict) -> list[int]:
    return [d.remaining for d in verdict.decisions]


@pytest.mark.anyio
async def test_a_full_burst_is_admitted_then_one_per_interval(stores: StoreFactory) -> None:
    clock = FakeClock()
    limiter = stores(clock)
    checks = one("k", "5/minute")  # T = 12 s, burst 5
    admitted = [await limiter.hit(checks) for _ in range(5)]
    assert all(v.allowed for v in admitted)
    assert [remaining(v)[0] for v in admitted] == [4, 3, 2, 1, 0]
    assert [v.decisions[0].reset_after for v in admitted] == [12.0, 24.0, 36.0, 48.0, 60.0]
    refused = await limiter.hit(checks)
    assert not refused.allowed and refused.retry_after == 12.0
    clock.advance(12 - 1e-6)  # one microsecond short
    short = await limiter.hit(checks)
    assert not short.allowed and short.retry_after == pytest.approx(1e-6)
    clock.advance(1e-6)  # exactly one interval: exactly one more
    assert (await limiter.hit(checks)).allowed
    assert not (await limiter.hit(checks)).allowed
    clock.advance(60)  # a full minute idle: the whole burst again, no more
    assert [(await limiter.hit(checks)).allowed for _ in range(6)] == [True] * 5 + [False]


@pytest.mark.anyio
async def test_a_burst_below_the_rate_spaces_the_rest(stores: StoreFactory) -> None:
    clock = FakeClock()
    limiter = stores(clock)
    checks = one("k", "60/minute burst 2")
    assert [(await limiter.hit(checks)).allowed for _ in range(3)] == [True, True, False]
    for _ in range(5):  # sustained: one a second
        clock.advance(1)
        assert (await limiter.hit(checks)).allowed
        assert not (await limiter.hit(checks)).allowed


@pytest.mark.anyio
async def test_a_refused_request_is_charged_to_no_bucket(stores: StoreFactory) -> None:
    clock = FakeClock()
    limiter = stores(clock)
    client = Check("client:a", rate("1/minute"), "client")
    address = Check("ip:1", rate("10/minute"), "ip")
    assert (await limiter.hit([client, address])).allowed
    refused = await limiter.hit([client, address])
    assert not refused.allowed and [d.check.name for d in refused.refusing] == ["client"]
    assert refused.retry_after == 60.0
    # The address's bucket saw one request, not two: nine are left after this one.
    assert remaining(await limiter.hit([address])) == [8]


@pytest.mark.anyio
async def test_buckets_are_separate(stores: StoreFactory) -> None:
    limiter = stores(FakeClock())
    assert (await limiter.hit(one("a", "1/hour"))).allowed
    assert not (await limiter.hit(one("a", "1/hour"))).allowed
    assert (await limiter.hit(one("b", "1/hour"))).allowed


@pytest.mark.anyio
async def test_the_default_clock_limits_too(stores: StoreFactory) -> None:
    limiter = stores()  # monotonic in-process; Redis's own TIME in Redis
    checks = one("k", "3/hour")
    assert [(await limiter.hit(checks)).allowed for _ in range(4)] == [True] * 3 + [False]
    retry = (await limiter.hit(checks)).retry_after
    assert 1190 < retry <= 1200


@pytest.mark.anyio
async def test_concurrent_requests_admit_exactly_the_burst(stores: StoreFactory) -> None:
    limiter = stores(FakeClock())  # frozen: no refill while they race
    checks = [Check("hot", rate("30/hour"), "client"), Check("ip", rate("1000/hour"), "ip")]
    verdicts = await asyncio.gather(*(limiter.hit(checks) for _ in range(120)))
    assert sum(v.allowed for v in verdicts) == 30
    # Only the admitted were charged to the address: 1000 - 30 left, less this one.
    assert remaining(await limiter.hit([checks[1]])) == [1000 - 31]


@pytest.mark.anyio
async def test_a_bucket_is_forgotten_once_full_again(stores: StoreFactory) -> None:
    clock = FakeClock()
    limiter = stores(clock)
    await limiter.hit(one("brief", "5/minute"))
    if isinstance(limiter, InProcessLimiter):
        assert len(limiter) == 1
        clock.advance(12)  # full again: the next charge sweeps it away
        await limiter.hit(one("other", "5/minute"))
        assert len(limiter) == 1
        return
    assert isinstance(limiter, RedisLimiter) and REDIS_URL is not None
    redis = Redis.from_url(REDIS_URL)
    try:
        ttl = await redis.pttl(limiter.prefix + "brief")
        assert 11_000 < ttl <= 12_000  # expires when full again (12 s of the rate)
        await limiter.hit(one("blink", "1000/second burst 1"))  # full again in 1 ms
        await asyncio.sleep(0.01)
        assert await redis.exists(limiter.prefix + "blink") == 0
    finally:
        await redis.aclose()


def test_threads_hammering_one_bucket_admit_exactly_the_burst() -> None:
    limiter = InProcessLimiter(clock=FakeClock())
    checks = one("hot", "50/minute")
    admitted: list[bool] = []
    start = threading.Barrier(16)

    def hammer() -> None:
        start.wait()
        mine = [limiter.take(checks).allowed for _ in range(25)]
        admitted.extend(mine)

    threads = [threading.Thread(target=hammer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 400 and sum(admitted) == 50


def test_the_in_process_store_keeps_at_most_max_keys() -> None:
    clock = FakeClock()
    limiter = InProcessLimiter(clock=clock, max_keys=3)
    for key in "abcde":
        assert limiter.take(one(key, "1/hour")).allowed
    assert len(limiter) == 3
    # The least recently charged were forgotten: "a" may come again, "e" may not.
    assert limiter.take(one("a", "1/hour")).allowed
    assert not limiter.take(one("e", "1/hour")).allowed
    # Refused requests take no memory.
    assert len(limiter) == 3


@pytest.mark.anyio
async def test_an_unreachable_redis_limits_in_the_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RedisLimiter("redis://127.0.0.1:1/0", clock=FakeClock(), timeout=0.5)
    checks = one("k", "2/hour")
    with caplog.at_level(logging.WARNING, "accord.ratelimit"):
        verdicts = [await limiter.hit(checks) for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert "Redis is unavailable" in caplog.text and caplog.text.count("unavailable") == 1
    await limiter.aclose()


# --- what a limit says --------------------------------------------------------------


def test_policies_are_read_as_written() -> None:
    policy = parse_policy("client 600/minute, ip 1200/Minutes burst 300")
    assert policy == Policy(Rate(600, 60, 600), Rate(1200, 60, 300))
    assert policy.client is not None and policy.client.interval == 100_000  # 0.1 s
    assert str(policy.ip) == "1200/minute burst 300"
    assert parse_policy("ip 5/second") == Policy(None, Rate(5, 1, 5))
    assert not parse_policy(" ").limits_anything


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("client 0/minute", id="zero"),
        pytest.param("client 5/fortnight", id="unknown-unit"),
        pytest.param("user 5/minute", id="unknown-scope"),
        pytest.param("client 5/minute, client 6/minute", id="twice"),
        pytest.param("client five/minute", id="not-a-number"),
        pytest.param("client 5/minute burst 0", id="no-burst"),
    ],
)
def test_malformed_policies_are_refused_at_start(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValueError, match="rate_limit_sandbox"):
        make_settings(tmp_path, rate_limit_sandbox=text)


def test_the_redis_url_must_be_redis(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="redis_url"):
        make_settings(tmp_path, redis_url="http://127.0.0.1:6379")
    assert make_settings(tmp_path, redis_url="redis://127.0.0.1:6379/2").redis_url


def test_redis_is_used_when_configured(tmp_path: Path, standard: DataStandard) -> None:
    settings = make_settings(tmp_path, redis_url="redis://127.0.0.1:6379/2")
    rt = Runtime.build(settings, standard=standard)
    try:
        assert isinstance(rt.limits.limiter, RedisLimiter)
        assert set(rt.limits.policies) == {"token", "oauth", "challenge", "sandbox"}
    finally:
        rt.close()
    off = make_settings(tmp_path, redis_url="redis://127.0.0.1:6379/2", rate_limits_enabled=False)
    rt = Runtime.build(off, standard=standard)
    try:
        assert isinstance(rt.limits.limiter, InProcessLimiter) and not rt.limits.policies
    finally:
        rt.close()


# --- who is asking --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "bucket"),
    [
        pytest.param("203.0.113.7", "203.0.113.7", id="ipv4"),
        pytest.param("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64", id="ipv6-by-64"),
        pytest.param("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64", id="same-64"),
        pytest.param("::ffff:198.51.100.1", "198.51.100.1", id="ipv4-mapped"),
        pytest.param("testclient", "testclient", id="not-an-address"),
    ],
)
def test_addresses_are_bucketed(host: str, bucket: str) -> None:
    assert peer({"type": "http", "client": (host, 5000)}) == bucket


def _jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'ES256'})}.{part(claims)}.c2ln"


@pytest.mark.parametrize(
    ("authorization", "client"),
    [
        pytest.param(basic("plt_1", "s")["Authorization"], "plt_1", id="basic"),
        pytest.param(basic(quote("a:b"), "s")["Authorization"], "a:b", id="basic-encoded"),
        pytest.param("Basic !!!", None, id="malformed"),
        pytest.param("Bearer x", None, id="not-basic"),
    ],
)
def test_the_basic_user_names_the_client(authorization: str, client: str | None) -> None:
    assert basic_user(authorization) == client


@pytest.mark.parametrize(
    ("form", "client"),
    [
        pytest.param(f"client_assertion={_jwt({'iss': 'plt_2'})}", "plt_2", id="assertion"),
        pytest.param("client_assertion=junk&client_id=x", None, id="assertion-malformed"),
        pytest.param("grant_type=x&client_id=rp_3", "rp_3", id="client-id"),
        pytest.param("grant_type=x", None, id="nobody"),
    ],
)
def test_the_form_names_the_client(form: str, client: str | None) -> None:
    assert form_client(form.encode()) == client


def test_a_long_client_id_is_digested() -> None:
    named = form_client(b"client_id=" + b"x" * 200)
    assert named is not None and named.startswith("sha256:") and len(named) == 39


# --- the endpoints --------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    values: dict[str, Any] = {
        "rate_limit_token": TOKEN,
        "rate_limit_challenge": CHALLENGE,
        "rate_limit_sandbox": SANDBOX,
        "rate_limit_oauth": OAUTH,
        "sandbox_min_group": 5,
        "change_poll": 0,  # the express lane's memory is read when a test says so
        **getattr(request, "param", {}),
    }
    return make_settings(tmp_path, **values)


@pytest.fixture
def runtime(
    settings: Settings, engine: Engine, standard: DataStandard, clock: FakeClock
) -> Runtime:
    limiter = InProcessLimiter(clock=clock)
    return Runtime.build(settings, engine=engine, standard=standard, limiter=limiter)


def client_credentials(client: TestClient, auth: dict[str, str]) -> Any:
    return client.post("/token", data={"grant_type": "client_credentials"}, headers=auth)


def brand_auth(alliance: Alliance, which: str = "a") -> dict[str, str]:
    if which == "a":
        return basic(alliance.brand_a["client_id"], alliance.brand_a_secret)
    return basic(alliance.brand_b["client_id"], alliance.brand_b_secret)


def assert_limited(response: Any, retry_after: int, whose: str) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == str(retry_after)
    assert response.headers["cache-control"] == "no-store"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == 429 and problem["error"] == "temporarily_unavailable"
    assert problem["type"] == "urn:accord:error:temporarily_unavailable"
    assert f"from {whose}" in problem["detail"]
    return problem


def test_a_client_past_its_token_limit_gets_429_and_others_do_not(
    alliance: Alliance, client: TestClient, clock: FakeClock
) -> None:
    first = client_credentials(client, platform_auth(alliance))
    assert first.status_code == 200, first.text
    assert first.headers["ratelimit-policy"] == '"token-ip";q=5;w=60, "token-client";q=3;w=60'
    assert first.headers["ratelimit"] == '"token-ip";r=4;t=12, "token-client";r=2;t=20'
    for _ in range(2):
        assert client_credentials(client, platform_auth(alliance)).status_code == 200
    refused = client_credentials(client, platform_auth(alliance))
    assert_limited(refused, 20, "this client")
    assert refused.headers["ratelimit-policy"] == '"token-client";q=3;w=60'
    assert refused.headers["ratelimit"] == '"token-client";r=0;t=60'
    assert "access_token" not in refused.text

    # Another client from the same address still passes, until the address's limit:
    # 3 + 2 = 5 (the refused request was charged to neither bucket).
    for _ in range(2):
        assert client_credentials(client, brand_auth(alliance, "a")).status_code == 200
    by_address = client_credentials(client, brand_auth(alliance, "b"))
    assert_limited(by_address, 12, "this address")
    # Brand B from another address passes: its own bucket is untouched.
    with TestClient(alliance.app, client=("198.51.100.9", 4000)) as elsewhere:
        assert client_credentials(elsewhere, brand_auth(alliance, "b")).status_code == 200

    clock.advance(20)  # one client interval: one more for the platform
    assert client_credentials(client, platform_auth(alliance)).status_code == 200
    assert client_credentials(client, platform_auth(alliance)).status_code == 429


@pytest.mark.parametrize("store", STORES)
def test_workers_share_a_limit_only_through_redis(
    store: str,
    settings: Settings,
    engine: Engine,
    standard: DataStandard,
    clock: FakeClock,
    operator: dict[str, str],
) -> None:
    prefix = f"accord-test:{uuid.uuid4().hex}:"

    def worker() -> FastAPI:
        """One gateway process on the shared database, with a limiter of its own."""
        limiter: Limiter
        if store == "memory":
            limiter = InProcessLimiter(clock=clock)
        elif REDIS_URL is None:
            pytest.fail("CI is set: name the Redis to test with ACCORD_TEST_REDIS_URL")
        else:
            limiter = RedisLimiter(REDIS_URL, prefix=prefix, clock=clock)
        rt = Runtime.build(settings, engine=engine, standard=standard, limiter=limiter)
        return create_app(settings, runtime=rt)

    try:
        with TestClient(worker()) as one, TestClient(worker()) as two:
            brand = one.post("/v1/admin/brands", json=brand_spec(), headers=operator).json()
            auth = basic(brand["client_id"], brand["client_secret"])
            answers = [client_credentials(c, auth).status_code for c in (one, two) * 3]
    finally:
        if store == "redis" and REDIS_URL is not None:
            with SyncRedis.from_url(REDIS_URL) as redis:
                for key in redis.scan_iter(match=prefix + "*"):
                    redis.delete(key)
    if store == "memory":  # each worker counts alone: twice the limit between them
        assert answers == [200] * 6
    else:
        assert answers == [200] * 3 + [429] * 3


def test_the_express_lane_is_limited_too(
    alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    runtime.changes.poll(runtime.engine)
    assert client_credentials(client, platform_auth(alliance)).status_code == 200
    with statements(runtime.engine) as sent:  # answered from memory, then refused
        assert client_credentials(client, platform_auth(alliance)).status_code == 200
        assert client_credentials(client, platform_auth(alliance)).status_code == 200
        assert_limited(client_credentials(client, platform_auth(alliance)), 20, "this client")
    assert sent == []


def test_a_client_named_in_the_form_is_limited(alliance: Alliance, client: TestClient) -> None:
    """private_key_jwt: the client is the assertion's issuer; and a form client_id."""
    for n in range(4):
        with TestClient(alliance.app, client=(f"198.51.100.{n}", 4000)) as fresh:
            form = {"grant_type": "client_credentials", **client_assertion(alliance, "x")}
            answer = fresh.post("/token", data=form)
            if n < 3:
                assert answer.status_code == 401, answer.text  # counted, then refused
            else:
                assert_limited(answer, 20, "this client")
    for n in range(4):
        with TestClient(alliance.app, client=(f"192.0.2.{n}", 4000)) as fresh:
            form = {"grant_type": "authorization_code", "client_id": "rp_public", "code": "x"}
            answer = fresh.post("/token", data=form)
            assert answer.status_code == (400 if n < 3 else 429), answer.text  # unknown client


def test_revocation_and_par_have_limits_of_their_own_and_introspection_none(
    alliance: Alliance, client: TestClient, clock: FakeClock, runtime: Runtime
) -> None:
    token = client_credentials(client, platform_auth(alliance)).json()["access_token"]
    mine = platform_auth(alliance)
    revoked = client.post("/revoke", data={"token": "not-a-token"}, headers=mine)
    assert revoked.status_code == 200, revoked.text
    assert revoked.headers["ratelimit-policy"] == '"oauth-ip";q=4;w=60, "oauth-client";q=2;w=60'
    pushed = client.post("/par", data={"response_type": "code"}, headers=mine)
    assert pushed.status_code == 400, pushed.text  # counted, then refused as incomplete
    assert_limited(client.post("/par", data={}, headers=mine), 30, "this client")
    assert_limited(client.post("/revoke", data={"token": "x"}, headers=mine), 30, "this client")
    # Introspection is not counted (the resource servers' hot path, docs/limits.md).
    for _ in range(5):
        looked = client.post("/introspect", data={"token": token}, headers=mine)
        assert looked.status_code == 200 and looked.json()["active"] is True
        assert "ratelimit" not in looked.headers
    # The token endpoint's buckets are apart: the same client still gets tokens.
    assert client_credentials(client, platform_auth(alliance)).status_code == 200
    # Another client from the same address: 2 + 2 = 4 (the refused two were charged to
    # no bucket), then the address's limit.
    theirs = brand_auth(alliance, "a")
    for _ in range(2):
        assert client.post("/revoke", data={"token": "x"}, headers=theirs).status_code == 200
    third = brand_auth(alliance, "b")  # its own bucket is full: the address refuses
    assert_limited(client.post("/revoke", data={"token": "x"}, headers=third), 15, "this address")
    # A client named only in the form is counted by that name, before it is checked.
    for n in range(3):
        with TestClient(alliance.app, client=(f"198.51.100.{40 + n}", 4000)) as fresh:
            answer = fresh.post("/revoke", data={"token": "x", "client_id": "nobody-we-know"})
            if n < 2:  # counted, then refused (400: no credential was offered, RFC 6749 §5.2)
                assert answer.status_code == 400, answer.text
                assert answer.json()["error"] == "invalid_client"
            else:
                assert_limited(answer, 30, "this client")
    clock.advance(30)  # one client interval: one more for the platform
    assert client.post("/revoke", data={"token": "x"}, headers=mine).status_code == 200
    assert client.post("/revoke", data={"token": "x"}, headers=mine).status_code == 429


def test_a_refused_code_exchange_leaves_the_code_usable(
    alliance: Alliance, client: TestClient, clock: FakeClock
) -> None:
    rp = register_rp(client, alliance, "Nimbus Tea", "nimbus.example")
    attempt = Attempt(rp)
    page = sign_in(client, alliance, attempt)
    consented = client.post(
        "/consent", data={**hidden(page.text), "decision": "approve"}, follow_redirects=False
    )
    assert consented.status_code == 303, consented.text
    code = query(consented.headers["location"])["code"]
    for _ in range(3):  # the relying party spends its allowance
        client_credentials(client, rp.auth)
    assert_limited(exchange(client, attempt, code), 20, "this client")
    clock.advance(20)
    tokens = exchange(client, attempt, code)  # the code was not spent by the refusal
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["id_token"]


def login_challenge(client: TestClient, alliance: Alliance) -> str:
    rp = register_rp(client, alliance, "Nimbus Tea", "nimbus.example")
    chooser = client.get("/authorize", params=Attempt(rp).params(), follow_redirects=False)
    chose = client.post(
        "/signin/choose",
        data={**hidden(chooser.text), "platform": alliance.platform["id"]},
        follow_redirects=False,
    )
    assert chose.status_code == 303, chose.text
    return query(chose.headers["location"])["login_challenge"]


def describe(client: TestClient, auth: dict[str, str], challenge: str = "nope") -> Any:
    return client.post("/v1/challenges/describe", json={"challenge": challenge}, headers=auth)


def test_the_challenge_api_limits_each_platform_and_address(
    alliance: Alliance, client: TestClient, clock: FakeClock
) -> None:
    challenge = login_challenge(client, alliance)
    assert describe(client, platform_auth(alliance), challenge).status_code == 200
    assert describe(client, platform_auth(alliance)).status_code == 404
    accept = {"challenge": challenge, "account_id": "u-1", "amr": ["pwd"]}
    refused = client.post(
        "/v1/challenges/login/accept", json=accept, headers=platform_auth(alliance)
    )
    assert_limited(refused, 30, "this client")
    assert refused.headers["ratelimit-policy"] == (
        '"challenge-ip";q=4;w=60, "challenge-client";q=2;w=60'
    )
    assert refused.headers["ratelimit"] == '"challenge-ip";r=1;t=45, "challenge-client";r=0;t=60'

    # The other platform has its own allowance; the address has one request left.
    assertion = client_assertion(alliance, alliance.issuer)["client_assertion"]
    keyed = {"Authorization": f"Bearer {assertion}"}
    assert describe(client, keyed).status_code == 404
    assert_limited(describe(client, keyed), 15, "this address")

    clock.advance(30)  # the refused acceptance changed nothing: it can be made now
    answer = client.post(
        "/v1/challenges/login/accept", json=accept, headers=platform_auth(alliance)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["redirect_to"].startswith(alliance.issuer)


def test_bad_credentials_are_limited_by_address_before_authentication(
    alliance: Alliance, app: FastAPI
) -> None:
    wrong = basic(alliance.platform["client_id"], "not-the-secret")
    with TestClient(app, client=("203.0.113.50", 4000)) as stranger:
        assert [describe(stranger, wrong).status_code for _ in range(5)] == [401] * 4 + [429]
    with TestClient(app, client=("203.0.113.51", 4000)) as platform:
        assert describe(platform, platform_auth(alliance)).status_code == 404  # not spent


@pytest.fixture
def people(alliance: Alliance, runtime: Runtime, client: TestClient) -> People:
    return People(alliance, runtime, client)


@pytest.mark.anyio
async def test_sandbox_queries_are_limited_before_any_epsilon_is_charged(
    alliance: Alliance, client: TestClient, people: People, runtime: Runtime
) -> None:
    populate(people, 6)
    cap(client, alliance, 10.0)
    auth = people.brand_auth("a")
    for group in (TIER, GEN):
        body = {"measure": "count", "group_by": [group], "epsilon": 0.5}
        answer = client.post("/v1/sandbox/queries", json=body, auth=auth)
        assert answer.status_code == 200, answer.text
    refused = client.post(
        "/v1/sandbox/queries", json={"measure": "count", "epsilon": 0.5}, auth=auth
    )
    assert_limited(refused, 30, "this client")
    budget = client.get("/v1/sandbox/budget", auth=auth).json()  # not counted
    assert budget["epsilon_spent"] == pytest.approx(1.0)
    with Session(runtime.engine) as session:
        logged = session.execute(select(func.count()).select_from(SandboxQuery)).scalar_one()
    assert logged == 2
    async with alliance.brand_client("a") as brand:  # through the SDK: RateLimitError
        with pytest.raises(RateLimitError) as raised:
            await brand.sandbox_query("count", epsilon=0.5)
    assert raised.value.status == 429 and raised.value.retry_after == 30
    # Brand B has its own allowance, from an address with some left.
    with TestClient(alliance.app, client=("198.51.100.20", 4000)) as elsewhere:
        body = {"measure": "count", "epsilon": 0.5}
        other = elsewhere.post("/v1/sandbox/queries", json=body, auth=people.brand_auth("b"))
    assert other.status_code == 403, other.text  # no budget: refused by the sandbox itself


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"rate_limits_enabled": False}, id="switched-off"),
        pytest.param({"rate_limit_token": ""}, id="token-policy-empty"),
    ],
    indirect=True,
)
def test_limits_can_be_switched_off(alliance: Alliance, client: TestClient) -> None:
    answers = [client_credentials(client, platform_auth(alliance)) for _ in range(8)]
    assert [a.status_code for a in answers] == [200] * 8
    assert "ratelimit" not in answers[-1].headers


def test_every_counted_path_is_served(app: FastAPI) -> None:
    paths = set(app.openapi()["paths"])
    assert set(COUNTED) <= paths
    assert any(path.startswith(CHALLENGES) for path in paths)


# --- the request head -------------------------------------------------------------------


def test_an_oversized_head_is_refused_in_the_problem_format(client: TestClient) -> None:
    too_long = client.get("/healthz?q=" + "a" * MAX_QUERY_BYTES)
    assert too_long.status_code == 414 and too_long.json()["status"] == 414
    too_many = client.get("/healthz?" + "&".join(["a=1"] * (MAX_QUERY_PARAMETERS + 1)))
    assert too_many.status_code == 400
    assert f"more than {MAX_QUERY_PARAMETERS} parameters" in too_many.json()["detail"]
    headers = {f"x-filler-{n}": "a" * 1000 for n in range(MAX_HEADER_BYTES // 1000 + 1)}
    too_large = client.get("/healthz", headers=headers)
    assert too_large.status_code == 431
    assert too_large.headers["content-type"] == "application/problem+json"
    assert client.get("/healthz?q=1").status_code == 200


def test_a_view_of_every_category_fits_the_query_limits(standard: DataStandard) -> None:
    pairs = [("purpose", "marketing.brand_view")] + [("category", c) for c in standard.categories]
    scope = {"type": "http", "query_string": urlencode(pairs).encode(), "headers": []}
    assert head_refusal(scope) is None
