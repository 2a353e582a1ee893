"""Rényi DP accounting for DP-FedAvg with the person as the privacy unit.

A training round Poisson-samples consenting persons with rate q, clips each sampled
person's update to L2 norm C and adds N(0, z²C²) to the sum (McMahan et al. 2018,
"Learning Differentially Private Recurrent Language Models", Alg. 1): one step of the
Sampled Gaussian Mechanism with noise multiplier z. Rounds compose by adding their
Rényi DP curves order by order (Mironov 2017, "Rényi Differential Privacy", Prop. 1);
only the composed curve is converted to (ε, δ). Adding ε across rounds would also be
valid, but far looser.

The privacy-loss ledger (:mod:`consent.budget`) is charged the *increase* of this
accountant's ε before each round, which keeps the ledger's sum the true bound::

    before = accountant.epsilon(delta)
    after = accountant.compose(step).epsilon(delta)
    charge = after.epsilon - before.epsilon  # refused if it would pass the cap

The accountant's state is the multiset of steps run, not a running float sum, so
"k rounds, then m" and "k + m rounds" are equal values with bit-identical ε.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import NDArray

from federation.errors import AccountingError

Curve = NDArray[np.float64]

# Integer orders only: the exact RDP of the sampled Gaussian below is for integer α.
# Up to 256 because small ε over many rounds is minimised at large α.
DEFAULT_ORDERS: tuple[int, ...] = tuple(range(2, 257))


class Conversion(StrEnum):
    """How an RDP curve becomes (ε, δ): each is minimised over the accountant's orders."""

    classic = "classic"  # Mironov 2017, Prop. 3: what the DP-FedAvg paper used
    improved = "improved"  # Balle et al. 2020, Thm. 21; Canonne, Kamath, Steinke 2020, Prop. 12


def _classic(rdp: Curve, alphas: Curve, delta: float) -> Curve:
    return rdp + math.log(1 / delta) / (alphas - 1)


def _improved(rdp: Curve, alphas: Curve, delta: float) -> Curve:
    return rdp + np.log1p(-1 / alphas) - (math.log(delta) + np.log(alphas)) / (alphas - 1)


_CONVERSIONS: Mapping[Conversion, Callable[[Curve, Curve, float], Curve]] = {
    Conversion.classic: _classic,
    Conversion.improved: _improved,
}


@dataclass(frozen=True, order=True)
class SampledGaussian:
    """One round: persons Poisson-sampled at rate q, sum of clipped updates + N(0, z²C²)."""

    sampling_rate: float  # q, expected persons per round / consenting persons
    noise_multiplier: float  # z, noise standard deviation / clipping norm C

    def __post_init__(self) -> None:
        if not 0 < self.sampling_rate <= 1:
            raise AccountingError(f"sampling rate q must be in (0, 1], got {self.sampling_rate!r}")
        if not (self.noise_multiplier > 0 and math.isfinite(self.noise_multiplier)):
            raise AccountingError(
                f"noise multiplier z must be positive and finite, got {self.noise_multiplier!r}"
            )

    def rdp(self, orders: Sequence[int] = DEFAULT_ORDERS) -> tuple[float, ...]:
        """RDP of one round at each order."""
        return _cached_rdp(self, _check_orders(orders))


def _log_expm1(x: Curve) -> Curve:
    # log(eˣ − 1) for x > 0: no overflow for large x, no cancellation for small x.
    return x + np.log(-np.expm1(-x))


