"""Hundreds of concurrent writes into one worker: every one lands, none waits for a
thread it can never get.

A worker runs synchronous endpoints, their dependencies, the validation of their
responses and their commits on anyio's thread limiter. Before the admission limit
(gateway/admission.py), 50 concurrent consent writes against one worker held all 40
threads waiting for a database lock whose holder needed a thread to commit: nothing
was acknowledged for 30 s, then 129 writes answered 500 (docs/reliability.md,
finding 1). Here WRITES writes leave at once, each on a connection of its own, to
``accord serve`` with one worker, on SQLite and on PostgreSQL; every one must be
acknowledged (201), none may take as long as the database's lock timeout, and each
must read back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest

from sdk.consents import NewConsent
from tests.conftest import BACKENDS
from tests.e2e.live import free_port
from tests.reliability.alliance import (
    CATEGORIES,
    NOTICE_ID,
    PURPOSE,
    Platform,
    consents_in_force,
    publish_notice,
    register_platform,
)
from tests.reliability.databases import fresh_database
from tests.reliability.figures import Figures
from tests.reliability.served import Gateway, gateway_env, migrated, running

pytestmark = pytest.mark.slow

WRITES = 300  # at once: past the worker's admission limit (64) and its 80 threads
PLATFORMS = 4
LOCK_TIMEOUT = 30.0  # SQLite's busy timeout and the pool's: a stalled write waits this long
DEADLINE = 120.0  # for the whole burst, on a machine busy with other tests


async def _burst(url: str, platforms: list[Platform], version: int) -> list[tuple[int, float]]:
    """Every write at once, each on its own connection; (status, seconds) of each."""
    limits = httpx.Limits(max_connections=WRITES, max_keepalive_connections=0)
    start = asyncio.Event()
    async with httpx.AsyncClient(base_url=url, timeout=DEADLINE, limits=limits) as client:

        async def write(n: int) -> tuple[int, float]:
            platform = platforms[n % len(platforms)]
            body = NewConsent(uuid.uuid4().hex, PURPOSE, CATEGORIES, NOTICE_ID, version).body()
            await start.wait()
            began = time.monotonic()
            answer = await client.post("/v1/consents", json=body, auth=platform.auth)
            return answer.status_code, time.monotonic() - began

        tasks = [asyncio.create_task(write(n)) for n in range(WRITES)]
        await asyncio.sleep(0)  # every task waits at the start line
        start.set()
        return await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hundreds_of_concurrent_writes_into_one_worker_all_land(
    backend: str, tmp_path: Path, figures: Figures
) -> None:
    figures.note("backend", backend)
    with fresh_database(backend, tmp_path) as database_url:
        migrated(database_url)
        env = gateway_env(tmp_path, database_url, free_port())
        gateway = Gateway(env, tmp_path / "gateway.log")
        with running(gateway):
            url = gateway.url
            platforms = [
                register_platform(url, gateway.operator, f"s{n}") for n in range(PLATFORMS)
            ]
            version = publish_notice(url, gateway.operator)
            began = time.monotonic()
            answers = asyncio.run(_burst(url, platforms, version))
            figures.note("burst_seconds", round(time.monotonic() - began, 1))
            figures.add("requests_sent", WRITES)
            statuses = sorted({status for status, _ in answers})
            acknowledged = sum(1 for status, _ in answers if status == 201)
            figures.add("acknowledged", acknowledged)
            slowest = max(seconds for _, seconds in answers)
            figures.note("slowest_write_seconds", round(slowest, 2))
            assert statuses == [201], f"statuses {statuses}\n{gateway.tail()}"
            assert slowest < LOCK_TIMEOUT, f"a write waited {slowest:.1f} s: a stall"
            assert len(consents_in_force(url, platforms)) == WRITES
            figures.add("lost", WRITES - acknowledged)
