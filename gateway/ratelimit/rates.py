"""What a limit says: a sustained rate with a burst, per client and per IP address.

A policy is written the way the settings take it, one part per scope::

    client 600/minute, ip 1200/minute burst 300

``N/unit`` is the sustained rate; ``burst B`` is how many may come at once (N when not
given: a full bucket). A scope left out is not limited; an empty policy limits nothing.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

MICROS = 1_000_000
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
SCOPES = ("client", "ip")
_PART = re.compile(
    r"^(?P<scope>[a-z]+)\s+(?P<count>\d+)\s*/\s*(?P<unit>[a-z]+?)s?"
    r"(?:\s+burst\s+(?P<burst>\d+))?$"
)


@dataclass(frozen=True)
class Rate:
    """``count`` requests per ``period`` seconds, sustained; ``burst`` at once."""

    count: int
    period: int
    burst: int

    def __post_init__(self) -> None:
        if self.count < 1 or self.period < 1 or self.burst < 1:
            raise ValueError("a rate's count, period and burst are at least 1")

    @functools.cached_property
    def interval(self) -> int:
        """Microseconds between two requests at the sustained rate: GCRA's emission
        interval T. Rounded down: the rate admitted is at most 1 µs per request faster."""
        return max(1, self.period * MICROS // self.count)

    @functools.cached_property
    def window(self) -> int:
        """Microseconds a full burst takes to refill: T × burst (GCRA's τ + T)."""
        return self.interval * self.burst

    @property
    def window_seconds(self) -> int:
        return max(1, math.ceil(self.window / MICROS))

    def __str__(self) -> str:
        unit = next((u for u, s in UNITS.items() if s == self.period), None)
        text = f"{self.count}/{unit}" if unit else f"{self.count}/{self.period}s"
        return text if self.burst == self.count else f"{text} burst {self.burst}"


@dataclass(frozen=True)
class Policy:
    """One endpoint group's limits; None: that scope is not limited."""

    client: Rate | None = None
    ip: Rate | None = None

    @property
    def limits_anything(self) -> bool:
        return self.client is not None or self.ip is not None


def parse_rate(count: str, unit: str, burst: str | None) -> Rate:
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}: use {', '.join(UNITS)}")
    n = int(count)
    return Rate(n, UNITS[unit], int(burst) if burst is not None else n)


def parse_policy(text: str) -> Policy:
    """``"client 600/minute, ip 1200/minute burst 300"`` as a :class:`Policy`; raises
    ValueError naming what is wrong."""
    rates: dict[str, Rate] = {}
    for raw in text.split(","):
        part = " ".join(raw.lower().split())
        if not part:
            continue
        match = _PART.match(part)
        if match is None:
            raise ValueError(f"{raw.strip()!r} is not like 'client 600/minute [burst 100]'")
        scope = match["scope"]
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}: use client or ip")
        if scope in rates:
            raise ValueError(f"{scope} is limited twice")
        try:
            rates[scope] = parse_rate(match["count"], match["unit"], match["burst"])
        except ValueError as exc:
            raise ValueError(f"{raw.strip()!r}: {exc}") from None
    return Policy(client=rates.get("client"), ip=rates.get("ip"))
