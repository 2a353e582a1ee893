"""The RDP accountant: the DP-FedAvg paper's figures, composition, and cross-checks."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal, localcontext

import numpy as np
import pytest
from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

from federation.accounting import (
    DEFAULT_ORDERS,
    Conversion,
    RdpAccountant,
    SampledGaussian,
    noise_multiplier_for,
)
from federation.errors import AccountingError, FederationError

PAPER_ORDERS = tuple(range(2, 65))
STEP = SampledGaussian(sampling_rate=0.01, noise_multiplier=1.1)


def _exact_rdp(q: float, z: float, alpha: int) -> float:
    """Mironov, Talwar, Zhang 2019, Sec. 3.3, summed in 80-digit decimal arithmetic."""
    with localcontext() as ctx:
        ctx.prec = 80
        rate, one = Decimal(q), Decimal(1)
        a = sum(
            (
                Decimal(math.comb(alpha, k))
                * (one - rate) ** (alpha - k)
                * rate**k
                * (Decimal(k * k - k) / (2 * Decimal(z) ** 2)).exp()
                for k in range(alpha + 1)
            ),
            Decimal(0),
        )
        return float(a.ln() / (alpha - 1))


@pytest.mark.parametrize(
    ("population", "expected"),
    [
        pytest.param(763_430, 4.634, id="763430-users"),
        pytest.param(100_000_000, 1.152, id="1e8-users"),
    ],
)
def test_reproduces_the_dp_fedavg_paper(population: int, expected: float) -> None:
    # McMahan et al. 2018: 5,000 expected users per round, z = 1, 5,000 rounds, δ = 1e-9,
    # integer orders 2..64 and the classic conversion.
    step = SampledGaussian(sampling_rate=5_000 / population, noise_multiplier=1.0)
    spent = RdpAccountant(PAPER_ORDERS).compose(step, 5_000).epsilon(1e-9, Conversion.classic)
    assert round(spent.epsilon, 3) == expected


def test_k_rounds_then_m_rounds_is_k_plus_m_rounds() -> None:
    stepwise = RdpAccountant().compose(STEP, 30).compose(STEP, 12)
    at_once = RdpAccountant().compose(STEP, 42)
    assert stepwise == at_once
    assert stepwise.rounds == 42
    assert stepwise.epsilon(1e-6).epsilon == at_once.epsilon(1e-6).epsilon
    assert stepwise.rdp() == pytest.approx([42 * r for r in STEP.rdp()], rel=1e-12)


def test_different_steps_add_their_curves_in_any_order() -> None:
    other = SampledGaussian(sampling_rate=0.05, noise_multiplier=2.0)
    one_way = RdpAccountant().compose(STEP, 3).compose(other, 5)
    other_way = RdpAccountant().compose(other, 5).compose(STEP, 3)
    assert one_way == other_way
    expected = [3 * a + 5 * b for a, b in zip(STEP.rdp(), other.rdp(), strict=True)]
    assert one_way.rdp() == pytest.approx(expected, rel=1e-12)


def test_compose_leaves_the_accountant_unchanged() -> None:
    before = RdpAccountant().compose(STEP, 10)
    after = before.compose(STEP)
    assert (before.rounds, after.rounds) == (10, 11)
    assert before.compose(STEP, 0) == before


def test_nothing_composed_spends_nothing() -> None:
    spent = RdpAccountant().epsilon(1e-6)
    assert (spent.epsilon, spent.order, spent.rounds) == (0.0, None, 0)


@pytest.mark.parametrize(
    ("smaller", "larger"),
    [
        pytest.param((0.01, 1.1, 10), (0.01, 1.1, 11), id="one-more-round"),
        pytest.param((0.01, 1.1, 100), (0.01, 1.1, 1_000), id="more-rounds"),
        pytest.param((0.01, 1.1, 100), (0.02, 1.1, 100), id="larger-q"),
        pytest.param((0.5, 1.1, 100), (1.0, 1.1, 100), id="full-sampling"),
        pytest.param((0.01, 1.1, 100), (0.01, 0.9, 100), id="smaller-z"),
    ],
)
@pytest.mark.parametrize("conversion", list(Conversion))
def test_epsilon_never_falls_with_more_privacy_loss(
    smaller: tuple[float, float, int], larger: tuple[float, float, int], conversion: Conversion
) -> None:
    def spent(q: float, z: float, rounds: int) -> float:
        accountant = RdpAccountant().compose(SampledGaussian(q, z), rounds)
        return accountant.epsilon(1e-6, conversion).epsilon

    assert 0 < spent(*smaller) < spent(*larger)


def test_one_more_round_is_charged_its_increment() -> None:
    # The ledger's pattern: the charges sum to the run's ε, never to a sum of per-round ε.
    accountant, charged = RdpAccountant(), 0.0
    for _ in range(5):
        before, after = accountant.epsilon(1e-6), accountant.compose(STEP).epsilon(1e-6)
        assert after.epsilon > before.epsilon
        charged += after.epsilon - before.epsilon
        accountant = accountant.compose(STEP)
    assert charged == pytest.approx(RdpAccountant().compose(STEP, 5).epsilon(1e-6).epsilon)
    assert charged < 5 * RdpAccountant().compose(STEP).epsilon(1e-6).epsilon


@pytest.mark.parametrize("z", [0.5, 1.0, 3.0])
def test_full_sampling_is_the_gaussian_mechanism(z: float) -> None:
    rdp = RdpAccountant().compose(SampledGaussian(1.0, z), 7).rdp()
    assert rdp == pytest.approx([7 * a / (2 * z * z) for a in DEFAULT_ORDERS], rel=1e-15)


@pytest.mark.parametrize("q", [1e-3, 5_000 / 763_430, 0.01, 0.1, 0.5, 0.99, 1.0])
@pytest.mark.parametrize("z", [0.5, 1.0, 2.0, 5.0])
def test_rdp_agrees_with_opacus(q: float, z: float) -> None:
    orders = (2, 3, 8, 32, 64, 128, 256)
    theirs = compute_rdp(q=q, noise_multiplier=z, steps=1, orders=list(orders))
    assert SampledGaussian(q, z).rdp(orders) == pytest.approx(list(theirs), rel=1e-9)


@pytest.mark.parametrize(
    ("q", "z"),
    [
        pytest.param(1e-9, 1.0, id="tiny-q"),
        pytest.param(1e-6, 20.0, id="small-q-large-z"),
        pytest.param(0.3, 0.3, id="small-z"),
        pytest.param(1 - 1e-9, 2.0, id="q-near-one"),
    ],
)
def test_rdp_is_exact_where_summing_all_terms_would_cancel(q: float, z: float) -> None:
    # Opacus sums every term of A_α, so for tiny q it keeps no correct digit of log(A_α).
    orders = (2, 5, 64, 256)
    exact = [_exact_rdp(q, z, alpha) for alpha in orders]
    assert SampledGaussian(q, z).rdp(orders) == pytest.approx(exact, rel=1e-11)


@pytest.mark.parametrize(
    ("q", "z", "rounds", "delta"),
    [
        pytest.param(0.01, 1.1, 1_000, 1e-5, id="dp-sgd-like"),
        pytest.param(5_000 / 763_430, 1.0, 5_000, 1e-9, id="paper-run"),
        pytest.param(0.1, 4.0, 50, 1e-6, id="few-rounds"),
    ],
)
def test_improved_conversion_agrees_with_opacus(
    q: float, z: float, rounds: int, delta: float
) -> None:
    accountant = RdpAccountant().compose(SampledGaussian(q, z), rounds)
    ours = accountant.epsilon(delta, Conversion.improved)
    theirs, order = get_privacy_spent(
        orders=list(DEFAULT_ORDERS), rdp=accountant.rdp(), delta=delta
    )
    assert ours.epsilon == pytest.approx(float(theirs), rel=1e-12)
    assert ours.order == order


def test_improved_conversion_is_tighter_than_classic() -> None:
    accountant = RdpAccountant().compose(STEP, 1_000)
    assert accountant.epsilon(1e-6).epsilon < accountant.epsilon(1e-6, Conversion.classic).epsilon


def test_guarantee_records_how_it_was_computed() -> None:
    spent = RdpAccountant(PAPER_ORDERS).compose(STEP, 20).epsilon(1e-7, Conversion.classic)
    assert (spent.accountant, spent.delta, spent.conversion) == ("rdp", 1e-7, Conversion.classic)
    assert spent.orders == PAPER_ORDERS
    assert spent.order in PAPER_ORDERS
    assert spent.details() == {
        "conversion": "classic",
        "orders": list(PAPER_ORDERS),
        "order": spent.order,
        "rounds": 20,
        "steps": [{"sampling_rate": 0.01, "noise_multiplier": 1.1, "rounds": 20}],
    }


@pytest.mark.parametrize(
    ("q", "rounds", "epsilon", "delta", "conversion"),
    [
        pytest.param(0.01, 1_000, 1.0, 1e-5, Conversion.improved, id="eps-1"),
        pytest.param(0.001, 10_000, 8.0, 1e-6, Conversion.improved, id="eps-8"),
        pytest.param(1.0, 10, 3.0, 1e-5, Conversion.classic, id="full-sampling-classic"),
    ],
)
def test_noise_multiplier_round_trips(
    q: float, rounds: int, epsilon: float, delta: float, conversion: Conversion
) -> None:
    z = noise_multiplier_for(epsilon, delta, sampling_rate=q, rounds=rounds, conversion=conversion)
    spent = RdpAccountant().compose(SampledGaussian(q, z), rounds).epsilon(delta, conversion)
    assert epsilon * (1 - 1e-6) < spent.epsilon <= epsilon
    # A hair less noise would overspend: z is the least that meets ε.
    slightly_less = RdpAccountant().compose(SampledGaussian(q, z * (1 - 1e-6)), rounds)
    assert slightly_less.epsilon(delta, conversion).epsilon > epsilon


def test_noise_multiplier_recovers_the_papers_noise() -> None:
    z = noise_multiplier_for(
        4.634,
        1e-9,
        sampling_rate=5_000 / 763_430,
        rounds=5_000,
        orders=PAPER_ORDERS,
        conversion=Conversion.classic,
    )
    assert z == pytest.approx(1.0, abs=1e-4)


def _accountant() -> RdpAccountant:
    return RdpAccountant().compose(STEP, 10)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda: SampledGaussian(0.0, 1.0), "sampling rate q", id="q-zero"),
        pytest.param(lambda: SampledGaussian(-0.1, 1.0), "sampling rate q", id="q-negative"),
        pytest.param(lambda: SampledGaussian(1.5, 1.0), "sampling rate q", id="q-above-one"),
        pytest.param(lambda: SampledGaussian(math.nan, 1.0), "sampling rate q", id="q-nan"),
        pytest.param(lambda: SampledGaussian(0.1, 0.0), "noise multiplier z", id="z-zero"),
        pytest.param(lambda: SampledGaussian(0.1, -1.0), "noise multiplier z", id="z-negative"),
        pytest.param(lambda: SampledGaussian(0.1, math.inf), "noise multiplier z", id="z-inf"),
        pytest.param(lambda: _accountant().epsilon(0.0), "δ must be in", id="delta-zero"),
        pytest.param(lambda: _accountant().epsilon(1.0), "δ must be in", id="delta-one"),
        pytest.param(lambda: _accountant().epsilon(-1e-5), "δ must be in", id="delta-negative"),
        pytest.param(
            lambda: _accountant().epsilon(1e-5, "bogus"),  # type: ignore[arg-type]
            "unknown conversion",
            id="conversion-unknown",
        ),
        pytest.param(lambda: _accountant().compose(STEP, -1), "rounds must be", id="rounds-neg"),
        pytest.param(
            lambda: _accountant().compose(STEP, 1.5),  # type: ignore[arg-type]
            "rounds must be",
            id="rounds-float",
        ),
        pytest.param(lambda: RdpAccountant(()), "orders must not be empty", id="orders-empty"),
        pytest.param(
            lambda: RdpAccountant((2, 2.5)),  # type: ignore[arg-type]
            "must be integers",
            id="orders-fraction",
        ),
        pytest.param(
            lambda: RdpAccountant((2.0, 3.0)),  # type: ignore[arg-type]
            "must be integers",
            id="orders-floats",
        ),
        pytest.param(lambda: RdpAccountant((1, 2)), "≥ 2", id="order-one"),
        pytest.param(lambda: RdpAccountant((8, 4)), "strictly increasing", id="orders-unsorted"),
        pytest.param(lambda: STEP.rdp([]), "orders must not be empty", id="step-orders-empty"),
        pytest.param(
            lambda: noise_multiplier_for(1.0, 1e-5, sampling_rate=0.01, rounds=0),
            "rounds must be at least 1",
            id="inverse-no-rounds",
        ),
        pytest.param(
            lambda: noise_multiplier_for(0.0, 1e-5, sampling_rate=0.01, rounds=10),
            "target ε",
            id="inverse-eps-zero",
        ),
        pytest.param(
            # With orders up to 8 and δ = 1e-9, no noise certifies ε below log(1e9)/7 ≈ 2.96.
            lambda: noise_multiplier_for(
                2.0,
                1e-9,
                sampling_rate=0.01,
                rounds=10,
                orders=range(2, 9),
                conversion=Conversion.classic,
            ),
            "the least these orders certify",
            id="inverse-below-floor",
        ),
        pytest.param(
            lambda: noise_multiplier_for(1.0, 1e-5, sampling_rate=0.0, rounds=10),
            "sampling rate q",
            id="inverse-q-zero",
        ),
    ],
)
def test_invalid_inputs_are_refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises(AccountingError, match=message):
        call()


def test_accounting_errors_are_value_errors() -> None:
    assert issubclass(AccountingError, ValueError)
    assert issubclass(AccountingError, FederationError)


def test_large_orders_and_little_noise_stay_finite() -> None:
    rdp = np.array(SampledGaussian(0.5, 0.1).rdp())
    assert np.isfinite(rdp).all()
    assert (np.diff(rdp) > 0).all()
