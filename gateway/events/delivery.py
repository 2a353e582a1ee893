"""Push-based SET delivery (RFC 8935): the dispatcher that drains the outbox.

Each round claims the *head* of every recipient's queue (its oldest pending SET, if
due), so one recipient's SETs arrive in order and a recipient that is down costs one
attempt per backoff period without holding up anyone else. A claim is a lease: the
row's ``next_attempt_at`` moves past the send, in a transaction of its own, so several
gateway workers never send the same row at once (PostgreSQL also skips rows another
worker has locked) and a worker that dies mid-send leaves a row that is retried when
its lease runs out. A SET may thus arrive twice, never zero times: receivers
deduplicate by ``jti`` (RFC 8935 §4).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
from sqlalchemy import CursorResult, select, update
from sqlmodel import Session

from gateway.db import core, transaction, utcnow
from gateway.events import types
from gateway.events.models import DeliveryState, EventStream, StreamStatus
from gateway.events.outbox import OUTBOX, settle_unwanted
from gateway.events.responses import Outcome, judge
from gateway.events.sets import sign
from gateway.runtime import Runtime

log = logging.getLogger("accord.events")

STREAMS = core(EventStream)
BASE_DELAY = 1.0  # seconds; doubled after each failure, with jitter
MAX_DELAY = 600.0
LEASE = timedelta(seconds=60)  # longer than one send can take (the timeouts below)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_ROUNDS = 50  # per run: later rows wait for the next run


@dataclass(frozen=True)
class Attempt:
    id: int
    jti: str
    attempts: int
    url: str
    authorization: str | None
    token: str
    created_at: datetime


@dataclass(frozen=True)
class Told:
    """What one attempt came to, for the metrics: delivered (with its lag from the SET's
    creation, in seconds), retried later, or dead."""

    outcome: str
    lag: float | None = None


def backoff(attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
    """Seconds before try ``attempt + 1``: exponential, capped, with half of it jittered
    so recipients recovering together are not hit by every worker at once."""
    delay: float = min(MAX_DELAY, BASE_DELAY * 2.0 ** (attempt - 1))
    delay = delay / 2 + rng.uniform(0, delay / 2)
    if retry_after is not None:  # RFC 9110 §10.2.3, honoured up to the cap
        delay = max(delay, min(retry_after, MAX_DELAY))
    return delay


class Dispatcher:
    def __init__(
        self,
        rt: Runtime,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        max_attempts: int | None = None,
        batch: int = 100,
        workers: int = 8,
    ) -> None:
        self.rt = rt
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.max_attempts = max_attempts or rt.settings.events_max_attempts
        self.batch = batch
        self.stopping = False
        # Redirects are not followed: a SET goes only to the URL the receiver registered.
        self.http = httpx.Client(transport=transport, timeout=TIMEOUT, follow_redirects=False)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="accord-push")

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.http.close()

    def run_once(self, now: datetime | None = None) -> int:
        """Send what is due at ``now``; returns how many SETs were attempted."""
        now = now or self.clock()
        sent = 0
        for _ in range(MAX_ROUNDS):
            if self.stopping:
                break
            with transaction(self.rt.sessions) as session:
                attempts = self._claim(session, now)
            if not attempts:
                break
            outcomes = list(self.pool.map(self._send, attempts))
            with transaction(self.rt.sessions) as session:
                told = [
                    self._record(session, attempt, outcome, now)
                    for attempt, outcome in zip(attempts, outcomes, strict=True)
                ]
            for each in told:  # once recorded: a failed write is retried, not counted
                self.rt.metrics.delivery("push", each.outcome, each.lag)
            sent += len(attempts)
        return sent

    # --- claim -----------------------------------------------------------------------

    def _heads(self, session: Session, now: datetime) -> list[Any]:
        earlier = OUTBOX.alias("earlier")
        queued_before = (
            select(earlier.c.id)
            .where(
                earlier.c.recipient_id == OUTBOX.c.recipient_id,
                earlier.c.state == DeliveryState.pending,
                earlier.c.id < OUTBOX.c.id,
            )
            .exists()
        )
        query = (
            select(OUTBOX, STREAMS.c.id.label("stream_id"))
            .join(STREAMS, STREAMS.c.member_id == OUTBOX.c.recipient_id)
            .where(
                OUTBOX.c.state == DeliveryState.pending,
                OUTBOX.c.next_attempt_at <= now,
                ~queued_before,
                STREAMS.c.delivery_method == types.PUSH,
                STREAMS.c.status == StreamStatus.enabled,
            )
            .order_by(OUTBOX.c.id)
            .limit(self.batch)
            .with_for_update(of=OUTBOX, skip_locked=True)  # PostgreSQL; SQLite ignores it
        )
        return list(session.execute(query).all())

    def _claim(self, session: Session, now: datetime) -> list[Attempt]:
        heads = self._heads(session, now)
        unwanted = {
            row.stream_id: row
            for row in heads
            if not types.is_wanted(row.event_type, self._stream(session, row).events_delivered)
        }
        if unwanted:  # settle them in bulk, then look again
            for row in unwanted.values():
                settle_unwanted(session, self._stream(session, row), now=now)
            heads = self._heads(session, now)
        claimed = []
        for row in heads:
            stream = self._stream(session, row)
            if not types.is_wanted(row.event_type, stream.events_delivered):
                continue
            leased = session.execute(
                update(OUTBOX)
                .where(
                    OUTBOX.c.id == row.id,
                    OUTBOX.c.state == DeliveryState.pending,
                    OUTBOX.c.next_attempt_at == row.next_attempt_at,
                )
                .values(next_attempt_at=now + LEASE)
            )
            if cast(CursorResult[Any], leased).rowcount != 1:  # another worker took it first
                continue
            token = sign(
                row, issuer=self.rt.settings.issuer, audience=stream.aud, keys=self.rt.keys
            )
            claimed.append(
                Attempt(
                    row.id,
                    row.jti,
                    row.attempts,
                    stream.endpoint_url,
                    stream.authorization_header,
                    token,
                    row.created_at,
                )
            )
        return claimed

    @staticmethod
    def _stream(session: Session, row: Any) -> EventStream:
        stream = session.get(EventStream, row.stream_id)
        if stream is None:  # cannot happen: joined in the same transaction
            raise LookupError(row.stream_id)
        return stream

    # --- send and record -------------------------------------------------------------

    def _send(self, attempt: Attempt) -> Outcome:
        headers = {"Content-Type": types.SET_MEDIA_TYPE, "Accept": "application/json"}
        if attempt.authorization:
            headers["Authorization"] = attempt.authorization  # RFC 8935 §2, SSF §6.1.1
        try:
            response = self.http.post(attempt.url, content=attempt.token, headers=headers)
        except httpx.HTTPError as exc:
            return Outcome.retry(f"unreachable: {type(exc).__name__}")
        return judge(response)

    def _record(self, session: Session, attempt: Attempt, outcome: Outcome, now: datetime) -> Told:
        tries = attempt.attempts + 1
        values: dict[str, Any] = {"attempts": tries, "last_error": outcome.error}
        if outcome.delivered:
            values |= {"state": DeliveryState.delivered, "delivered_at": now}
            told = Told("delivered", (now - attempt.created_at).total_seconds())
        elif outcome.permanent or tries >= self.max_attempts:
            values["state"] = DeliveryState.dead
            if not outcome.permanent:
                values["last_error"] = f"gave up after {tries} attempts: {outcome.error}"[:200]
            log.warning("SET %s dead-lettered: %s", attempt.jti, values["last_error"])
            told = Told("dead")
        else:
            delay = backoff(tries, self.rng, outcome.retry_after)
            values["next_attempt_at"] = now + timedelta(seconds=delay)
            told = Told("retried")
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == attempt.id, OUTBOX.c.state == DeliveryState.pending)
            .values(**values)
        )
        return told
