"""kill -9 during 1,000 concurrent consent writes: nothing acknowledged is lost.

``accord serve`` runs on a fresh database (SQLite, and PostgreSQL when
ACCORD_TEST_POSTGRES_URL is set) with PLATFORMS platforms, each with a push stream to
a SET receiver on 127.0.0.1, paused so that every SET waits in the outbox. CONCURRENCY
writers send WRITES consents (``POST /v1/consents``, one new person each) while a
watcher keeps the last checkpoint the log published. Once KILL_AFTER writes are
acknowledged (a 201 came back) and the watcher holds a checkpoint, the whole process
group gets SIGKILL with the other writes in flight. The gateway is started again, the
streams enabled, the writes not yet sent are sent, and then:

- every acknowledged consent reads back, in force, with its record id, from its
  platform (``GET /v1/eligibility``; a sample one by one too), and nothing else does;
- a write in flight at the kill (no answer) is all there or not at all: recorded,
  logged and announced, or none of these;
- the log's new checkpoint is consistent with the last one published before the kill
  (an RFC 9162 consistency proof), and it holds every consent event in the database;
  receipts of a sample verify offline with their inclusion proofs;
- the outbox delivers what was pending at the kill: every recorded consent's SET
  reaches its platform, nothing stays pending, nothing is dead-lettered.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gateway.db import make_engine
from sdk.consents import NewConsent
from sdk.merkle import Checkpoint, open_checkpoint, verify_consistency
from sdk.receipts import verify_receipt
from tests.conftest import BACKENDS
from tests.e2e.live import free_port, serving
from tests.reliability.alliance import (
    CATEGORIES,
    NOTICE_ID,
    PURPOSE,
    Platform,
    Received,
    consents_in_force,
    publish_notice,
    push_stream,
    receivers,
    register_platform,
    stream_status,
)
from tests.reliability.databases import fresh_database
from tests.reliability.figures import Figures
from tests.reliability.served import Gateway, gateway_env, migrated, running

pytestmark = pytest.mark.slow

WRITES = 1000
# Past the worker's admission limit (64): the rest wait their turn (gateway/admission.py).
CONCURRENCY = 96
PLATFORMS = 8  # a recipient's SETs go one at a time, in order: more queues drain faster
KILL_AFTER = 400  # acknowledged writes before the kill
RECEIPTS_CHECKED = 20
SETTLE_SECONDS = 90.0  # for the log and the outbox to catch up after the restart
TIMEOUT = 60.0  # for any one request: the machine may be busy with other tests


@dataclass
class Writes:
    """Every write's fate. ``unknown``: sent, no answer (in flight at the kill)."""

    todo: deque[tuple[Platform, str]]
    acknowledged: dict[str, tuple[Platform, str]] = field(default_factory=dict)
    unknown: list[tuple[Platform, str]] = field(default_factory=list)
    refused: list[tuple[str, int, str]] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return len(self.acknowledged) + len(self.unknown) + len(self.refused)


def _body(account: str, version: int) -> dict[str, Any]:
    return NewConsent(account, PURPOSE, CATEGORIES, NOTICE_ID, version).body()


async def _write(
    url: str, writes: Writes, version: int, kill_after: int | None, kill: Callable[[], None]
) -> None:
    """Send from ``writes.todo`` with CONCURRENCY writers; with ``kill_after``, kill the
    gateway once that many are acknowledged and a checkpoint is held, and stop taking
    new work."""
    down = asyncio.Event()
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def writer() -> None:
            while writes.todo and not down.is_set():
                platform, account = writes.todo.popleft()
                try:
                    answer = await client.post(
                        "/v1/consents", json=_body(account, version), auth=platform.auth
                    )
                except httpx.TransportError:
                    writes.unknown.append((platform, account))
                    continue
                if answer.status_code == 201:
                    writes.acknowledged[account] = (platform, answer.json()["record_id"])
                else:
                    writes.refused.append((account, answer.status_code, answer.text[:300]))
                # A fast machine acknowledges KILL_AFTER writes before the watcher's
                # first answer: the kill waits for a checkpoint to check the log against.
                due = (
                    kill_after is not None
                    and len(writes.acknowledged) >= kill_after
                    and bool(writes.checkpoints)
                )
                if due and not down.is_set():
                    down.set()
                    await asyncio.to_thread(kill)  # the other writers are in flight

        async def watch_log() -> None:
            while not down.is_set() and (writes.todo or kill_after is None):
                try:
                    note = await client.get("/.well-known/consent-log/checkpoint")
                except httpx.TransportError:
                    return
                if note.status_code == 200:
                    writes.checkpoints.append(note.text)
                await asyncio.sleep(0.2)

        watcher = asyncio.create_task(watch_log()) if kill_after is not None else None
        await asyncio.gather(*(writer() for _ in range(CONCURRENCY)))
        if watcher is not None:
            watcher.cancel()


