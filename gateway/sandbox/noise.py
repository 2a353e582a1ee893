"""The sandbox's noise: exact per-group aggregates in, ε-differentially private ones out.

The SQL layer hands over exact vectors whose per-person contribution is already bounded:
a person falls in at most ``groups_per_person`` groups and, for sums, their value is
clamped to ``[lower, upper]``. Adding or removing one person therefore moves the vector by
at most that much in L1 distance, the query's sensitivity, and Laplace noise of scale
sensitivity/ε makes the release ε-DP (Dwork & Roth 2014, Thm 3.6).

The noise and the accounting are OpenDP's, not ours: each release is an OpenDP measurement,
and the ε we report is what that measurement's privacy map says for the sensitivity, so
integer rounding or floating-point slack in the proof is OpenDP's to carry. Counts use the
discrete Laplace (geometric) mechanism (Ghosh, Roughgarden & Sundararajan 2012), which
avoids the floating-point attacks on textbook Laplace (Mironov 2012); sums use OpenDP's
float Laplace, which also samples on a discrete grid internally.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar, cast

import opendp.prelude as dp

MAX_EPSILON = 10.0  # per query: e^10 ≈ 22,000, past which a release hides next to nothing
_I32_MAX = 2**31 - 1  # OpenDP's `int` is i32, and saturates rather than fails near the edge

V = TypeVar("V", int, float)


class NoiseError(ValueError):
    """A release was asked with parameters that cannot give a meaningful ε-DP answer."""


@dataclass(frozen=True)
class Release(Generic[V]):
    """One noisy vector and what it cost, as OpenDP's privacy map reports it."""

    values: tuple[V, ...]
    scale: float  # the Laplace scale b; the noise's spread grows linearly with it
    epsilon: float  # spent, from the measurement's map: never above the ε asked
    mechanism: str  # "discrete_laplace" or "laplace"
    sensitivity: float  # the L1 distance one person can move the exact vector


@dataclass(frozen=True)
class MeanRelease:
    """Noisy means, released as a noisy count and a noisy sum each costing half the ε."""

    counts: Release[int]
    sums: Release[float]
    means: tuple[float, ...]
    epsilon: float  # counts.epsilon + sums.epsilon (sequential composition)


def count_release(counts: Sequence[int], *, groups_per_person: int, epsilon: float) -> Release[int]:
    """Noisy per-group counts. One person is in at most ``groups_per_person`` groups, so the
    count vector has L1 sensitivity ``groups_per_person``."""
    _check_epsilon(epsilon)
    _check_groups(groups_per_person)
    for count in counts:
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= _I32_MAX:
            raise NoiseError(f"counts must be integers in [0, {_I32_MAX}], got {count!r}")
    space = (dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int))

    def make(scale: float) -> dp.Measurement:
        return dp.m.make_laplace(*space, scale=scale)

    measurement, scale, spent = _calibrate(
        make, groups_per_person, float(groups_per_person), epsilon
    )
    values = tuple(int(v) for v in measurement(list(counts)))
    return Release(values, scale, spent, "discrete_laplace", float(groups_per_person))


def sum_release(
    sums: Sequence[float], *, groups_per_person: int, lower: float, upper: float, epsilon: float
) -> Release[float]:
    """Noisy per-group sums of values clamped to ``[lower, upper]``. Removing a person takes
    at most max(|lower|, |upper|) off each of their groups, hence the sensitivity."""
    _check_epsilon(epsilon)
    _check_groups(groups_per_person)
    _check_bounds(lower, upper)
    for total in sums:
        if (
            isinstance(total, bool)
            or not isinstance(total, int | float)
            or not math.isfinite(total)
        ):
            raise NoiseError(f"sums must be finite numbers, got {total!r}")
    sensitivity = _product_rounded_up(groups_per_person, max(abs(lower), abs(upper)))
    space = (dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float))

    def make(scale: float) -> dp.Measurement:
        return dp.m.make_laplace(*space, scale=scale)

    measurement, scale, spent = _calibrate(make, sensitivity, sensitivity, epsilon)
    values = tuple(float(v) for v in measurement([float(s) for s in sums]))
    return Release(values, scale, spent, "laplace", sensitivity)


