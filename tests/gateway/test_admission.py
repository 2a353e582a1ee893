"""A worker admits a bounded number of requests; the rest wait their turn or get a 503,
and its threads outnumber what it admits. An unreachable database answers 503 too."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import Receive, Scope, Send

from gateway.admission import RESERVED_THREADS, Admission, size_thread_limiter
from gateway.app import create_app
from gateway.errors import PROBLEM_JSON, storage_unavailable
from sdk import ServerError, ServiceUnavailableError
from sdk.errors import error_from_response
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio


class Gate:
    """An ASGI app whose requests stay inside until released, in the order they came."""

    def __init__(self) -> None:
        self.inside: list[str] = []
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.inside.append(scope["path"])
        if scope["path"] != "/healthz":
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


async def until(condition: Any) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never happened")


async def test_requests_past_the_limit_wait_in_order_and_go_in_as_places_free() -> None:
    gate = Gate()
    admission = Admission(gate, limit=2, wait=5.0)
    async with client(admission) as http:
        calls = [asyncio.create_task(http.get(f"/r{n}")) for n in range(5)]
        await until(lambda: len(gate.inside) == 2 and len(admission.waiting) == 3)
        assert gate.inside == ["/r0", "/r1"] and admission.inside == 2
        gate.release.set()
        answers = await asyncio.gather(*calls)
    assert [a.status_code for a in answers] == [200] * 5
    assert gate.inside == ["/r0", "/r1", "/r2", "/r3", "/r4"]  # arrival order
    assert admission.inside == 0 and not admission.waiting


async def test_a_request_that_waits_too_long_gets_a_503_problem_with_retry_after() -> None:
    gate = Gate()
    admission = Admission(gate, limit=1, wait=0.05)
    async with client(admission) as http:
        first = asyncio.create_task(http.get("/busy"))
        await until(lambda: gate.inside == ["/busy"])
        refused = await http.get("/late")
        assert refused.status_code == 503
        assert refused.headers["content-type"] == PROBLEM_JSON
        assert refused.headers["retry-after"] == "1"
        body = refused.json()
        assert body["status"] == 503 and body["error"] == "temporarily_unavailable"
        assert "limit of 1 requests" in body["detail"]
        assert not admission.waiting  # the one that gave up left no place behind
        alive = await http.get("/healthz")  # liveness is never queued
        assert alive.status_code == 200
        gate.release.set()
        assert (await first).status_code == 200
    assert admission.inside == 0
    assert gate.inside == ["/busy", "/healthz"]  # "/late" never went in


async def test_a_waiter_that_goes_away_passes_its_turn_on() -> None:
    gate = Gate()
    admission = Admission(gate, limit=1, wait=5.0)
    async with client(admission) as http:
        first = asyncio.create_task(http.get("/a"))
        await until(lambda: gate.inside == ["/a"])
        gone = asyncio.create_task(http.get("/gone"))
        after = asyncio.create_task(http.get("/b"))
        await until(lambda: len(admission.waiting) == 2)
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        gate.release.set()
        assert (await first).status_code == 200 and (await after).status_code == 200
    assert gate.inside == ["/a", "/b"] and admission.inside == 0


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        Admission(Gate(), limit=0, wait=1.0)
    with pytest.raises(ValueError, match="wait"):
        Admission(Gate(), limit=1, wait=-1.0)


async def test_the_worker_has_more_threads_than_requests_it_admits() -> None:
    limiter = anyio.to_thread.current_default_thread_limiter()
    before = limiter.total_tokens
    try:
        assert size_thread_limiter(200) == 200 + RESERVED_THREADS == limiter.total_tokens
        assert size_thread_limiter(10) == 200 + RESERVED_THREADS  # never shrunk
    finally:
        limiter.total_tokens = before


async def test_an_unreachable_database_answers_503_with_retry_after(tmp_path: Path) -> None:
    """PostgreSQL not answering (nothing listens on the port): the write is refused
    at once with a 503 the client can retry, not a 500."""
    settings = make_settings(tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:9/none")
    app = create_app(settings)
    auth = httpx.BasicAuth("plt_unknown", "x" * 40)
    async with client(app) as http:
        answer = await http.post("/v1/consents", json={"account_id": "a"}, auth=auth)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json()["error"] == "temporarily_unavailable"
    assert "database" in answer.json()["detail"]


def test_only_outages_count_as_unavailable() -> None:
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    missing = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))
    assert storage_unavailable(PoolTimeout("QueuePool limit reached"))
    assert storage_unavailable(locked)
    assert not storage_unavailable(missing)  # a bug, not an outage: stays a 500
    assert not storage_unavailable(ProgrammingError("SELECT", {}, Exception("syntax")))


def test_the_sdk_raises_service_unavailable_with_retry_after() -> None:
    answer = httpx.Response(
        503,
        headers={"Retry-After": "1", "Content-Type": PROBLEM_JSON},
        json={"type": "urn:accord:error:temporarily_unavailable", "title": "t", "status": 503,
              "error": "temporarily_unavailable", "error_description": "retry later"},
    )  # fmt: skip
    error = error_from_response(answer)
    assert isinstance(error, ServiceUnavailableError) and isinstance(error, ServerError)
    assert error.retry_after == 1.0 and error.code == "temporarily_unavailable"
