"""Admission: how many requests one worker handles at once, and the threads they need.

A synchronous endpoint runs on a thread of anyio's limiter, and so do its synchronous
dependencies, the validation of its response and the commit of its transaction — one
after the other, each needing a free thread. A request that holds a database lock (a
SQLite write, a PostgreSQL row) between its endpoint and its commit must get a thread
again to let it go. With more requests in a worker than threads, every thread can be
held by a request waiting for that lock while its holder waits for a thread: nothing
moves until the database's busy timeout fails the waiters (docs/reliability.md,
finding 1).

So a worker admits at most ``limit`` requests at once, and its thread limiter has
:data:`RESERVED_THREADS` more threads than that (for the background jobs): every
admitted request always finds a thread. Requests past the limit wait here, holding
no thread and no connection, in arrival order, for at most ``wait`` seconds; then they
are answered 503 ``temporarily_unavailable`` with ``Retry-After``. Liveness
(``/healthz``) is never queued.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import CATALOG, Unavailable
from gateway.limits import send_problem

RESERVED_THREADS = 16  # the background jobs' (log sequencer, outbox, change poller, ...)
NOT_QUEUED = frozenset({"/healthz"})


def size_thread_limiter(limit: int) -> int:
    """Give the running event loop's default thread limiter ``limit`` plus the reserve
    (never fewer than anyio's 40); the number it now has."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = max(int(limiter.total_tokens), limit + RESERVED_THREADS)
    return int(limiter.total_tokens)


class Admission:
    """At most ``limit`` requests inside ``app`` at once; the others wait up to ``wait``
    seconds in arrival order, then get a 503."""

    def __init__(self, app: ASGIApp, *, limit: int, wait: float) -> None:
        if limit < 1 or wait < 0:
            raise ValueError("limit must be at least 1 and wait at least 0")
        self.app = app
        self.limit = limit
        self.wait = wait
        self.inside = 0
        self.waiting: deque[asyncio.Future[None]] = deque()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in NOT_QUEUED:
            await self.app(scope, receive, send)
            return
        if not await self._enter():
            retry = max(1, math.ceil(self.wait))
            detail = f"The gateway is at its limit of {self.limit} requests; retry later."
            await send_problem(
                send, CATALOG[Unavailable], detail, [("Retry-After", str(retry))], close=True
            )
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._leave()

    async def _enter(self) -> bool:
        if self.inside < self.limit and not self.waiting:
            self.inside += 1
            return True
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(turn)
        try:
            await asyncio.wait_for(asyncio.shield(turn), self.wait)
        except (TimeoutError, asyncio.CancelledError) as stopped:
            # Timed out, or the client went away: out of the line. A place handed over
            # at that very moment is passed on.
            if turn.done() and not turn.cancelled():
                self._leave()
            else:
                turn.cancel()
                self.waiting.remove(turn)
            if isinstance(stopped, asyncio.CancelledError):
                raise
            return False
        return True

    def _leave(self) -> None:
        """One request is done: its place goes to the longest waiter still waiting."""
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the place passes over: ``inside`` stays
                return
        self.inside -= 1