def _sgm_rdp(q: float, z: float, orders: tuple[int, ...]) -> Curve:
    """RDP of the Sampled Gaussian Mechanism at integer orders, in log space.

    Mironov, Talwar, Zhang 2019, "Rényi Differential Privacy of the Sampled Gaussian
    Mechanism", Sec. 3.3: RDP(α) = log(A_α)/(α−1) with
    A_α = Σ_{k=0}^{α} C(α,k) (1−q)^{α−k} q^k exp((k²−k)/(2z²)).
    The binomial weights sum to 1, so
    A_α − 1 = Σ_{k=2}^{α} C(α,k) (1−q)^{α−k} q^k (exp((k²−k)/(2z²)) − 1)
    (the k = 0, 1 terms vanish) is a sum of positive terms. Summing those and taking
    log1p keeps full relative precision when A_α is 1 + 1e-20 (tiny q or large z), where
    log(Σ all terms) would lose every digit. q = 1 is the plain Gaussian, α/(2z²).
    """
    alphas = np.asarray(orders, dtype=np.float64)
    if q == 1.0:
        return alphas / (2 * z * z)
    log_factorial = np.array([math.lgamma(n + 1) for n in range(orders[-1] + 1)])
    a = np.asarray(orders)[:, None]
    k = np.arange(2, orders[-1] + 1)[None, :]
    inside = k <= a  # one row per order; entries past k = α are masked out
    with np.errstate(divide="ignore"):  # log(0) = -inf is meant: a term of exactly 0
        log_terms = (
            log_factorial[a]
            - log_factorial[k]
            - log_factorial[np.where(inside, a - k, 0)]
            + k * math.log(q)
            + (a - k) * math.log1p(-q)
            + _log_expm1((k * k - k) / (2 * z * z))
        )
        log_terms = np.where(inside, log_terms, -np.inf)
        # log Σ exp, shifted by each row's largest term so nothing overflows
        top = np.max(log_terms, axis=1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        log_a_minus_1 = np.log(np.sum(np.exp(log_terms - top), axis=1)) + top[:, 0]
    return np.asarray(np.logaddexp(0.0, log_a_minus_1) / (alphas - 1), dtype=np.float64)


@lru_cache(maxsize=256)
def _cached_rdp(step: SampledGaussian, orders: tuple[int, ...]) -> tuple[float, ...]:
    # A run repeats one step for every round: compute its curve once.
    return tuple(_sgm_rdp(step.sampling_rate, step.noise_multiplier, orders).tolist())


@dataclass(frozen=True)
class Guarantee:
    """An (ε, δ) with what produced it, for the privacy-loss ledger and the model card."""

    epsilon: float
    delta: float
    conversion: Conversion
    orders: tuple[int, ...]
    order: int | None  # the α attaining ε; None when nothing was composed
    steps: tuple[tuple[SampledGaussian, int], ...]  # (step, rounds) composed
    accountant: str = "rdp"

    @property
    def rounds(self) -> int:
        return sum(n for _, n in self.steps)

    def details(self) -> dict[str, Any]:
        """What a ledger charge keeps beside ε and δ to re-derive them."""
        return {
            "conversion": str(self.conversion),
            "orders": list(self.orders),
            "order": self.order,
            "rounds": self.rounds,
            "steps": [
                {
                    "sampling_rate": s.sampling_rate,
                    "noise_multiplier": s.noise_multiplier,
                    "rounds": n,
                }
                for s, n in self.steps
            ],
        }


@dataclass(frozen=True)
class RdpAccountant:
    """The rounds run so far, composed by adding RDP curves; immutable.

    ``steps`` is kept canonical (one entry per distinct step, sorted, no zero counts),
    so accountants that ran the same rounds in any grouping or order are equal.
    """

    orders: tuple[int, ...] = DEFAULT_ORDERS
    steps: tuple[tuple[SampledGaussian, int], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "orders", _check_orders(self.orders))
        merged: dict[SampledGaussian, int] = {}
        for step, rounds in self.steps:
            merged[step] = merged.get(step, 0) + _check_rounds(rounds)
        object.__setattr__(self, "steps", tuple(sorted((s, n) for s, n in merged.items() if n)))

    @property
    def rounds(self) -> int:
        return sum(n for _, n in self.steps)

    def compose(self, step: SampledGaussian, rounds: int = 1) -> RdpAccountant:
        """This accountant with ``rounds`` more rounds of ``step``; ``self`` is unchanged."""
        return RdpAccountant(self.orders, (*self.steps, (step, _check_rounds(rounds))))

    def rdp(self) -> tuple[float, ...]:
        """The composed RDP curve, one value per order."""
        return tuple(self._curve().tolist())

    def epsilon(self, delta: float, conversion: Conversion = Conversion.improved) -> Guarantee:
        """The least ε over the orders with (ε, δ)-DP; 0 when no round has run.

        An empty curve would convert to a positive ε (log(1/δ)/(α−1) at the largest α);
        returning 0 keeps the first round's ledger charge equal to its whole cost.
        """
        conversion = _check_conversion(conversion)
        _check_delta(delta)
        if not self.steps:
            return Guarantee(0.0, delta, conversion, self.orders, None, ())
        eps = _CONVERSIONS[conversion](self._curve(), np.asarray(self.orders, float), delta)
        best = int(np.argmin(eps))
        # A negative bound (improved conversion, large δ) still certifies ε = 0.
        epsilon = max(0.0, float(eps[best]))
        return Guarantee(epsilon, delta, conversion, self.orders, self.orders[best], self.steps)

    def _curve(self) -> Curve:
        total = np.zeros(len(self.orders))
        for step, rounds in self.steps:
            total += rounds * np.asarray(_cached_rdp(step, self.orders))
        return total


def noise_multiplier_for(
    epsilon: float,
    delta: float,
    *,
    sampling_rate: float,
    rounds: int,
    orders: Sequence[int] = DEFAULT_ORDERS,
    conversion: Conversion = Conversion.improved,
) -> float:
    """The least noise multiplier z (to a relative 1e-9) keeping ``rounds`` rounds within (ε, δ).

    For configuring a run. ε falls as z grows (every term of A_α does), so bisection
    applies; the z returned is the upper end of the final bracket, so it always meets ε.
    """
    checked = _check_orders(orders)
    conversion = _check_conversion(conversion)
    _check_delta(delta)
    SampledGaussian(sampling_rate, 1.0)  # validates q
    if _check_rounds(rounds) == 0:
        raise AccountingError("rounds must be at least 1: zero rounds spend nothing at any z")
    alphas = np.asarray(checked, float)
    convert = _CONVERSIONS[conversion]
    # As z → ∞ the curve tends to 0 and ε to this floor, which no z gets below.
    floor = max(0.0, float(np.min(convert(np.zeros_like(alphas), alphas, delta))))
    if not (math.isfinite(epsilon) and epsilon > floor):
        raise AccountingError(
            f"target ε must be finite and above {floor:.6g}, the least these orders certify"
            f" at δ={delta:g} (larger orders lower it), got {epsilon!r}"
        )

    def spent(z: float) -> float:
        return float(np.min(convert(rounds * _sgm_rdp(sampling_rate, z, checked), alphas, delta)))

    low, high = 0.0, 1.0  # ε(low) > target is taken for z = 0, which is no privacy
    while spent(high) > epsilon:
        low, high = high, 2 * high
    while high - low > 1e-9 * high:
        middle = (low + high) / 2
        low, high = (middle, high) if spent(middle) > epsilon else (low, middle)
    return high


def _check_orders(orders: Sequence[int]) -> tuple[int, ...]:
    if len(orders) == 0:
        raise AccountingError("orders must not be empty")
    if not all(isinstance(o, Integral) and not isinstance(o, bool) for o in orders):
        raise AccountingError(
            f"orders must be integers (the exact sampled-Gaussian RDP is for integer α),"
            f" got {list(orders)!r}"
        )
    checked = tuple(int(o) for o in orders)
    if checked[0] < 2 or any(b <= a for a, b in itertools.pairwise(checked)):
        raise AccountingError(f"orders must be ≥ 2 and strictly increasing, got {list(checked)!r}")
    return checked


def _check_rounds(rounds: int) -> int:
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 0:
        raise AccountingError(f"rounds must be a non-negative integer, got {rounds!r}")
    return rounds


def _check_delta(delta: float) -> None:
    if not 0 < delta < 1:
        raise AccountingError(f"δ must be in (0, 1), got {delta!r}")


def _check_conversion(conversion: Conversion | str) -> Conversion:
    try:
        return Conversion(conversion)
    except ValueError:
        known = ", ".join(c.value for c in Conversion)
        raise AccountingError(f"unknown conversion {conversion!r}; known: {known}") from None
