"""The limits a gateway process enforces: one policy per endpoint group, and the store
its buckets live in (Redis when configured, else this process's memory)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from gateway.ratelimit.gcra import InProcessLimiter, Limiter
from gateway.ratelimit.rates import Policy, parse_policy
from gateway.ratelimit.redis_store import RedisLimiter

if TYPE_CHECKING:
    from gateway.settings import Settings

Group = Literal["token", "oauth", "challenge", "sandbox"]
GROUPS: tuple[Group, ...] = ("token", "oauth", "challenge", "sandbox")


@dataclass(frozen=True)
class Limits:
    """The store, and the policy of each group that is limited (none when off)."""

    limiter: Limiter
    policies: Mapping[Group, Policy]

    @classmethod
    def build(cls, settings: Settings, limiter: Limiter | None = None) -> Limits:
        policies: dict[Group, Policy] = {}
        if settings.rate_limits_enabled:
            written = {
                "token": settings.rate_limit_token,
                "oauth": settings.rate_limit_oauth,
                "challenge": settings.rate_limit_challenge,
                "sandbox": settings.rate_limit_sandbox,
            }
            for group in GROUPS:
                policy = parse_policy(written[group])
                if policy.limits_anything:
                    policies[group] = policy
        if limiter is None:
            url = settings.redis_url
            limiter = RedisLimiter(url) if url and policies else InProcessLimiter()
        return cls(limiter, policies)
