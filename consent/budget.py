"""The privacy-loss ledger shared by the sandbox and federated training.

Every differentially private release is charged (ε, δ) against a population (a
brand's audience, an alliance training population) for a period, naming the
accountant that computed it. A cap per population is hard: a charge that would
exceed it is refused whole, and the check and the charge are one atomic step in
the store, so concurrent releases can never overshoot.

Charges compose by basic (sequential) composition: ε and δ add. An accountant with
tighter composition (RDP for training rounds) charges the increase of its own
running total, so the ledger still holds the true cumulative bound.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from consent.errors import BudgetExceeded, ConsentError


class Period(StrEnum):
    month = "month"  # the budget renews each calendar month (UTC)
    total = "total"  # one budget for the population's lifetime

    def key(self, at: datetime) -> str:
        return f"{at.year:04d}-{at.month:02d}" if self is Period.month else "total"


@dataclass(frozen=True)
class Cap:
    population: str
    period: Period
    epsilon: float
    delta: float

    def __post_init__(self) -> None:
        _check_amount(self.epsilon, self.delta, what="cap")


@dataclass(frozen=True)
class Charge:
    population: str
    epsilon: float
    delta: float
    accountant: str  # e.g. "laplace", "gaussian-zcdp", "rdp"
    release: str  # what was released: "sandbox query …", "training run … round 3"
    at: datetime
    details: Mapping[str, Any] = field(default_factory=dict)  # orders, conversion, …
    charge_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        _check_amount(self.epsilon, self.delta, what="charge")
        if not self.accountant or not self.release:
            raise ConsentError("a charge names its accountant and its release")


@dataclass(frozen=True)
class Spent:
    population: str
    period: str
    epsilon: float
    delta: float
    cap: Cap

    @property
    def remaining_epsilon(self) -> float:
        return max(0.0, self.cap.epsilon - self.epsilon)

    @property
    def remaining_delta(self) -> float:
        return max(0.0, self.cap.delta - self.delta)


def _check_amount(epsilon: float, delta: float, *, what: str) -> None:
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise ConsentError(f"a {what}'s epsilon must be a finite number >= 0")
    if not (math.isfinite(delta) and 0 <= delta < 1):
        raise ConsentError(f"a {what}'s delta must be in [0, 1)")


def fits(spent_epsilon: float, spent_delta: float, charge: Charge, cap: Cap) -> bool:
    return spent_epsilon + charge.epsilon <= cap.epsilon and spent_delta + charge.delta <= cap.delta


class BudgetStore(Protocol):
    """Where caps, running totals and charges live. ``charge`` is atomic: it adds the
    charge only if the period's totals stay within the cap, else raises
    :class:`BudgetExceeded` and changes nothing."""

    def cap(self, population: str) -> Cap | None: ...

    def set_cap(self, cap: Cap) -> None: ...

    def spent(self, population: str, period: str) -> tuple[float, float]: ...

    def charge(self, charge: Charge, period: str, cap: Cap) -> tuple[float, float]: ...


class Ledger:
    def __init__(self, store: BudgetStore) -> None:
        self.store = store

    def spent(self, population: str, at: datetime) -> Spent:
        cap = self._cap(population)
        period = cap.period.key(at)
        epsilon, delta = self.store.spent(population, period)
        return Spent(population, period, epsilon, delta, cap)

    def charge(self, charge: Charge) -> Spent:
        """Charge a release, or raise :class:`BudgetExceeded` stating what remains."""
        cap = self._cap(charge.population)
        period = cap.period.key(charge.at)
        epsilon, delta = self.store.charge(charge, period, cap)
        return Spent(charge.population, period, epsilon, delta, cap)

    def _cap(self, population: str) -> Cap:
        cap = self.store.cap(population)
        if cap is None:
            # No cap, no release: a budget is never unlimited by omission.
            raise BudgetExceeded(f"no privacy budget is set for '{population}'")
        return cap


def exceeded(charge: Charge, period: str, cap: Cap, epsilon: float, delta: float) -> BudgetExceeded:
    return BudgetExceeded(
        f"'{charge.population}' has ε {max(0.0, cap.epsilon - epsilon):.6g} and "
        f"δ {max(0.0, cap.delta - delta):.6g} left for {period}; "
        f"the release asks ε {charge.epsilon:.6g}, δ {charge.delta:.6g}"
    )


class MemoryBudgetStore:
    """In-process store (tests, single-process tools); a lock makes ``charge`` atomic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._caps: dict[str, Cap] = {}
        self._totals: dict[tuple[str, str], tuple[float, float]] = {}
        self.charges: list[Charge] = []

    def cap(self, population: str) -> Cap | None:
        return self._caps.get(population)

    def set_cap(self, cap: Cap) -> None:
        with self._lock:
            self._caps[cap.population] = cap

    def spent(self, population: str, period: str) -> tuple[float, float]:
        return self._totals.get((population, period), (0.0, 0.0))

    def charge(self, charge: Charge, period: str, cap: Cap) -> tuple[float, float]:
        with self._lock:
            epsilon, delta = self.spent(charge.population, period)
            if not fits(epsilon, delta, charge, cap):
                raise exceeded(charge, period, cap, epsilon, delta)
            total = (epsilon + charge.epsilon, delta + charge.delta)
            self._totals[(charge.population, period)] = total
            self.charges.append(charge)
            return total