def _wait(condition: Callable[[], bool], what: str, seconds: float = SETTLE_SECONDS) -> float:
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < seconds, f"timed out waiting for {what}"
        time.sleep(0.2)
    return time.monotonic() - began


def _checkpoint(url: str, verifier_key: str, note: str | None = None) -> Checkpoint:
    """The given checkpoint note, or the one the gateway publishes now, verified."""
    if note is None:
        note = httpx.get(f"{url}/.well-known/consent-log/checkpoint", timeout=TIMEOUT).text
    return open_checkpoint(note, verifier_key)


@dataclass
class Counts:
    """The database as the test sees it (an oracle beside the API)."""

    engine: Engine

    def of(self, sql: str) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text(sql)).scalar_one())

    def sets(self, state: str) -> int:
        with self.engine.connect() as connection:
            sql = text("SELECT count(*) FROM security_event WHERE state = :state")
            return int(connection.execute(sql, {"state": state}).scalar_one())

    def queued_leaves(self) -> int:
        return self.of("SELECT count(*) FROM log_leaf WHERE idx IS NULL")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_gateway_killed_during_consent_writes_loses_nothing(
    backend: str, tmp_path: Path, figures: Figures
) -> None:
    figures.note("backend", backend)
    with fresh_database(backend, tmp_path) as database_url:
        migrated(database_url)
        port, receiver_port = free_port(), free_port()
        env = gateway_env(tmp_path, database_url, port, events_interval=0.05)
        gateway = Gateway(env, tmp_path / "gateway.log")
        counts = Counts(make_engine(database_url))
        try:
            with running(gateway):
                _crash_and_recover(gateway, counts, receiver_port, figures)
        finally:
            counts.engine.dispose()


