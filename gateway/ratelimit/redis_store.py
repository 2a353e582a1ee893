"""The shared store: buckets in Redis, so every worker (and every host) counts against
the same limit.

One Lua script decides and charges all of a request's buckets atomically, on Redis's
own clock (``TIME``), so workers whose clocks disagree still agree on every bucket. A
bucket is one string key, the TAT in microseconds, expiring when the bucket is full
again: Redis holds only the buckets of recent callers.

When Redis cannot be reached, the worker limits alone (in-process) and tries Redis again
after a pause: an outage of the store degrades the limits to per worker, it does not
stop sign-ins.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from redis.asyncio import BlockingConnectionPool, Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from gateway.ratelimit.gcra import Check, Clock, Decision, InProcessLimiter, Verdict
from gateway.ratelimit.rates import MICROS

log = logging.getLogger("accord.ratelimit")

# KEYS: the buckets. ARGV: now in µs (negative: Redis's clock), then per bucket its
# emission interval T and its window T × burst, in µs. Returns the admission (1 or 0),
# the clock used, then per bucket: admits (1 or 0), the slack (admitted) or the wait
# (refused), and the time until the bucket is full; all in µs. Mirrors gcra.step.
SCRIPT = """
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local admitted = 1
local tats = {}
local out = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - window
  if now < allow_at then
    admitted = 0
    out[#out + 1] = 0
    out[#out + 1] = allow_at - now
    out[#out + 1] = tat - now
  else
    out[#out + 1] = 1
    out[#out + 1] = now - allow_at
    out[#out + 1] = new_tat - now
  end
  tats[i] = new_tat
end
if admitted == 1 then
  for i = 1, #KEYS do
    local ttl = math.max(1, math.ceil((tats[i] - now) / 1000))
    redis.call('SET', KEYS[i], string.format('%d', tats[i]), 'PX', ttl)
  end
end
local reply = {admitted, now}
for _, v in ipairs(out) do reply[#reply + 1] = v end
return reply
"""


class RedisLimiter:
    """Buckets in Redis under ``prefix``. ``clock`` replaces Redis's clock (tests)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "accord:rl:",
        clock: Clock | None = None,
        fallback: InProcessLimiter | None = None,
        timeout: float = 0.25,
        pause: float = 5.0,
        connections: int = 50,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.clock = clock
        self.fallback = fallback or InProcessLimiter()
        self.timeout = timeout
        self.pause = pause
        self.connections = connections
        self._paused_until = 0.0
        # redis.asyncio connections belong to the event loop that made them.
        self._clients: dict[asyncio.AbstractEventLoop, tuple[Redis, AsyncScript]] = {}

    def _client(self) -> tuple[Redis, AsyncScript]:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            # A request waits (a while) for a free connection rather than failing over.
            pool = BlockingConnectionPool.from_url(
                self.url,
                max_connections=self.connections,
                timeout=4 * self.timeout,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
            )
            client = Redis.from_pool(pool)
            entry = (client, client.register_script(SCRIPT))
            self._clients[loop] = entry
        return entry

    async def hit(self, checks: Sequence[Check]) -> Verdict:
        if not checks:
            return Verdict(())
        if time.monotonic() < self._paused_until:
            return self.fallback.take(checks)
        args: list[int] = [self.clock() if self.clock is not None else -1]
        for check in checks:
            args += [check.rate.interval, check.rate.window]
        try:
            _, script = self._client()
            reply = await script(keys=[self.prefix + c.key for c in checks], args=args)
        except (RedisError, OSError) as exc:
            self._paused_until = time.monotonic() + self.pause
            log.warning(
                "rate limits: Redis is unavailable (%s); limiting in this worker for %.0f s",
                type(exc).__name__,
                self.pause,
            )
            return self.fallback.take(checks)
        return _verdict(checks, [int(v) for v in reply])

    async def aclose(self) -> None:
        entry = self._clients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[0].aclose()


def _verdict(checks: Sequence[Check], reply: list[int]) -> Verdict:
    decisions = []
    for i, check in enumerate(checks):
        admits, amount, full_in = reply[2 + 3 * i : 5 + 3 * i]
        if admits:
            remaining = amount // check.rate.interval
            decisions.append(Decision(check, True, remaining, 0.0, full_in / MICROS))
        else:
            decisions.append(Decision(check, False, 0, amount / MICROS, full_in / MICROS))
    return Verdict(tuple(decisions))
