"""One refresh token used by RACERS requests at once: exactly one succeeds.

Refresh tokens rotate on every use, and a reuse revokes the whole family (RFC 9700
§4.14.2, gateway/oauth/store.py): the redeeming UPDATE is conditional, so of
concurrent uses one wins; every loser counts as a reuse and revokes the grant, the
winner's new tokens included. Against ``accord serve`` on SQLite and PostgreSQL, for
ROUNDS fresh sign-ins: one 200, RACERS - 1 ``invalid_grant``; then the winner's new
refresh token is refused and its access tokens introspect inactive. A control shows
that rotation without reuse keeps working.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.e2e.live import free_port
from tests.reliability.alliance import register_platform
from tests.reliability.databases import fresh_database
from tests.reliability.figures import Figures
from tests.reliability.served import Gateway, gateway_env, migrated, running
from tests.reliability.signin import RelyingParty, register_rp, sign_in

pytestmark = pytest.mark.slow

ROUNDS = 5
RACERS = 16  # below the worker's 40 threads (see test_crash.py)
REVOCATION_SECONDS = 3.0  # a worker trusts its memory for 1 s at most (gateway/changes.py)


def _refresh(url: str, rp: RelyingParty, token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": token}
    return httpx.post(f"{url}/token", data=form, auth=rp.auth, timeout=30)


async def _race(url: str, rp: RelyingParty, token: str) -> list[httpx.Response]:
    form = {"grant_type": "refresh_token", "refresh_token": token}
    limits = httpx.Limits(max_connections=RACERS)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        # Connections first, so the refreshes leave together.
        await asyncio.gather(*(client.get("/healthz") for _ in range(RACERS)))
        return await asyncio.gather(
            *(client.post("/token", data=form, auth=rp.auth) for _ in range(RACERS))
        )


def _inactive(url: str, rp: RelyingParty, token: str) -> bool:
    """Whether introspection says inactive within REVOCATION_SECONDS."""
    deadline = time.monotonic() + REVOCATION_SECONDS
    while True:
        answer = httpx.post(f"{url}/introspect", data={"token": token}, auth=rp.auth, timeout=30)
        assert answer.status_code == 200, answer.text
        if answer.json()["active"] is False:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def _error(response: httpx.Response) -> Any:
    return response.json().get("error")


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_uses_of_one_refresh_token_let_exactly_one_through(
    backend: str, tmp_path: Path, figures: Figures
) -> None:
    figures.note("backend", backend)
    with fresh_database(backend, tmp_path) as database_url:
        migrated(database_url)
        gateway = Gateway(gateway_env(tmp_path, database_url, free_port()), tmp_path / "log")
        with running(gateway):
            url = gateway.url
            platform = register_platform(url, gateway.operator, "race")
            rp = register_rp(url, gateway.operator, "race-rp")

            # Control: rotation without reuse works, twice in a row.
            tokens = sign_in(url, platform, rp, "control")
            first = _refresh(url, rp, tokens["refresh_token"])
            assert first.status_code == 200, first.text
            second = _refresh(url, rp, first.json()["refresh_token"])
            assert second.status_code == 200, second.text
            figures.add("requests_sent", 2)

            for round_ in range(ROUNDS):
                tokens = sign_in(url, platform, rp, f"racer-{round_}")
                answers = asyncio.run(_race(url, rp, tokens["refresh_token"]))
                figures.add("requests_sent", RACERS)
                won = [a for a in answers if a.status_code == 200]
                lost = [a for a in answers if a.status_code != 200]
                assert len(won) == 1, [(a.status_code, a.text[:120]) for a in answers]
                assert {(a.status_code, _error(a)) for a in lost} == {(400, "invalid_grant")}
                figures.add("succeeded", len(won))
                figures.add("refused_invalid_grant", len(lost))

                # The losers were reuses: the family is revoked, the winner's tokens too.
                winner = won[0].json()
                again = _refresh(url, rp, winner["refresh_token"])
                assert (again.status_code, _error(again)) == (400, "invalid_grant")
                assert _inactive(url, rp, winner["access_token"])
                assert _inactive(url, rp, tokens["access_token"])
                figures.add("requests_sent", 3)
            figures.add("races", ROUNDS)
            figures.add("lost", 0)
