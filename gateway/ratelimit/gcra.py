"""GCRA, the generic cell rate algorithm, and the in-process store.

Each bucket holds one number, its theoretical arrival time (TAT): when it would be
empty again at the sustained rate. A request at ``now`` is admitted when

    max(TAT, now) + T - T × burst <= now

and then moves TAT on by T (the emission interval). That is a token bucket of
``burst`` tokens refilled one per T, exact to the microsecond, with O(1) state and no
timer; a bucket whose TAT has passed is full, so it may be forgotten.

A request may count against several buckets (its client's and its address's): it is
admitted only if every bucket admits it, and then charged to all of them at once; a
refused request is charged to none.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from gateway.ratelimit.rates import MICROS, Rate

Clock = Callable[[], int]  # microseconds, monotonic (in-process) or the shared clock (Redis)


def monotonic_micros() -> int:
    return time.monotonic_ns() // 1000


@dataclass(frozen=True)
class Check:
    """One bucket a request counts against: its key, its rate, and a name for headers."""

    key: str
    rate: Rate
    name: str


class Decision(NamedTuple):  # a tuple, not a dataclass: made twice for every request
    """What one bucket says. For a bucket that admits, ``remaining`` and ``reset_after``
    are as they would be once the request is charged."""

    check: Check
    allowed: bool
    remaining: int
    retry_after: float  # seconds until the bucket admits one more (0: it admits now)
    reset_after: float  # seconds until the bucket is full again


class Verdict(NamedTuple):
    decisions: tuple[Decision, ...]

    @property
    def allowed(self) -> bool:
        return all(d.allowed for d in self.decisions)

    @property
    def refusing(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if not d.allowed)

    @property
    def retry_after(self) -> float:
        """Seconds until every refusing bucket would admit (0 when admitted)."""
        return max((d.retry_after for d in self.refusing), default=0.0)


def step(tat: int | None, now: int, check: Check) -> tuple[int, Decision]:
    """One GCRA step: the bucket's TAT if the request is charged, and its decision.
    Mirrored in Lua by :data:`gateway.ratelimit.redis_store.SCRIPT`."""
    rate = check.rate
    start = now if tat is None or tat < now else tat
    new_tat = start + rate.interval
    allow_at = new_tat - rate.window
    if now < allow_at:
        return start, Decision(check, False, 0, (allow_at - now) / MICROS, (start - now) / MICROS)
    remaining = (now - allow_at) // rate.interval
    return new_tat, Decision(check, True, remaining, 0.0, (new_tat - now) / MICROS)


class Limiter(Protocol):
    """A store of buckets. ``hit`` decides and charges atomically, across workers when
    the store is shared."""

    async def hit(self, checks: Sequence[Check]) -> Verdict: ...

    async def aclose(self) -> None:
        """Release what the store holds on the running event loop (its connections)."""
        ...


class InProcessLimiter:
    """Buckets in this process's memory: exact, thread-safe, bounded.

    Only buckets not yet full take memory (a full one is forgotten: absent means full).
    At most ``max_keys`` are kept; past that the least recently charged are forgotten,
    which can only admit more, never less. Each worker process limits alone: with N
    workers a client gets up to N times the rate (docs/limits.md).
    """

    def __init__(self, *, clock: Clock = monotonic_micros, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._tats: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tats)

    def take(self, checks: Sequence[Check]) -> Verdict:
        with self._lock:
            now = self.clock()
            stepped = [step(self._tats.get(c.key), now, c) for c in checks]
            verdict = Verdict(tuple(decision for _, decision in stepped))
            if verdict.allowed:
                for check, (tat, _) in zip(checks, stepped, strict=True):
                    self._tats[check.key] = tat
                    self._tats.move_to_end(check.key)
                self._evict(now)
            return verdict

    def _evict(self, now: int) -> None:
        # The least recently charged come first: drop those already full again (a few
        # per call keeps up with the rate of new keys), then any beyond the bound.
        for _ in range(3):
            if not self._tats:
                return
            key, tat = next(iter(self._tats.items()))
            if tat > now:
                break
            del self._tats[key]
        while len(self._tats) > self.max_keys:
            self._tats.popitem(last=False)

    async def hit(self, checks: Sequence[Check]) -> Verdict:
        return self.take(checks)  # microseconds under a lock: no reason to leave the loop

    async def aclose(self) -> None:
        return None
