"""Login and link challenges: single-use, short-lived, bound to the browser that started
them and to the platform that was chosen."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from gateway.consents import upkeep
from gateway.db import transaction, utcnow
from gateway.errors import ChallengeExpired, ChallengeUsed, Forbidden, InvalidRequest, NotFound
from gateway.identity.challenges import (
    RETURN_PATH,
    TRANSITIONS,
    Acceptance,
    Action,
    ChallengeKind,
    Challenges,
    ChallengeState,
    prune,
    sources,
    target,
)
from gateway.identity.models import LoginChallenge
from gateway.members.models import Member
from gateway.runtime import Runtime
from sdk import (
    AsyncPlatformClient,
    BadRequestError,
    ConflictError,
    GoneError,
    NotFoundError,
    hash_identifier,
)
from tests.gateway.alliance import Alliance

pytestmark = pytest.mark.anyio

BROWSER = "browser-binding-secret-0123456789abcdef"
HASH = "A" * 43


def challenges(session: Session, runtime: Runtime, at: datetime | None = None) -> Challenges:
    return Challenges(
        session,
        runtime.hasher,
        issuer=runtime.settings.issuer,
        ttl=timedelta(seconds=runtime.settings.challenge_ttl),
        clock=(lambda: at) if at is not None else utcnow,
    )


def member(session: Session, member_id: str) -> Member:
    found = session.get(Member, member_id)
    assert found is not None
    return found


def open_challenge(
    runtime: Runtime,
    platform_id: str,
    kind: ChallengeKind = ChallengeKind.login,
    *,
    at: datetime | None = None,
    client_id: str | None = None,
) -> str:
    with transaction(runtime.sessions) as session:
        opened = challenges(session, runtime, at).open(
            kind, member(session, platform_id), BROWSER, client_id=client_id
        )
    return opened.challenge


def complete(runtime: Runtime, redirect_to: str, browser: str = BROWSER) -> LoginChallenge:
    parts = urlsplit(redirect_to)
    assert parts.path == RETURN_PATH
    (verifier,) = parse_qs(parts.query)["verifier"]
    with transaction(runtime.sessions) as session:
        return challenges(session, runtime).complete(verifier, browser)


def test_the_lifecycle_table_is_closed() -> None:
    assert set(TRANSITIONS) == set(ChallengeState)
    for moves in TRANSITIONS.values():
        assert set(moves.values()) <= set(ChallengeState)
    assert TRANSITIONS[ChallengeState.completed] == {}  # single use: nothing after
    assert sources(Action.accept) == [ChallengeState.pending]
    assert target(Action.complete) is ChallengeState.completed
    assert set(sources(Action.complete)) == {ChallengeState.accepted, ChallengeState.rejected}


async def test_a_login_round_trip(
    alliance: Alliance, runtime: Runtime, redleaf: AsyncPlatformClient
) -> None:
    # As /authorize opens it: with the relying party's OAuth client_id.
    brand = alliance.brand_a["client_id"]
    challenge = open_challenge(runtime, alliance.platform["id"], client_id=brand)
    info = await redleaf.describe_challenge(challenge)
    assert (info.kind, info.state) == ("login", "pending")
    assert info.client == {"name": alliance.brand_a["name"], "kind": "brand"}
    assert info.expires_at - info.requested_at == timedelta(seconds=600)

    salt = (await redleaf.alliance_salt()).current  # issued on first use
    phone = hash_identifier(salt, "phone", "+8613800138000")
    redirect_to = await redleaf.accept_login(
        challenge,
        "u-1001",
        acr="urn:accord:acr:pwd+otp",
        amr=["pwd", "otp", "otp"],
        verified_identifiers=[phone],
    )
    assert redirect_to.startswith(f"{alliance.issuer}{RETURN_PATH}?verifier=")
    done = complete(runtime, redirect_to)
    assert done.state == "completed" and done.error is None
    assert (done.account_id, done.acr, done.amr) == (
        "u-1001",
        "urn:accord:acr:pwd+otp",
        ["pwd", "otp"],
    )
    assert done.identifiers == [{"type": "phone", "hash": phone.hash, "salt_version": salt.version}]

    # Only keyed hashes are at rest: neither the challenge nor the verifier.
    verifier = parse_qs(urlsplit(redirect_to).query)["verifier"][0]
    with runtime.sessions() as session:
        row = session.execute(select(LoginChallenge)).scalar_one()
    stored = repr(row.model_dump())
    assert challenge not in stored and verifier not in stored and BROWSER not in stored


async def test_a_rejection_returns_the_browser_with_the_error(
    alliance: Alliance, runtime: Runtime, redleaf: AsyncPlatformClient
) -> None:
    challenge = open_challenge(runtime, alliance.platform["id"])
    redirect_to = await redleaf.reject_login(
        challenge, error="login_required", description="the user cancelled"
    )
    done = complete(runtime, redirect_to)
    assert (done.error, done.error_description, done.account_id) == (
        "login_required",
        "the user cancelled",
        None,
    )


async def test_a_link_challenge_is_answered_as_a_link(
    alliance: Alliance, runtime: Runtime, redleaf: AsyncPlatformClient
) -> None:
    challenge = open_challenge(runtime, alliance.platform["id"], ChallengeKind.link)
    with pytest.raises(BadRequestError, match="link challenge"):
        await redleaf.accept_login(challenge, "u-1")
    assert (await redleaf.describe_challenge(challenge)).kind == "link"
    done = complete(runtime, await redleaf.accept_link(challenge, "u-1"))
    assert done.kind == "link" and done.account_id == "u-1"


async def test_a_challenge_is_answered_once(
    alliance: Alliance, runtime: Runtime, redleaf: AsyncPlatformClient
) -> None:
    challenge = open_challenge(runtime, alliance.platform["id"])
    redirect_to = await redleaf.accept_login(challenge, "u-1001")
    for again in (
        redleaf.accept_login(challenge, "u-666"),
        redleaf.reject_login(challenge),
    ):
        with pytest.raises(ConflictError) as caught:
            await again
        assert caught.value.code == "challenge_used"
    assert complete(runtime, redirect_to).account_id == "u-1001"  # the first answer stands
    with pytest.raises(ChallengeUsed):  # and the browser's return is single-use too
        complete(runtime, redirect_to)


async def test_only_the_browser_that_started_it_completes_it(
    alliance: Alliance, runtime: Runtime, redleaf: AsyncPlatformClient
) -> None:
    challenge = open_challenge(runtime, alliance.platform["id"])
    redirect_to = await redleaf.accept_login(challenge, "u-1001")
    with pytest.raises(Forbidden):
        complete(runtime, redirect_to, browser="an-attackers-browser")
    assert complete(runtime, redirect_to).state == "completed"  # still the person's
    with pytest.raises(NotFound):
        complete(runtime, f"{alliance.issuer}{RETURN_PATH}?verifier=not-a-verifier")


async def test_another_platform_cannot_see_or_answer_it(
    alliance: Alliance, runtime: Runtime
) -> None:
    challenge = open_challenge(runtime, alliance.platform["id"])
    async with alliance.keyed_client() as bluefin:
        for call in (
            bluefin.describe_challenge(challenge),
            bluefin.accept_login(challenge, "u-1001"),
            bluefin.reject_login(challenge),
        ):
            with pytest.raises(NotFoundError):
                await call
    async with alliance.platform_client() as redleaf:
        assert (await redleaf.describe_challenge(challenge)).state == "pending"


async def test_an_expired_challenge_is_gone(
    alliance: Alliance, runtime: Runtime, redleaf: AsyncPlatformClient
) -> None:
    long_ago = utcnow() - timedelta(seconds=601)
    challenge = open_challenge(runtime, alliance.platform["id"], at=long_ago)
    for call in (
        redleaf.describe_challenge(challenge),
        redleaf.accept_login(challenge, "u-1001"),
        redleaf.reject_login(challenge),
    ):
        with pytest.raises(GoneError) as caught:
            await call
        assert caught.value.code == "expired_challenge"

    # Accepted in time, but the browser came back too late.
    fresh = open_challenge(runtime, alliance.platform["id"])
    redirect_to = await redleaf.accept_login(fresh, "u-1001")
    verifier = parse_qs(urlsplit(redirect_to).query)["verifier"][0]
    with transaction(runtime.sessions) as session:
        later = utcnow() + timedelta(seconds=601)
        with pytest.raises(ChallengeExpired):
            challenges(session, runtime, later).complete(verifier, BROWSER)
        assert prune(session, later) == 2  # the upkeep job forgets both
    with runtime.sessions() as session:
        assert session.execute(select(LoginChallenge)).first() is None


def test_concurrent_answers_have_one_winner(alliance: Alliance, runtime: Runtime) -> None:
    challenge = open_challenge(runtime, alliance.platform["id"])
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def answer(n: int) -> None:
        start.wait()
        try:
            with transaction(runtime.sessions) as session:
                platform = member(session, alliance.platform["id"])
                challenges(session, runtime).accept(
                    challenge, platform, ChallengeKind.login, Acceptance(f"u-{n}")
                )
            outcomes.append("accepted")
        except ChallengeUsed:
            outcomes.append("used")

    threads = [threading.Thread(target=answer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["accepted"] + ["used"] * 7


def test_only_an_active_platform_takes_a_challenge(alliance: Alliance, runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        brand = member(session, alliance.brand_a["id"])
        with pytest.raises(InvalidRequest):
            challenges(session, runtime).open(ChallengeKind.login, brand, BROWSER)


def _post(
    client: TestClient, alliance: Alliance, path: str, body: Any, who: str = "platform"
) -> Any:
    auth = {
        "platform": (alliance.platform["client_id"], alliance.platform_secret),
        "brand": (alliance.brand_a["client_id"], alliance.brand_a_secret),
        "wrong": (alliance.platform["client_id"], "not-the-secret"),
    }.get(who)
    return client.post(f"/v1/challenges/{path}", json=body, auth=auth)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        pytest.param("describe", {}, "challenge", id="missing-challenge"),
        pytest.param("describe", {"challenge": "x" * 129}, "challenge", id="oversized-challenge"),
        pytest.param("describe", {"challenge": "a b"}, "challenge", id="bad-characters"),
        pytest.param("describe", {"challenge": "c", "extra": 1}, "extra", id="unknown-field"),
        pytest.param("login/accept", {"challenge": "c"}, "account_id", id="no-account"),
        pytest.param(
            "login/accept",
            {"challenge": "c", "account_id": "u" * 256},
            "account_id",
            id="long-account",
        ),
        pytest.param(
            "login/accept",
            {"challenge": "c", "account_id": "u", "amr": ["PWD!"]},
            "amr",
            id="bad-amr",
        ),
        pytest.param(
            "login/accept",
            {"challenge": "c", "account_id": "u", "amr": ["pwd"] * 9},
            "amr",
            id="too-many-amr",
        ),
        pytest.param(
            "login/accept",
            {
                "challenge": "c",
                "account_id": "u",
                "verified_identifiers": [{"type": "phone", "hash": "short", "salt_version": 1}],
            },
            "hash",
            id="bad-identifier-hash",
        ),
        pytest.param(
            "login/accept",
            {
                "challenge": "c",
                "account_id": "u",
                "verified_identifiers": [{"type": "passport", "hash": HASH, "salt_version": 1}],
            },
            "type",
            id="identifier-type",
        ),
        pytest.param(
            "reject", {"challenge": "c", "error": "server_error"}, "error", id="reject-code"
        ),
        pytest.param(
            "reject",
            {"challenge": "c", "error_description": "x" * 301},
            "error_description",
            id="long-description",
        ),
    ],
)
def test_malformed_answers_are_400_and_change_nothing(
    alliance: Alliance, client: TestClient, runtime: Runtime, path: str, body: Any, field: str
) -> None:
    challenge = open_challenge(runtime, alliance.platform["id"])
    if "challenge" in body and body["challenge"] == "c":
        body = {**body, "challenge": challenge}
    response = _post(client, alliance, path, body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.json()["error_description"]
    assert (
        _post(client, alliance, "describe", {"challenge": challenge}).json()["state"] == "pending"
    )


@pytest.mark.parametrize(
    ("who", "status"),
    [
        pytest.param("brand", 403, id="a-brand"),
        pytest.param(None, 401, id="no-credential"),
        pytest.param("wrong", 401, id="wrong-secret"),
    ],
)
def test_only_a_platform_with_its_credential_answers(
    alliance: Alliance, client: TestClient, runtime: Runtime, who: str | None, status: int
) -> None:
    challenge = open_challenge(runtime, alliance.platform["id"])
    body = {"challenge": challenge, "account_id": "u-1"}
    response = _post(client, alliance, "login/accept", body, who=who or "none")
    assert response.status_code == status
    assert (
        _post(client, alliance, "describe", {"challenge": challenge}).json()["state"] == "pending"
    )


def test_the_upkeep_job_forgets_expired_challenges(alliance: Alliance, runtime: Runtime) -> None:
    open_challenge(runtime, alliance.platform["id"], at=utcnow() - timedelta(seconds=601))
    live = open_challenge(runtime, alliance.platform["id"])
    upkeep.expire_due(runtime)
    with runtime.sessions() as session:
        (kept,) = session.execute(select(LoginChallenge)).scalars()
    assert kept.id == runtime.hasher.hash(live)
