"""Background upkeep of consent state, started by the app's lifespan:

- the log sequencer: every ``ACCORD_LOG_INTERVAL`` seconds it integrates the leaves
  consent writes queued (in batches, one signed checkpoint per batch), so writers never
  wait on each other for the log head;
- the expiry job: once a minute it appends the ``expired`` event to consents whose
  validity ended, so recipients hear of it by SET, forgets the ``jti`` of expired
  member assertions and the sign-in challenges that expired, and deletes pushed
  attributes past their retention.

Several gateway workers may each run it: the log head's row lock admits one sequencer
at a time, and expiring a consent twice is refused by its lifecycle.
"""

from __future__ import annotations

import asyncio
import logging
import time

from gateway.consents.log_store import LogIdentity, integrate
from gateway.consents.service import Consents
from gateway.db import transaction, utcnow
from gateway.identity import challenges
from gateway.identity.hints import has_salt, hints_of
from gateway.members.auth import prune_jtis
from gateway.oauth import store as oauth_store
from gateway.periodic import Periodic
from gateway.runtime import Runtime
from gateway.views.purge import purge_expired

log = logging.getLogger("accord.consents")
EXPIRY_EVERY = 60.0  # seconds


def sequence_log(rt: Runtime) -> int:
    """Integrate every queued leaf (in batches); returns how many."""
    identity = LogIdentity.for_issuer(rt.settings.issuer, rt.keys.log_key())
    total = 0
    while True:
        with transaction(rt.sessions) as session:
            done = integrate(session, identity)
        total += done
        if not done:
            return total


def expire_due(rt: Runtime) -> int:
    """Append ``expired`` to lapsed consents; forget expired assertion jti values and
    sign-in challenges."""
    with transaction(rt.sessions) as session:
        now = utcnow()
        prune_jtis(session, now)
        challenges.prune(session, now)
        oauth_store.prune(session, now)
        if has_salt(session):
            hints_of(session, rt).forget_expired()
        expired = Consents(session, rt).expire_due(now)
        purge_expired(rt.standard, session, now)
        return expired


class Upkeep:
    """Sequences the consent log every run; expires what is due every EXPIRY_EVERY."""

    def __init__(self, rt: Runtime, interval: float) -> None:
        self.rt = rt
        self._expired_at = 0.0
        self._job = Periodic("consent upkeep", interval, self.run_once, log)

    def run_once(self) -> None:
        sequence_log(self.rt)
        if time.monotonic() - self._expired_at >= EXPIRY_EVERY:
            expire_due(self.rt)
            self._expired_at = time.monotonic()

    def start(self) -> None:
        self._job.start()

    async def stop(self) -> None:
        await self._job.stop()
        try:
            await asyncio.to_thread(sequence_log, self.rt)  # leave nothing queued behind
        except Exception as exc:  # e.g. a database not migrated yet: the rows stay queued
            log.warning("consent upkeep failed at shutdown: %s", type(exc).__name__)


def start(rt: Runtime) -> Upkeep | None:
    interval = rt.settings.log_interval
    if interval <= 0:
        return None
    upkeep = Upkeep(rt, interval)
    upkeep.start()
    return upkeep