def _crash_and_recover(
    gateway: Gateway, counts: Counts, receiver_port: int, figures: Figures
) -> None:
    url = gateway.url
    platforms = [register_platform(url, gateway.operator, f"p{n}") for n in range(PLATFORMS)]
    version = publish_notice(url, gateway.operator)
    jwks = httpx.get(f"{url}/.well-known/jwks.json", timeout=TIMEOUT).json()
    log_info = httpx.get(f"{url}/.well-known/consent-log", timeout=TIMEOUT).json()
    verifier_key = log_info["verifier_key"]
    received = Received()
    with serving(receivers(url, jwks, platforms, received), receiver_port) as receiver_url:
        # Paused streams hold every SET in the outbox until after the restart.
        streams = [push_stream(url, p, f"{receiver_url}/{p.client_id}/") for p in platforms]
        for platform, stream in zip(platforms, streams, strict=True):
            stream_status(url, platform, stream, "paused")
        rng = random.Random(4)  # noqa: S311 - spreads writes over platforms, not a secret
        writes = Writes(deque((rng.choice(platforms), uuid.uuid4().hex) for _ in range(WRITES)))

        began = time.monotonic()
        asyncio.run(_write(url, writes, version, KILL_AFTER, gateway.kill))
        figures.note("writes_before_kill_seconds", round(time.monotonic() - began, 1))
        assert gateway.kills == 1 and writes.checkpoints, "no checkpoint before the kill"
        before = _checkpoint(url, verifier_key, writes.checkpoints[-1])
        figures.note("acknowledged_before_kill", len(writes.acknowledged))
        figures.note("in_flight_at_kill", len(writes.unknown))
        figures.note("sets_pending_at_kill", counts.sets("pending"))
        figures.note("log_leaves_queued_at_kill", counts.queued_leaves())
        figures.note("checkpoint_size_before_kill", before.size)

        figures.note("restart_seconds", round(gateway.start(), 1))
        for platform, stream in zip(platforms, streams, strict=True):
            stream_status(url, platform, stream, "enabled")
        began = time.monotonic()
        asyncio.run(_write(url, writes, version, None, gateway.kill))
        figures.note("writes_after_restart_seconds", round(time.monotonic() - began, 1))
        assert not writes.todo and writes.sent == WRITES
        assert writes.refused == [], writes.refused[:5]  # no 5xx, no refusal under load

        in_force = consents_in_force(url, platforms)
        missing = [a for a, (_, r) in writes.acknowledged.items() if in_force.get(a) != r]
        assert missing == [], f"{len(missing)} acknowledged consents are lost"
        in_flight = {a: in_force.get(a) for _, a in writes.unknown}
        assert set(in_force) <= set(writes.acknowledged) | set(in_flight)  # nothing else
        recorded = set(in_force.values())
        events = counts.of("SELECT count(*) FROM consent_event")
        assert events == len(recorded)  # one given event per consent, nothing half-written

        after = _check_log(url, verifier_key, before, events, counts, figures)
        _check_receipts(url, writes, jwks, verifier_key, after)

        # The outbox: every recorded consent announced to its platform, nothing pending.
        def delivered() -> bool:
            return recorded <= received.record_ids() and counts.sets("pending") == 0

        figures.note("outbox_settle_seconds", round(_wait(delivered, "every SET"), 1))
        assert counts.sets("dead") == 0

    figures.add("requests_sent", writes.sent)
    figures.add("acknowledged", len(writes.acknowledged))
    figures.add("faults_injected", gateway.kills)
    figures.add("lost", len(missing))
    figures.note("in_flight_committed", sum(1 for r in in_flight.values() if r is not None))
    figures.note("sets_received", received.count())
    figures.note("log_size_after", after.size)


def _check_log(
    url: str, verifier_key: str, before: Checkpoint, events: int, counts: Counts, figures: Figures
) -> Checkpoint:
    """Every leaf sequenced, and the new tree consistent with the one before the kill."""

    def sequenced() -> bool:
        return counts.queued_leaves() == 0 and _checkpoint(url, verifier_key).size == events

    figures.note("log_settle_seconds", round(_wait(sequenced, "the log to sequence"), 1))
    after = _checkpoint(url, verifier_key)
    assert after.size == events == counts.of("SELECT count(*) FROM log_leaf")
    sizes = {"first": before.size, "second": after.size}
    proof = httpx.get(f"{url}/v1/log/proofs/consistency", params=sizes, timeout=TIMEOUT).json()
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    assert verify_consistency(before.size, after.size, before.root, after.root, hashes)
    return after


def _check_receipts(
    url: str, writes: Writes, jwks: dict[str, Any], verifier_key: str, after: Checkpoint
) -> None:
    """A sample reads back one by one, and its receipts verify offline, inclusion
    proofs included."""
    acknowledged = sorted(writes.acknowledged.values(), key=lambda each: each[1])
    for platform, record_id in random.Random(5).sample(acknowledged, RECEIPTS_CHECKED):  # noqa: S311
        record = httpx.get(f"{url}/v1/consents/{record_id}", auth=platform.auth, timeout=TIMEOUT)
        assert record.status_code == 200 and record.json()["state"] == "given", record.text
        path = f"{url}/v1/consents/{record_id}/receipts/0"
        token = httpx.get(path, auth=platform.auth, timeout=TIMEOUT)
        assert token.status_code == 200, token.text
        receipt = verify_receipt(token.text, jwks=jwks, log_verifier_key=verifier_key, issuer=url)
        assert receipt.log_index < after.size