def mean_release(
    counts: Sequence[int],
    sums: Sequence[float],
    *,
    groups_per_person: int,
    lower: float,
    upper: float,
    epsilon: float,
) -> MeanRelease:
    """Noisy per-group means as noisy sum / noisy count, each half of ε (Dwork & Roth,
    Thm 3.14: the ε of a sequence of releases adds up; OpenDP's basic composition is the
    same sum). Dividing is post-processing and costs nothing (Prop 2.1); clamping to the
    bounds keeps a tiny noisy count from producing an absurd mean."""
    # Refuse before drawing any noise, rather than after the count half has been drawn.
    _check_epsilon(epsilon)
    _check_groups(groups_per_person)
    _check_bounds(lower, upper)
    if len(counts) != len(sums):
        raise NoiseError(f"{len(counts)} counts but {len(sums)} sums: one of each per group")
    half = epsilon / 2  # exact in binary, and two halves each within ε/2 add up to within ε
    noisy_counts = count_release(counts, groups_per_person=groups_per_person, epsilon=half)
    noisy_sums = sum_release(
        sums, groups_per_person=groups_per_person, lower=lower, upper=upper, epsilon=half
    )
    means = tuple(
        min(max(total / max(count, 1), float(lower)), float(upper))
        for count, total in zip(noisy_counts.values, noisy_sums.values, strict=True)
    )
    spent = noisy_counts.epsilon + noisy_sums.epsilon
    return MeanRelease(noisy_counts, noisy_sums, means, spent)


def stddev(release: Release[int] | Release[float]) -> float:
    """The standard deviation of each noisy value around the exact one, for error bars.

    Laplace(b) has variance 2b²; the discrete Laplace with p = e^(-1/b) has 2p/(1-p)²."""
    if release.mechanism == "discrete_laplace":
        p = math.exp(-1 / release.scale)
        return math.sqrt(2 * p) / -math.expm1(-1 / release.scale)
    return math.sqrt(2) * release.scale


def _calibrate(
    make: Callable[[float], dp.Measurement], d_in: int | float, sensitivity: float, epsilon: float
) -> tuple[dp.Measurement, float, float]:
    """The smallest-noise measurement whose privacy map at ``d_in`` is within ε.

    sensitivity/ε is the textbook scale, but its float division may round down, so OpenDP
    can map it to a hair above ε (3/0.7 maps to 0.7000000000000001). Then OpenDP's own
    binary search finds the nearest scale its map accepts."""
    dp.enable_features("contrib")  # here, not at import: enabling is a global switch
    scale = sensitivity / epsilon
    if not (math.isfinite(scale) and scale > 0):
        raise NoiseError(f"ε={epsilon} and sensitivity {sensitivity} give no usable noise scale")
    measurement = make(scale)
    spent = _privacy_map(measurement, d_in)
    if spent > epsilon:
        scale = dp.binary_search_param(make, d_in=d_in, d_out=epsilon, bounds=(scale, 2 * scale))
        measurement = make(scale)
        spent = _privacy_map(measurement, d_in)
    if not spent <= epsilon:
        raise NoiseError(f"OpenDP maps scale {scale} to ε={spent}, above the ε={epsilon} asked")
    return measurement, scale, spent


def _privacy_map(measurement: dp.Measurement, d_in: int | float) -> float:
    """OpenDP's ε for inputs ``d_in`` apart (``Measurement.map`` ships without annotations)."""
    privacy_map = cast(Callable[[int | float], float], measurement.map)
    return float(privacy_map(d_in))


def _product_rounded_up(k: int, bound: float) -> float:
    """k × bound, rounded up rather than to nearest: the sensitivity must never be understated."""
    product = float(k) * float(bound)
    if Fraction(product) < k * Fraction(bound):
        product = math.nextafter(product, math.inf)
    return product


def _check_epsilon(epsilon: float) -> None:
    if not isinstance(epsilon, int | float) or not math.isfinite(epsilon) or epsilon <= 0:
        raise NoiseError(f"ε must be a finite number above 0, got {epsilon!r}")
    if epsilon > MAX_EPSILON:
        raise NoiseError(f"ε={epsilon} is above the per-query maximum of {MAX_EPSILON}")


def _check_groups(groups_per_person: int) -> None:
    if isinstance(groups_per_person, bool) or not isinstance(groups_per_person, int):
        raise NoiseError(f"groups_per_person must be an integer, got {groups_per_person!r}")
    if not 1 <= groups_per_person <= _I32_MAX:
        raise NoiseError(f"groups_per_person must be in [1, {_I32_MAX}], got {groups_per_person}")


def _check_bounds(lower: float, upper: float) -> None:
    finite = all(
        isinstance(b, int | float) and not isinstance(b, bool) and math.isfinite(b)
        for b in (lower, upper)
    )
    if not finite:
        raise NoiseError(f"bounds must be finite, got [{lower}, {upper}]")
    if lower > upper:
        raise NoiseError(f"lower bound {lower} is above upper bound {upper}")
    if lower == upper == 0:
        raise NoiseError("bounds [0, 0] make every sum 0: there is nothing to release")
