"""The KPIs' figures: what :mod:`gateway.operator.kpis` counts, as plain values.

Stocks (unification, interoperability) hold counts scaled from the person sample (exact
when it is every person) and the rates counted in the sample; flows (authorisation,
withdrawal, rights requests) hold the window's counts. A rate whose denominator is zero
is ``None``. Definitions: ``docs/kpis.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Sample:
    """The persons the stock KPIs count: all of them, or a uniform sample by id."""

    persons: int  # every person
    sampled: int  # persons in the sample (every person when exact)
    bound: str | None  # the sample is the persons whose id sorts below this; None: all

    @property
    def exact(self) -> bool:
        return self.bound is None

    @property
    def fraction(self) -> float:
        return self.sampled / self.persons if self.persons else 1.0

    def scale(self, count: int) -> int:
        """A count over the sample as an estimate over every person (ratio estimator)."""
        if self.bound is None or not self.sampled:
            return count
        return (count * self.persons * 2 + self.sampled) // (self.sampled * 2)  # rounded


@dataclass(frozen=True)
class Unification:
    persons: int
    unified: int  # persons with two or more linked platform accounts
    rate: float | None


@dataclass(frozen=True)
class Interoperability:
    persons: int  # persons with at least one pushed attribute
    cross_platform: int  # ... whose attributes come from two or more platforms
    rate: float | None
    categories: int  # categories with at least one pushed attribute (in the sample)
    cross_platform_categories: int  # ... pushed by two or more platforms


@dataclass(frozen=True)
class Authorisation:
    screen_asked: int  # consents the gateway's consent screens asked for
    screen_given: int
    screen_refused: int
    screen_unanswered: int
    member_recorded: int  # consents members recorded (asked and given at the platform)

    @property
    def asked(self) -> int:
        return self.screen_asked + self.member_recorded

    @property
    def given(self) -> int:
        return self.screen_given + self.member_recorded

    @property
    def rate(self) -> float | None:
        return ratio(self.given, self.asked)


@dataclass(frozen=True)
class Withdrawal:
    given: int  # consents given in the window, whoever recorded them
    withdrawn: int  # withdrawals in the window, of consents given whenever

    @property
    def rate(self) -> float | None:
        return ratio(self.withdrawn, self.given)


@dataclass(frozen=True)
class Timeliness:
    completed: int  # rights requests completed in the window
    on_time: int  # ... by their due date
    open_overdue: int  # requests still open past their due date, now

    @property
    def rate(self) -> float | None:
        return ratio(self.on_time, self.completed)


@dataclass(frozen=True)
class BrandBudget:
    client_id: str
    name: str
    period: str | None  # the current period's key ("2026-11", "total"); None: no cap
    spent: float
    cap: float | None

    @property
    def remaining(self) -> float | None:
        return None if self.cap is None else max(0.0, self.cap - self.spent)


@dataclass(frozen=True)
class Snapshot:
    at: datetime
    days: int
    since: datetime
    sample: Sample
    unification: Unification
    interoperability: Interoperability
    authorisation: Authorisation
    withdrawal: Withdrawal
    rights: Timeliness
    budgets: list[BrandBudget]
