"""A platform pushing its users' attributes to the gateway, and pushing again until the
gateway keeps them.

The gateway keeps a pushed value only for an account linked to a person and only for
a category that an in-force consent of that person **to a brand** makes necessary
(docs/views.md); anything else is dropped and counted. A platform is never told when
one of its users consents to a brand: that SET goes to the brand. So a push made when
the person signs in (before they have consented to anything) is dropped, and the
brand's view would stay empty.

The simplest reliable answer is a short, bounded re-push: when a user signs in
through a challenge, links this platform, or a SET names them, the platform *watches*
that user and pushes their profile again, first every second and then less often (up
to every 5 s), until a push is kept whole (nothing ``not_linked`` or ``not_consented``)
or 10 minutes have passed. It only ever concerns the few demo users who just did
something, logs nothing, and each push is one small batch with a fresh idempotency key
(a retry of the same key would be answered from the first push, without a new look at
the consents).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from examples.cast import DemoUser
from sdk import AccordError, AsyncPlatformClient, PushResult

FIRST_DELAY = 1.0  # seconds before the first re-push
MAX_DELAY = 5.0
GROWTH = 1.25
WINDOW = 600.0  # seconds a user is watched after what started it


@dataclass(frozen=True)
class Outcome:
    """What the last push of one user came to, for the platform's home page."""

    at: datetime
    sent: int
    stored: int
    dropped: Mapping[str, int]
    error: str | None = None

    @property
    def kept_whole(self) -> bool:
        return self.error is None and not (
            self.dropped.get("not_linked", 0) or self.dropped.get("not_consented", 0)
        )


@dataclass
class _Watch:
    until: float
    due: float
    delay: float


class Pusher:
    def __init__(
        self,
        client: AsyncPlatformClient,
        users: Mapping[str, DemoUser],  # by account id
        *,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.users = users
        self.first_delay, self.max_delay, self.window = first_delay, max_delay, window
        self.clock = clock
        self.observed_at = datetime.now(UTC)  # one observation of each profile per run
        self.last: dict[str, Outcome] = {}
        self._watched: dict[str, _Watch] = {}
        self._wake = asyncio.Event()

    def watching(self) -> list[str]:
        return sorted(self._watched)

    def watch(self, account_id: str) -> None:
        """Push this user's profile soon, and again until the gateway keeps it."""
        if account_id not in self.users:
            return  # not one of our demo users (e.g. a synthetic account): nothing to push
        now = self.clock()
        self._watched[account_id] = _Watch(now + self.window, now, self.first_delay)
        self._wake.set()

    async def push(self, account_id: str) -> Outcome:
        """Push one user's profile now; the outcome is also kept in ``last``."""
        user = self.users[account_id]
        record = {
            "platform_user_id": user.account_id,
            "attributes": dict(user.attributes),
            "observed_at": self.observed_at,
        }
        try:
            result: PushResult = await self.client.push_attributes(
                [record], idempotency_key=f"demo-{uuid.uuid4()}"
            )
        except AccordError as exc:
            outcome = Outcome(datetime.now(UTC), len(user.attributes), 0, {}, str(exc)[:200])
        else:
            dropped = {k: v for k, v in result.values.dropped.items() if v}
            outcome = Outcome(
                datetime.now(UTC), len(user.attributes), result.values.stored, dropped
            )
        self.last[account_id] = outcome
        return outcome

    async def run(self) -> None:
        """Serve the watch list until cancelled."""
        while True:
            now = self.clock()
            for account_id, watch in list(self._watched.items()):
                if watch.due > now:
                    continue
                outcome = await self.push(account_id)
                if self._watched.get(account_id) is not watch:
                    continue  # watched again meanwhile: that watch stands
                if outcome.kept_whole or self.clock() >= watch.until:
                    del self._watched[account_id]
                else:
                    watch.delay = min(self.max_delay, watch.delay * GROWTH)
                    watch.due = self.clock() + watch.delay
            waits = [w.due for w in self._watched.values()]
            timeout = max(0.05, min(waits) - self.clock()) if waits else None
            self._wake.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
