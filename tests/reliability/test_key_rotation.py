"""Signing keys rotated ROTATIONS times under load: no verification ever fails.

``accord serve --workers 2`` (each worker with its own key cache) issues
client_credentials access tokens (RFC 9068 JWTs) to CLIENTS concurrent clients. Each
client verifies every token as a relying party does, against the JWK Set held in the
SDK's KeyCache, refreshed more often than keys are published ahead of use (max_age
below the overlap, as with the defaults: a 1 h cache, a 24 h overlap), and asks the
gateway to introspect it (the gateway verifying its own signature in whichever worker
answers). Meanwhile the keys are rotated ROTATIONS times, as ``accord keys rotate``
does, with an overlap of OVERLAP seconds: new keys are published, start signing and
retire old ones while tokens flow. Zero failures, and every key that became active
must have signed tokens.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from gateway.keys import KeyRing
from sdk.jwks import KeyCache, UnsuitableKey
from tests.e2e.live import free_port
from tests.reliability.alliance import Platform, register_platform
from tests.reliability.figures import Figures
from tests.reliability.served import Gateway, gateway_env, migrated, running

pytestmark = pytest.mark.slow

CLIENTS = 8
ROTATIONS = 4
OVERLAP = 2.0  # seconds between a key's publication and its first signature
LOAD_SECONDS = 60.0  # the bound: rotations end well before


def _rotate(key_dir: Path, times: int, done: threading.Event, log: list[str]) -> None:
    """What ``accord keys rotate --overlap-hours OVERLAP/3600`` does (the command calls
    this method on the same key folder), here without a process start each time."""
    try:
        ring = KeyRing(key_dir)
        for _ in range(times):
            time.sleep(OVERLAP)
            key = ring.rotate("ES256", overlap=timedelta(seconds=OVERLAP))
            log.append(key.kid)
        time.sleep(OVERLAP + 2.0)  # the last key signs for a while too
    finally:
        done.set()


class Verifier:
    """A relying party's check of an access token: the SDK's key cache, PyJWT. The
    cache is refreshed within half the overlap, so a key is held before it signs."""

    def __init__(self, client: httpx.AsyncClient, issuer: str) -> None:
        self.client, self.issuer = client, issuer
        self.cache = KeyCache(refetch_interval=1.0, max_age=OVERLAP / 2)
        self.fetches = 0

    async def _fetch(self) -> None:
        self.cache.load((await self.client.get("/.well-known/jwks.json")).json())
        self.fetches += 1

    async def verify(self, token: str) -> dict[str, Any]:
        header = jwt.get_unverified_header(token)
        if header.get("typ") != "at+jwt":
            raise jwt.InvalidTokenError(f"typ {header.get('typ')!r}")
        kid, alg = header["kid"], header["alg"]
        if self.cache.stale() or (not self.cache.knows(kid) and self.cache.claim_refetch()):
            await self._fetch()
        key = self.cache.key(kid, alg)  # KeyError: the set has no such key
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[alg], issuer=self.issuer, audience=self.issuer
        )
        return claims


async def _load(url: str, platform: Platform, done: threading.Event, figures: Figures) -> set[str]:
    """Issue, verify and introspect until ``done``; the kids that signed."""
    kids: set[str] = set()
    failures: list[str] = []
    limits = httpx.Limits(max_connections=CLIENTS * 2)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        verifier = Verifier(client, url)
        deadline = time.monotonic() + LOAD_SECONDS

        async def one_client() -> None:
            while not done.is_set() and time.monotonic() < deadline:
                issued = await client.post(
                    "/token", data={"grant_type": "client_credentials"}, auth=platform.auth
                )
                figures.add("requests_sent")
                if issued.status_code != 200:
                    failures.append(f"issue {issued.status_code}: {issued.text[:120]}")
                    continue
                token = issued.json()["access_token"]
                kids.add(jwt.get_unverified_header(token)["kid"])
                try:
                    await verifier.verify(token)
                    figures.add("verified_by_client")
                except (jwt.PyJWTError, KeyError, UnsuitableKey) as exc:
                    failures.append(f"client: {type(exc).__name__}: {exc}")
                seen = await client.post("/introspect", data={"token": token}, auth=platform.auth)
                figures.add("requests_sent")
                if seen.status_code == 200 and seen.json().get("active") is True:
                    figures.add("verified_by_gateway")
                else:
                    failures.append(f"introspect {seen.status_code}: {seen.text[:120]}")

        await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
        figures.add("jwks_fetches", verifier.fetches)
    figures.add("failed_verifications", len(failures))
    assert failures == [], failures[:10]
    return kids


def test_keys_rotated_under_load_never_fail_a_verification(
    tmp_path: Path, figures: Figures
) -> None:
    database_url = f"sqlite:///{tmp_path}/accord.db"
    migrated(database_url)
    env = gateway_env(tmp_path, database_url, free_port())
    gateway = Gateway(env, tmp_path / "gateway.log", workers=2)
    with running(gateway):
        platform = register_platform(gateway.url, gateway.operator, "keys")
        jwks = httpx.get(f"{gateway.url}/.well-known/jwks.json", timeout=30).json()
        first_kid = jwks["keys"][0]["kid"]
        done, rotated = threading.Event(), list[str]()
        key_dir = Path(env["ACCORD_KEY_DIR"])
        rotator = threading.Thread(target=_rotate, args=(key_dir, ROTATIONS, done, rotated))
        rotator.start()
        try:
            kids = asyncio.run(_load(gateway.url, platform, done, figures))
        finally:
            done.set()
            rotator.join(timeout=120)
    assert len(rotated) == ROTATIONS, rotated
    figures.add("faults_injected", ROTATIONS)  # key rotations under load
    figures.note("signing_keys_seen", len(kids))
    figures.add("lost", 0)
    # Every rotation's key signed: the first key and one per rotation.
    assert first_kid in kids and len(kids) == ROTATIONS + 1, (first_kid, kids, rotated)
