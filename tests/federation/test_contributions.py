"""Contribution scores: the Shapley axioms, closed-form games, Monte Carlo against exact,
the utility cache, the revenue split, and the refusals."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from federation.contributions import (
    MAX_EXACT_PLAYERS,
    Method,
    Scores,
    Utility,
    accumulate,
    leave_one_out,
    shapley,
    shapley_exact,
    shapley_monte_carlo,
)
from federation.errors import InvalidGame


def _mask(coalition: frozenset[int]) -> int:
    return sum(1 << player for player in coalition)


def _random_game(players: int, seed: int) -> Utility:
    """A game with an independent uniform worth for every coalition: no structure at all."""
    table = np.random.default_rng(seed).uniform(-1, 1, 1 << players)
    return lambda coalition: float(table[_mask(coalition)])


def _additive(weights: Sequence[float]) -> Utility:
    return lambda coalition: math.fsum(weights[player] for player in coalition)


def _diminishing(
    players: int, seed: int, gains: tuple[float, float] = (0.1, 0.5), overlaps: float = 0.02
) -> Utility:
    """Accuracy-like: each platform removes a fraction of the remaining error, plus pairwise
    overlaps, so marginals shrink as the coalition grows."""
    rng = np.random.default_rng(seed)
    fraction = rng.uniform(*gains, players)
    overlap = rng.uniform(-overlaps, overlaps, (players, players))

    def utility(coalition: frozenset[int]) -> float:
        members = sorted(coalition)
        error = math.prod(1 - float(fraction[player]) for player in members)
        pairs = sum(overlap[a, b] for a in members for b in members if a < b)
        return 1 - error + float(pairs)

    return utility


class _Counting:
    """A utility that records every coalition it is asked for."""

    def __init__(self, utility: Utility) -> None:
        self.utility = utility
        self.calls: Counter[frozenset[int]] = Counter()

    def __call__(self, coalition: frozenset[int]) -> float:
        self.calls[coalition] += 1
        return self.utility(coalition)


# --- the Shapley axioms, on games where they are not automatic -------------------------------


def test_exact_is_efficient() -> None:
    game = _random_game(7, seed=1)
    scores = shapley_exact(7, game)
    assert math.fsum(scores.values) == pytest.approx(game(frozenset(range(7))) - game(frozenset()))


def test_interchangeable_players_score_equally() -> None:
    base = _random_game(5, seed=2)

    def swap(coalition: frozenset[int]) -> frozenset[int]:
        return frozenset({0: 1, 1: 0}.get(player, player) for player in coalition)

    scores = shapley_exact(5, lambda coalition: base(coalition) + base(swap(coalition)))
    assert scores.values[0] == pytest.approx(scores.values[1])
    assert scores.values[0] != pytest.approx(scores.values[2])  # the game is not symmetric


def test_a_null_player_scores_zero() -> None:
    base = _random_game(5, seed=3)
    game: Utility = lambda coalition: base(coalition - {2})  # noqa: E731
    assert shapley_exact(5, game).values[2] == pytest.approx(0, abs=1e-12)
    assert leave_one_out(5, game).values[2] == pytest.approx(0, abs=1e-12)
    monte_carlo = shapley_monte_carlo(5, game, permutations=20, rng=np.random.default_rng(0))
    assert monte_carlo.values[2] == pytest.approx(0, abs=1e-12)


def test_the_value_of_a_sum_of_games_is_the_sum_of_values() -> None:
    first, second = _random_game(6, seed=4), _random_game(6, seed=5)
    together = shapley_exact(6, lambda coalition: first(coalition) + second(coalition))
    apart = zip(shapley_exact(6, first).values, shapley_exact(6, second).values, strict=True)
    assert together.values == pytest.approx([a + b for a, b in apart])


# --- games with closed-form values -----------------------------------------------------------


def _glove(coalition: frozenset[int]) -> float:
    # Player 0 holds the only left glove, players 1 and 2 a right glove each; a pair sells for 1.
    return float(min(len(coalition & {0}), len(coalition & {1, 2})))


def _airport(costs: Sequence[float]) -> Utility:
    # A runway serving a coalition costs as much as its largest plane needs.
    return lambda coalition: -max((costs[player] for player in coalition), default=0.0)


def _airport_shapley(costs: Sequence[float]) -> list[float]:
    # Littlechild & Owen 1973: each runway segment is split equally among the planes using it.
    ordered = sorted(costs)
    return [
        -math.fsum(
            (ordered[k] - (ordered[k - 1] if k else 0.0)) / (len(costs) - k)
            for k in range(ordered.index(cost) + 1)
        )
        for cost in costs
    ]


def _unanimity(carriers: frozenset[int]) -> Utility:
    return lambda coalition: float(carriers <= coalition)


@pytest.mark.parametrize(
    ("players", "game", "expected"),
    [
        pytest.param(3, _glove, [2 / 3, 1 / 6, 1 / 6], id="glove-game"),
        pytest.param(
            5,
            _airport([1.0, 4.0, 2.0, 9.0, 7.0]),
            _airport_shapley([1.0, 4.0, 2.0, 9.0, 7.0]),
            id="airport-game",
        ),
        pytest.param(
            10,
            _airport([float(c) for c in (3, 8, 1, 12, 5, 9, 2, 7, 11, 6)]),
            _airport_shapley([float(c) for c in (3, 8, 1, 12, 5, 9, 2, 7, 11, 6)]),
            id="airport-game-10",
        ),
        pytest.param(4, _unanimity(frozenset({1, 3})), [0.0, 0.5, 0.0, 0.5], id="unanimity-game"),
        pytest.param(1, lambda coalition: 5.0 * len(coalition), [5.0], id="one-player"),
    ],
)
def test_exact_matches_the_closed_form(players: int, game: Utility, expected: list[float]) -> None:
    assert shapley_exact(players, game).values == pytest.approx(expected)


def test_leave_one_out_on_an_additive_game_is_each_weight() -> None:
    weights = [0.3, -0.1, 0.0, 1.7, 0.25]
    scores = leave_one_out(5, _additive(weights))
    assert scores.method == Method.leave_one_out
    assert str(scores.method) == "leave-one-out"
    assert scores.values == pytest.approx(weights)
    assert (scores.evaluations, scores.permutations, scores.standard_errors) == (6, None, None)


def test_leave_one_out_pays_nothing_for_a_redundant_contribution() -> None:
    # Platforms 0 and 1 hold the same data: either alone gives the whole value.
    def game(coalition: frozenset[int]) -> float:
        return float(bool(coalition & {0, 1}))

    assert leave_one_out(2, game).values == (0.0, 0.0)
    assert shapley_exact(2, game).values == pytest.approx([0.5, 0.5])


# --- Monte Carlo -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("players", "game", "permutations"),
    [
        pytest.param(6, _random_game(6, seed=6), 2_000, id="random-6"),
        pytest.param(10, _diminishing(10, seed=7), 400, id="diminishing-10"),
    ],
)
def test_monte_carlo_is_within_three_standard_errors_of_exact(
    players: int, game: Utility, permutations: int
) -> None:
    exact = shapley_exact(players, game)
    estimate = shapley_monte_carlo(
        players, game, permutations=permutations, rng=np.random.default_rng(8)
    )
    assert estimate.method == Method.shapley_monte_carlo
    assert estimate.permutations == permutations
    assert estimate.standard_errors is not None
    for value, truth, error in zip(
        estimate.values, exact.values, estimate.standard_errors, strict=True
    ):
        assert 0 < error < 0.05
        assert abs(value - truth) <= 3 * error


@pytest.mark.parametrize("antithetic", [pytest.param(True, id="antithetic"), False])
def test_untruncated_monte_carlo_is_efficient(antithetic: bool) -> None:
    game = _random_game(8, seed=9)
    estimate = shapley_monte_carlo(
        8, game, permutations=10, rng=np.random.default_rng(0), antithetic=antithetic
    )
    total = game(frozenset(range(8))) - game(frozenset())
    assert math.fsum(estimate.values) == pytest.approx(total)


def test_monte_carlo_on_an_additive_game_is_exact_with_no_error() -> None:
    weights = [0.5, -0.25, 2.0, 0.0]
    estimate = shapley_monte_carlo(
        4, _additive(weights), permutations=6, rng=np.random.default_rng(1)
    )
    assert estimate.values == pytest.approx(weights)
    assert estimate.standard_errors == pytest.approx([0.0] * 4, abs=1e-12)


def test_an_antithetic_pair_of_two_players_walks_both_orders() -> None:
    game = _random_game(2, seed=10)
    estimate = shapley_monte_carlo(2, game, permutations=4, rng=np.random.default_rng(2))
    assert estimate.values == pytest.approx(shapley_exact(2, game).values)
    assert estimate.standard_errors == pytest.approx([0.0, 0.0], abs=1e-12)


def test_a_single_independent_sample_has_no_standard_error() -> None:
    estimate = shapley_monte_carlo(
        3, _glove, permutations=1, rng=np.random.default_rng(3), antithetic=False
    )
    assert estimate.standard_errors is not None
    assert all(math.isnan(error) for error in estimate.standard_errors)


def test_a_seeded_generator_reproduces_the_estimate() -> None:
    game = _random_game(6, seed=11)

    def run() -> Scores:
        return shapley_monte_carlo(6, game, permutations=30, rng=np.random.default_rng(12))

    assert run() == run()


def test_truncation_saves_evaluations_and_stays_within_tolerance() -> None:
    game = _diminishing(10, seed=13, gains=(0.4, 0.8), overlaps=0.0)
    tolerance = 0.02
    full = shapley_monte_carlo(10, game, permutations=100, rng=np.random.default_rng(14))
    truncated = shapley_monte_carlo(
        10, game, permutations=100, rng=np.random.default_rng(14), truncation=tolerance
    )
    assert truncated.evaluations < full.evaluations / 2
    total = game(frozenset(range(10))) - game(frozenset())
    # Each walk stops with its prefix within the tolerance of v(N), so does their mean.
    assert abs(math.fsum(truncated.values) - total) <= tolerance
    assert truncated.values == pytest.approx(full.values, abs=tolerance)


# --- the utility cache -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "score",
    [
        pytest.param(leave_one_out, id="leave-one-out"),
        pytest.param(shapley_exact, id="shapley-exact"),
        pytest.param(
            lambda players, utility: shapley_monte_carlo(
                players, utility, permutations=200, rng=np.random.default_rng(15)
            ),
            id="shapley-monte-carlo",
        ),
        pytest.param(
            lambda players, utility: shapley_monte_carlo(
                players, utility, permutations=200, rng=np.random.default_rng(15), truncation=0.1
            ),
            id="shapley-truncated",
        ),
    ],
)
def test_each_coalition_is_evaluated_once(score: Callable[[int, Utility], Scores]) -> None:
    counting = _Counting(_diminishing(5, seed=16))
    scores = score(5, counting)
    assert set(counting.calls.values()) == {1}
    assert scores.evaluations == len(counting.calls)


def test_exact_evaluates_every_coalition_including_the_empty_one() -> None:
    counting = _Counting(_glove)
    assert shapley_exact(3, counting).evaluations == 8
    assert frozenset() in counting.calls


def test_monte_carlo_evaluates_the_empty_coalition_as_the_baseline() -> None:
    counting = _Counting(_glove)
    shapley_monte_carlo(3, counting, permutations=2, rng=np.random.default_rng(17))
    assert frozenset() in counting.calls


# --- choosing the method ---------------------------------------------------------------------


def test_shapley_is_exact_up_to_the_threshold_and_sampled_above_it() -> None:
    game = _diminishing(6, seed=18)
    assert shapley(6, game, exact_up_to=6).method == Method.shapley_exact
    sampled = shapley(6, game, exact_up_to=5, permutations=40, rng=np.random.default_rng(19))
    assert sampled.method == Method.shapley_monte_carlo
    assert sampled.permutations == 40


# --- the revenue split -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param((1.0, 3.0), (0.25, 0.75), id="proportional"),
        pytest.param((2.0, -1.0, 2.0), (0.5, 0.0, 0.5), id="negative-gets-nothing"),
        pytest.param((0.0, 0.0, 0.0, 0.0), (0.25,) * 4, id="all-zero-equal"),
        pytest.param((-1.0, -3.0), (0.5, 0.5), id="all-negative-equal"),
        pytest.param((0.0, 7.0, 0.0), (0.0, 1.0, 0.0), id="one-contributor"),
    ],
)
def test_shares(values: tuple[float, ...], expected: tuple[float, ...]) -> None:
    shares = Scores(Method.shapley_exact, values, evaluations=0).shares()
    assert shares == pytest.approx(expected)
    assert math.fsum(shares) == pytest.approx(1.0)
    assert all(share >= 0 for share in shares)


# --- summing over rounds ---------------------------------------------------------------------


def test_accumulated_rounds_are_the_value_of_the_summed_game() -> None:
    rounds = [_diminishing(5, seed=seed) for seed in range(20, 23)]
    per_round = [shapley_exact(5, game) for game in rounds]
    run = accumulate(per_round)
    summed = shapley_exact(5, lambda coalition: math.fsum(game(coalition) for game in rounds))
    assert run.method == Method.shapley_exact
    assert run.values == pytest.approx(summed.values)
    assert run.evaluations == 3 * 32
    assert (run.permutations, run.standard_errors) == (None, None)


def test_accumulated_standard_errors_add_in_quadrature() -> None:
    per_round = [
        Scores(Method.shapley_monte_carlo, (1.0, 2.0), 5, 10, (0.3, 0.0)),
        Scores(Method.shapley_monte_carlo, (0.5, -1.0), 7, 20, (0.4, 0.1)),
    ]
    run = accumulate(per_round)
    assert run.values == (1.5, 1.0)
    assert (run.evaluations, run.permutations) == (12, 30)
    assert run.standard_errors == pytest.approx((0.5, 0.1))


# --- refusals --------------------------------------------------------------------------------


def _nan_at_everyone(coalition: frozenset[int]) -> float:
    return math.nan if len(coalition) == 3 else 0.0


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: leave_one_out(0, _glove), id="loo-no-players"),
        pytest.param(lambda: shapley_exact(-1, _glove), id="exact-negative-players"),
        pytest.param(
            lambda: shapley_exact(MAX_EXACT_PLAYERS + 1, _glove), id="exact-too-many-players"
        ),
        pytest.param(
            lambda: shapley_monte_carlo(0, _glove, permutations=2, rng=np.random.default_rng()),
            id="mc-no-players",
        ),
        pytest.param(
            lambda: shapley_monte_carlo(3, _glove, permutations=0, rng=np.random.default_rng()),
            id="mc-no-permutations",
        ),
        pytest.param(
            lambda: shapley_monte_carlo(3, _glove, permutations=3, rng=np.random.default_rng()),
            id="mc-odd-antithetic",
        ),
        pytest.param(
            lambda: shapley_monte_carlo(
                3, _glove, permutations=2, rng=np.random.default_rng(), truncation=-0.1
            ),
            id="mc-negative-truncation",
        ),
        pytest.param(
            lambda: shapley_monte_carlo(
                3, _glove, permutations=2, rng=np.random.default_rng(), truncation=math.nan
            ),
            id="mc-nan-truncation",
        ),
        pytest.param(lambda: shapley_exact(3, _nan_at_everyone), id="exact-nan-utility"),
        pytest.param(lambda: leave_one_out(3, _nan_at_everyone), id="loo-nan-utility"),
        pytest.param(
            lambda: shapley_monte_carlo(
                3, lambda coalition: math.inf, permutations=2, rng=np.random.default_rng()
            ),
            id="mc-infinite-utility",
        ),
        pytest.param(lambda: shapley(3, _glove, exact_up_to=13), id="exact-up-to-too-high"),
        pytest.param(lambda: accumulate([]), id="accumulate-no-rounds"),
        pytest.param(
            lambda: accumulate([leave_one_out(3, _glove), shapley_exact(3, _glove)]),
            id="accumulate-mixed-methods",
        ),
        pytest.param(
            lambda: accumulate([shapley_exact(3, _glove), shapley_exact(2, _glove)]),
            id="accumulate-mixed-players",
        ),
        pytest.param(
            lambda: Scores(Method.shapley_monte_carlo, (1.0, 2.0), 3, 2, (0.1,)),
            id="scores-errors-length",
        ),
    ],
)
def test_refusals(call: Callable[[], object]) -> None:
    with pytest.raises(InvalidGame):
        call()


def test_a_refusal_names_the_value() -> None:
    with pytest.raises(InvalidGame, match=r"coalition \[0, 1, 2\] is nan"):
        shapley_exact(3, _nan_at_everyone)
