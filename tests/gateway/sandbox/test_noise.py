"""The sandbox's noise core: input refusals, OpenDP's ε accounting, and statistical tests
that the noise actually drawn has the spread the reported ε promises.

OpenDP's sampler cannot be seeded, so the statistical tests fix everything else (seeded
data, a fixed number of draws) and use distribution-free bounds. The only random failures
are the four checks against the true distribution (KS and variance, for counts and sums),
each with probability at most ALPHA = 1e-7. Each is paired with power checks against the
distribution for 2ε and ε/2, whose margins are asserted exactly, so they can only fail
inside those same events: a spurious red run has probability at most 4e-7 < 1e-6.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import pytest
import scipy.stats  # type: ignore[import-untyped]

from gateway.sandbox.noise import (
    MAX_EPSILON,
    NoiseError,
    Release,
    count_release,
    mean_release,
    stddev,
    sum_release,
)

ALPHA = 1e-7  # false-failure probability per statistical check
RELEASES = 200  # noisy releases of one fixed vector ...
GROUPS = 100  # ... of this many groups: 20,000 independent noise draws per mechanism
DRAWS = RELEASES * GROUPS

# Dvoretzky–Kiefer–Wolfowitz with Massart's constant (1990): for n draws from any
# distribution F, P(sup_x |F_n(x) - F(x)| > t) <= 2 exp(-2 n t^2). It holds for discrete F
# too (the supremum then runs over fewer points), where scipy's kstest p-value does not.
# Solving 2 exp(-2 n t^2) = ALPHA: t = sqrt(ln(2 / ALPHA) / (2 n)) ≈ 0.0205 for n = 20,000.
KS_THRESHOLD = math.sqrt(math.log(2 / ALPHA) / (2 * DRAWS))


def _seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test data, not noise


# --- refusals -------------------------------------------------------------------------


def _count(**overrides: Any) -> object:
    return count_release(**{"counts": [3, 4], "groups_per_person": 1, "epsilon": 1.0, **overrides})


def _sum(**overrides: Any) -> object:
    args = {"sums": [1.0], "groups_per_person": 1, "lower": 0.0, "upper": 1.0, "epsilon": 1.0}
    return sum_release(**{**args, **overrides})


def _mean(**overrides: Any) -> object:
    args = {"counts": [2], "sums": [1.0], "groups_per_person": 1, "lower": 0.0, "upper": 1.0}
    return mean_release(**{**args, "epsilon": 1.0, **overrides})


@pytest.mark.parametrize(
    ("release", "overrides", "message"),
    [
        pytest.param(_count, {"epsilon": 0.0}, "above 0", id="count-epsilon-zero"),
        pytest.param(_count, {"epsilon": -1.0}, "above 0", id="count-epsilon-negative"),
        pytest.param(_count, {"epsilon": math.nan}, "finite", id="count-epsilon-nan"),
        pytest.param(_count, {"epsilon": math.inf}, "finite", id="count-epsilon-inf"),
        pytest.param(_count, {"epsilon": MAX_EPSILON * 1.01}, "maximum", id="count-epsilon-big"),
        pytest.param(_count, {"groups_per_person": 0}, "groups_per_person", id="count-k-zero"),
        pytest.param(_count, {"groups_per_person": -2}, "groups_per_person", id="count-k-neg"),
        pytest.param(_count, {"groups_per_person": 1.5}, "integer", id="count-k-float"),
        pytest.param(_count, {"groups_per_person": True}, "integer", id="count-k-bool"),
        pytest.param(_count, {"counts": [1, -1]}, "counts", id="count-negative"),
        pytest.param(_count, {"counts": [1.5]}, "counts", id="count-not-int"),
        pytest.param(_count, {"counts": [2**31]}, "counts", id="count-beyond-i32"),
        pytest.param(_sum, {"epsilon": 0.0}, "above 0", id="sum-epsilon-zero"),
        pytest.param(_sum, {"epsilon": 11.0}, "maximum", id="sum-epsilon-big"),
        pytest.param(_sum, {"groups_per_person": 0}, "groups_per_person", id="sum-k-zero"),
        pytest.param(_sum, {"lower": 2.0, "upper": 1.0}, "above upper", id="sum-bounds-swapped"),
        pytest.param(_sum, {"lower": -math.inf}, "finite", id="sum-lower-inf"),
        pytest.param(_sum, {"upper": math.nan}, "finite", id="sum-upper-nan"),
        pytest.param(_sum, {"lower": 0.0, "upper": 0.0}, "nothing", id="sum-bounds-zero"),
        pytest.param(_sum, {"sums": [1.0, math.nan]}, "sums", id="sum-nan"),
        pytest.param(_sum, {"sums": [math.inf]}, "sums", id="sum-inf"),
        pytest.param(
            _sum, {"upper": 5e-324, "epsilon": MAX_EPSILON}, "scale", id="sum-scale-underflow"
        ),
        pytest.param(_mean, {"sums": [1.0, 2.0]}, "one of each", id="mean-length-mismatch"),
        pytest.param(_mean, {"epsilon": -0.5}, "above 0", id="mean-epsilon-negative"),
        pytest.param(_mean, {"lower": 3.0, "upper": 1.0}, "above upper", id="mean-bounds"),
        pytest.param(_mean, {"groups_per_person": 0}, "groups_per_person", id="mean-k-zero"),
    ],
)
def test_bad_input_is_refused(
    release: Callable[..., object], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(NoiseError, match=message):
        release(**overrides)


def test_the_error_is_a_value_error() -> None:
    assert issubclass(NoiseError, ValueError)


def test_empty_vectors_release_empty() -> None:
    assert count_release([], groups_per_person=1, epsilon=1.0).values == ()
    assert sum_release([], groups_per_person=1, lower=0, upper=1, epsilon=1.0).values == ()
    assert mean_release([], [], groups_per_person=1, lower=0, upper=1, epsilon=1.0).means == ()


# --- OpenDP's accounting ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("groups_per_person", "epsilon"),
    [
        pytest.param(1, 1.0, id="k1-eps1"),
        pytest.param(3, 0.7, id="k3-eps0.7"),  # 3/0.7 rounds down: OpenDP's search takes over
        pytest.param(7, 0.013, id="k7-eps0.013"),
        pytest.param(1, MAX_EPSILON, id="k1-max"),
    ],
)
def test_count_epsilon_is_within_and_close_to_the_asked(
    groups_per_person: int, epsilon: float
) -> None:
    release = count_release([5, 0, 9], groups_per_person=groups_per_person, epsilon=epsilon)
    assert release.epsilon <= epsilon
    assert release.epsilon == pytest.approx(epsilon, rel=0.01)
    assert release.mechanism == "discrete_laplace"
    assert release.sensitivity == groups_per_person
    assert release.scale == pytest.approx(groups_per_person / epsilon, rel=1e-9)
    assert all(isinstance(v, int) for v in release.values)


@pytest.mark.parametrize(
    ("groups_per_person", "lower", "upper", "epsilon", "sensitivity"),
    [
        pytest.param(1, 0.0, 100.0, 1.0, 100.0, id="k1-0..100"),
        pytest.param(3, -50.0, 20.0, 0.7, 150.0, id="k3-negative-lower"),
        pytest.param(2, 0.0, 0.1, 0.3, 0.2, id="k2-small-bound"),
        pytest.param(1, 5.0, 5.0, 2.0, 5.0, id="point-bounds"),
    ],
)
def test_sum_epsilon_is_within_and_close_to_the_asked(
    groups_per_person: int, lower: float, upper: float, epsilon: float, sensitivity: float
) -> None:
    release = sum_release(
        [10.0, -3.5],
        groups_per_person=groups_per_person,
        lower=lower,
        upper=upper,
        epsilon=epsilon,
    )
    assert release.epsilon <= epsilon
    assert release.epsilon == pytest.approx(epsilon, rel=0.01)
    assert release.mechanism == "laplace"
    assert release.sensitivity == pytest.approx(sensitivity, rel=1e-12)
    assert release.scale == pytest.approx(sensitivity / epsilon, rel=1e-9)


def test_scale_grows_with_groups_per_person_and_bound_width() -> None:
    def count_scale(k: int) -> float:
        return count_release([1], groups_per_person=k, epsilon=0.5).scale

    def sum_scale(k: int, lower: float, upper: float) -> float:
        return sum_release([1.0], groups_per_person=k, lower=lower, upper=upper, epsilon=0.5).scale

    assert count_scale(3) == pytest.approx(3 * count_scale(1), rel=1e-9)
    assert count_scale(10) == pytest.approx(10 * count_scale(1), rel=1e-9)
    assert sum_scale(1, 0, 20) == pytest.approx(2 * sum_scale(1, 0, 10), rel=1e-9)
    assert sum_scale(4, 0, 10) == pytest.approx(4 * sum_scale(1, 0, 10), rel=1e-9)
    # The widest side counts: a person at -30 moves a sum by 30, not by the width 40.
    assert sum_scale(1, -30, 10) == pytest.approx(3 * sum_scale(1, 0, 10), rel=1e-9)


def test_sensitivity_is_rounded_up_never_down() -> None:
    # 3 × 0.1 in floats; the exact product of the binary 0.1 must not be understated.
    release = sum_release([0.0], groups_per_person=3, lower=0.0, upper=0.1, epsilon=1.0)
    assert Fraction(release.sensitivity) >= 3 * Fraction(0.1)


def test_stddev_matches_the_reference_distributions() -> None:
    counts = count_release([1], groups_per_person=2, epsilon=0.8)
    sums = sum_release([1.0], groups_per_person=1, lower=0, upper=4, epsilon=0.5)
    assert stddev(counts) == pytest.approx(scipy.stats.dlaplace(1 / counts.scale).std())
    assert stddev(sums) == pytest.approx(scipy.stats.laplace(scale=sums.scale).std())


# --- means ------------------------------------------------------------------------------


def test_means_split_epsilon_and_stay_within_bounds() -> None:
    rng = _seeded(7)
    counts = [rng.choice([0, 1, 2, 50, 1000]) for _ in range(300)]
    sums = [count * rng.uniform(-2.0, 8.0) for count in counts]
    release = mean_release(counts, sums, groups_per_person=2, lower=-2.0, upper=8.0, epsilon=0.9)
    assert all(-2.0 <= mean <= 8.0 for mean in release.means)
    assert all(isinstance(mean, float) for mean in release.means)
    assert len(release.means) == len(release.counts.values) == len(release.sums.values) == 300
    assert release.counts.epsilon <= 0.45
    assert release.sums.epsilon <= 0.45
    assert release.epsilon == release.counts.epsilon + release.sums.epsilon
    assert 0.99 * 0.9 <= release.epsilon <= 0.9
    assert release.counts.sensitivity == 2
    assert release.sums.sensitivity == 16.0


def test_means_of_large_groups_are_close_to_the_truth() -> None:
    # Post-processing sanity: with 10⁶ people per group, the noise is negligible.
    release = mean_release(
        [10**6] * 5, [4.0 * 10**6] * 5, groups_per_person=1, lower=0, upper=10, epsilon=1.0
    )
    assert release.means == pytest.approx([4.0] * 5, abs=0.01)


# --- the noise has the spread the reported ε promises -----------------------------------


@dataclass(frozen=True)
class Draws:
    noise: list[float]  # noisy − exact, pooled over all releases and groups
    sensitivity: float
    epsilon: float  # as reported by OpenDP's map
    discrete: bool

    def reference(self, epsilon: float) -> Any:
        """The noise distribution ε-DP Laplace would have at this sensitivity: scale Δ/ε."""
        scale = self.sensitivity / epsilon
        if self.discrete:
            return scipy.stats.dlaplace(1 / scale)  # pmf ∝ exp(-|x| / scale), as OpenDP's
        return scipy.stats.laplace(scale=scale)


def _pooled(
    releases: Sequence[Release[int]] | Sequence[Release[float]], exact: Sequence[float]
) -> list[float]:
    return [
        noisy - true
        for release in releases
        for noisy, true in zip(release.values, exact, strict=True)
    ]


@pytest.fixture(scope="module")
def count_draws() -> Draws:
    rng = _seeded(11)
    counts = [rng.randrange(0, 5000) for _ in range(GROUPS)]
    releases = [count_release(counts, groups_per_person=2, epsilon=0.8) for _ in range(RELEASES)]
    assert len({r.epsilon for r in releases}) == 1
    return Draws(_pooled(releases, counts), 2.0, releases[0].epsilon, discrete=True)


@pytest.fixture(scope="module")
def sum_draws() -> Draws:
    rng = _seeded(13)
    sums = [rng.uniform(-1000.0, 50_000.0) for _ in range(GROUPS)]
    releases = [
        sum_release(sums, groups_per_person=3, lower=-5.0, upper=20.0, epsilon=0.5)
        for _ in range(RELEASES)
    ]
    assert len({r.epsilon for r in releases}) == 1
    return Draws(_pooled(releases, sums), 60.0, releases[0].epsilon, discrete=False)


def _ks_distance(noise: Sequence[float], reference: Any, discrete: bool) -> float:
    """sup_x |F_n(x) - F(x)|. For a discrete F both are step functions jumping at the
    integers, so the supremum is over the integers from below the sample to its maximum."""
    if not discrete:
        return float(scipy.stats.kstest(noise, reference.cdf).statistic)
    tally = Counter(int(x) for x in noise)
    seen, distance = 0, 0.0
    for x in range(min(tally) - 1, max(tally) + 1):
        seen += tally.get(x, 0)
        distance = max(distance, abs(seen / len(noise) - float(reference.cdf(x))))
    return distance


def _variance_tolerance(reference: Any, n: int) -> float:
    """How far the mean of X² (the variance about the known mean 0) strays from Var X with
    probability at most ALPHA, from bounds that need no normal approximation:

    - below (Maurer 2003, for non-negative Z = X²): P(mean Z < E Z - t) <= exp(-n t² / (2 E Z²));
    - above: truncate at c with P(|X| > c) <= ALPHA / (4 n), so all n draws stay below c with
      probability 1 - ALPHA/4; then Bernstein for Y = min(X², c²) in [0, c²], E Y <= Var X,
      Var Y <= E X⁴: P(mean Y > Var X + t) <= exp(-n t² / (2 E X⁴ + 2 c² t / 3)) = ALPHA / 4.

    For Laplace(b), n = 20,000 and ALPHA = 1e-7 this gives t ≈ 0.26 × 2b² (the CLT alone
    would say ≈ 0.08 × 2b²); the power checks compare against 4× or ¼× the variance."""
    fourth = float(reference.moment(4))
    lower = math.sqrt(2 * fourth * math.log(2 / ALPHA) / n)
    c = float(reference.isf(ALPHA / (8 * n)))  # one-sided tail; |X| doubles it
    log_term = math.log(4 / ALPHA)
    linear = 2 * log_term * c * c / 3
    upper = (linear + math.sqrt(linear * linear + 8 * n * log_term * fourth)) / (2 * n)
    return max(lower, upper)


def _mean_square(noise: Sequence[float]) -> float:
    return math.fsum(x * x for x in noise) / len(noise)


@pytest.fixture(params=["counts", "sums"])
def draws(request: pytest.FixtureRequest) -> Draws:
    fixture = "count_draws" if request.param == "counts" else "sum_draws"
    result: Draws = request.getfixturevalue(fixture)
    return result


def test_noise_distribution_matches_the_reported_epsilon(draws: Draws) -> None:
    assert len(draws.noise) == DRAWS
    distance = _ks_distance(draws.noise, draws.reference(draws.epsilon), draws.discrete)
    assert distance <= KS_THRESHOLD


def test_noise_variance_matches_the_reported_epsilon(draws: Draws) -> None:
    reference = draws.reference(draws.epsilon)
    tolerance = _variance_tolerance(reference, DRAWS)
    assert tolerance < 0.3 * float(reference.var())  # the check can see a wrong ε at all
    assert abs(_mean_square(draws.noise) - float(reference.var())) <= tolerance


@pytest.mark.parametrize("factor", [pytest.param(2.0, id="2eps"), pytest.param(0.5, id="half-eps")])
def test_the_distribution_check_rejects_a_wrong_epsilon(draws: Draws, factor: float) -> None:
    right, wrong = draws.reference(draws.epsilon), draws.reference(factor * draws.epsilon)
    # Power by construction: the two CDFs differ by more than twice the threshold somewhere,
    # so if the empirical CDF is within the threshold of the truth (probability 1 - ALPHA)
    # it is beyond it from the wrong distribution.
    scale = draws.sensitivity / draws.epsilon
    grid = range(-20, 21) if draws.discrete else [scale * i / 10 for i in range(-100, 101)]
    gap = max(abs(float(right.cdf(x)) - float(wrong.cdf(x))) for x in grid)
    assert gap > 2 * KS_THRESHOLD
    assert _ks_distance(draws.noise, wrong, draws.discrete) > KS_THRESHOLD


@pytest.mark.parametrize("factor", [pytest.param(2.0, id="2eps"), pytest.param(0.5, id="half-eps")])
def test_the_variance_check_rejects_a_wrong_epsilon(draws: Draws, factor: float) -> None:
    right, wrong = draws.reference(draws.epsilon), draws.reference(factor * draws.epsilon)
    tolerance = _variance_tolerance(wrong, DRAWS)
    # Power by construction, as for the distribution: the two variances (4× apart) are
    # further apart than both tolerances together.
    gap = abs(float(right.var()) - float(wrong.var()))
    assert gap > _variance_tolerance(right, DRAWS) + tolerance
    assert abs(_mean_square(draws.noise) - float(wrong.var())) > tolerance
