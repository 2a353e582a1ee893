"""Per-platform contribution scores for a federated training run: the input to the
alliance's revenue sharing, with the platforms as the players of a cooperative game.

A game is a :data:`Utility`, the worth v(S) of every coalition S of players, the empty one
included (its worth is the baseline). Three scores are offered:

* leave-one-out, v(N) − v(N \\ {i}): P + 1 evaluations, but it pays nothing for a
  contribution two platforms make redundantly, and its scores need not sum to v(N) − v(∅);
* the Shapley value (Shapley 1953), exactly by the subset formula for up to
  :data:`MAX_EXACT_PLAYERS` players (2^P evaluations);
* the Shapley value estimated by permutation sampling (Castro, Gómez, Tejada 2009,
  "Polynomial calculation of the Shapley value based on sampling"), with the truncation of
  Truncated Monte Carlo Shapley (Ghorbani & Zou 2019, "Data Shapley", Alg. 1) and antithetic
  permutations (Mitchell, Cooper, Frank, Holmes 2022, "Sampling Permutations for Shapley Value
  Estimation", JMLR 23): each sampled order is also walked in reverse. For a player early in
  one order is late in the other, and under diminishing returns its early and late marginals
  are negatively correlated, so the pair's mean varies less than two independent orders'.

Every method caches the utility by coalition: a utility is a model evaluation, so each
distinct coalition is evaluated once, and :attr:`Scores.evaluations` counts them.

How training uses it (the multi-round reconstruction of Song, Tong, Wei 2019, "Profit
Allocation for Federated Learning", IEEE Big Data; and the federated Shapley value of Wang,
Rausch, Zhang, Jia, Song 2020, "A Principled Approach to Data Valuation for Federated
Learning"): in round t the server holds the global model m_{t-1} and each platform's update,
and scores the round's game::

    utility(S) = metric(m_{t-1} + mean update of the platforms in S) − metric(m_{t-1})

so that utility(∅) = 0 and no model is retrained. A platform absent from round t is a null
player of that round (it is in no update), which is Wang et al.'s rule that only a round's
participants share its value. :func:`accumulate` sums the per-round scores over the run,
and :meth:`Scores.shares` turns the sum into the revenue split.

Limitation: the scores are computed from the platforms' un-noised update sums that the
server sees, so they are not themselves differentially private with respect to a person;
they are a platform-level figure for revenue sharing, not a release about persons, and are
not charged to the privacy-loss ledger.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from federation.errors import InvalidGame

Utility = Callable[[frozenset[int]], float]

# 2^12 = 4,096 model evaluations per round is the most exact scoring should cost; past that,
# Monte Carlo reaches a few standard errors of it with far fewer.
MAX_EXACT_PLAYERS = 12


class Method(StrEnum):
    """How the scores were computed (a ``str``: compares equal to its value)."""

    leave_one_out = "leave-one-out"
    shapley_exact = "shapley-exact"
    shapley_monte_carlo = "shapley-monte-carlo"


@dataclass(frozen=True)
class Scores:
    """One score per player (index = player id 0..P-1) and what computing them cost."""

    method: Method
    values: tuple[float, ...]
    evaluations: int  # distinct coalitions whose utility was evaluated
    permutations: int | None = None  # Monte Carlo only: orders walked
    standard_errors: tuple[float, ...] | None = None  # Monte Carlo only

    def __post_init__(self) -> None:
        if self.standard_errors is not None and len(self.standard_errors) != len(self.values):
            raise InvalidGame(
                f"{len(self.standard_errors)} standard errors for {len(self.values)} scores"
            )

    def shares(self) -> tuple[float, ...]:
        """The revenue-sharing split: each player's fraction of the revenue, summing to 1.

        Only the positive part of a score earns a share, in proportion to it: a platform whose
        updates made the model worse gets 0 rather than a bill. If no score is positive, there
        is no contribution to split by, and the players share equally.
        """
        positive = [max(value, 0.0) for value in self.values]
        total = math.fsum(positive)
        if total <= 0:
            return tuple(1 / len(self.values) for _ in self.values)
        return tuple(value / total for value in positive)


class _CachedUtility:
    """The utility evaluated at most once per coalition, and refused if not finite."""

    def __init__(self, utility: Utility) -> None:
        self._utility = utility
        self._worth: dict[frozenset[int], float] = {}

    def __call__(self, coalition: frozenset[int]) -> float:
        if coalition not in self._worth:
            worth = float(self._utility(coalition))
            if not math.isfinite(worth):
                raise InvalidGame(
                    f"utility of coalition {sorted(coalition)} is {worth!r}; it must be finite"
                )
            self._worth[coalition] = worth
        return self._worth[coalition]

    @property
    def evaluations(self) -> int:
        return len(self._worth)


def _check_players(players: int) -> None:
    if players < 1:
        raise InvalidGame(f"a game needs at least 1 player, got {players!r}")


def leave_one_out(players: int, utility: Utility) -> Scores:
    """v(N) − v(N \\ {i}) for each player i: what the others would lose without it."""
    _check_players(players)
    worth = _CachedUtility(utility)
    everyone = frozenset(range(players))
    grand = worth(everyone)
    values = tuple(grand - worth(everyone - {player}) for player in range(players))
    return Scores(Method.leave_one_out, values, worth.evaluations)


def _coalition(mask: int, players: int) -> frozenset[int]:
    return frozenset(player for player in range(players) if mask >> player & 1)


def shapley_exact(players: int, utility: Utility) -> Scores:
    """The Shapley value by the subset formula, over all 2^P coalitions:

    φ_i = Σ_{S ⊆ N \\ {i}} |S|! (P − |S| − 1)! / P! · (v(S ∪ {i}) − v(S)).
    """
    _check_players(players)
    if players > MAX_EXACT_PLAYERS:
        raise InvalidGame(
            f"exact Shapley takes 2^P utility evaluations; it is refused for {players} players "
            f"(at most {MAX_EXACT_PLAYERS}): use shapley_monte_carlo"
        )
    worth = _CachedUtility(utility)
    masks = np.arange(1 << players)
    table = np.array([worth(_coalition(int(mask), players)) for mask in masks])
    sizes = np.array([int(mask).bit_count() for mask in masks])
    weight_by_size = np.array(
        [
            math.factorial(size) * math.factorial(players - size - 1) / math.factorial(players)
            for size in range(players)
        ]
    )
    values = []
    for player in range(players):
        without = masks[(masks >> player & 1) == 0]
        marginals = table[without | (1 << player)] - table[without]
        values.append(float(np.dot(weight_by_size[sizes[without]], marginals)))
    return Scores(Method.shapley_exact, tuple(values), worth.evaluations)


def _walk(
    order: NDArray[np.int64], worth: _CachedUtility, grand: float, truncation: float
) -> NDArray[np.float64]:
    """Each player's marginal contribution when joining in ``order``, truncated (TMC)."""
    marginals = np.zeros(len(order))
    members: set[int] = set()
    before = worth(frozenset())
    for player in order:
        # Ghorbani & Zou: once the prefix is within tolerance of v(N), the rest of the order
        # can add only noise, so it is not evaluated and its marginals are taken as 0.
        if truncation > 0 and abs(grand - before) <= truncation:
            break
        members.add(int(player))
        after = worth(frozenset(members))
        marginals[player] = after - before
        before = after
    return marginals


def shapley_monte_carlo(
    players: int,
    utility: Utility,
    *,
    permutations: int,
    rng: np.random.Generator,
    truncation: float = 0.0,
    antithetic: bool = True,
) -> Scores:
    """The Shapley value estimated from ``permutations`` orders of the players.

    Each order's marginal contributions telescope to v(N) − v(∅), so untruncated estimates
    are efficient exactly. With ``antithetic`` (the default) the orders are
    ``permutations / 2`` uniformly sampled ones, each followed by its reverse; a pair's mean
    is one independent sample, so ``permutations`` must be even. The standard errors are the
    sample standard deviation of the independent samples over the root of their number (NaN
    from a single sample); they measure sampling error only, not truncation's bias.

    ``truncation`` > 0 stops a walk once |v(N) − v(prefix)| ≤ ``truncation`` and scores the
    players after it 0; each walk's scores then sum to within ``truncation`` of
    v(N) − v(∅). At 0 nothing is truncated: in a game that is not monotone, players after a
    prefix worth exactly v(N) can still move the value.
    """
    _check_players(players)
    if permutations < 1:
        raise InvalidGame(f"permutations must be at least 1, got {permutations!r}")
    if antithetic and permutations % 2:
        raise InvalidGame(
            f"antithetic sampling walks orders in pairs; permutations must be even, "
            f"got {permutations!r}"
        )
    if not (truncation >= 0 and math.isfinite(truncation)):
        raise InvalidGame(f"truncation must be finite and at least 0, got {truncation!r}")

    worth = _CachedUtility(utility)
    grand = worth(frozenset(range(players)))
    orders: list[NDArray[np.int64]] = []
    for _ in range(permutations // 2 if antithetic else permutations):
        order = rng.permutation(players)
        orders.append(order)
        if antithetic:
            orders.append(order[::-1])
    marginals = np.stack([_walk(order, worth, grand, truncation) for order in orders])

    samples = marginals.reshape(-1, 2, players).mean(axis=1) if antithetic else marginals
    count = samples.shape[0]
    errors = (
        samples.std(axis=0, ddof=1) / math.sqrt(count) if count > 1 else np.full(players, math.nan)
    )
    return Scores(
        Method.shapley_monte_carlo,
        tuple(float(value) for value in samples.mean(axis=0)),
        worth.evaluations,
        permutations,
        tuple(float(error) for error in errors),
    )


def shapley(
    players: int,
    utility: Utility,
    *,
    rng: np.random.Generator | None = None,
    exact_up_to: int = 8,
    permutations: int = 200,
) -> Scores:
    """Exact Shapley for up to ``exact_up_to`` players, else Monte Carlo (antithetic, no
    truncation). Without ``rng`` the sample is unseeded: pass a seeded generator for a split
    that can be recomputed when audited.
    """
    if exact_up_to > MAX_EXACT_PLAYERS:
        raise InvalidGame(f"exact_up_to must be at most {MAX_EXACT_PLAYERS}, got {exact_up_to!r}")
    if players <= exact_up_to:
        return shapley_exact(players, utility)
    return shapley_monte_carlo(
        players,
        utility,
        permutations=permutations,
        rng=rng if rng is not None else np.random.default_rng(),
    )


def accumulate(per_round: Sequence[Scores]) -> Scores:
    """The run's scores: the per-round scores summed player by player.

    The Shapley value is additive in the game, so the sum of per-round values is the value of
    the game whose worth is the sum of the rounds' worths. Rounds are independent samples, so
    Monte Carlo standard errors add in quadrature. Rounds must share the method (a sum of
    leave-one-out and Shapley scores means neither) and the players (a platform absent from a
    round is a null player of it, not a shorter tuple).
    """
    if not per_round:
        raise InvalidGame("no rounds to accumulate")
    first = per_round[0]
    for scores in per_round[1:]:
        if scores.method != first.method:
            raise InvalidGame(
                f"rounds scored by different methods: {first.method} and {scores.method}"
            )
        if len(scores.values) != len(first.values):
            raise InvalidGame(
                f"rounds scored for different numbers of players: "
                f"{len(first.values)} and {len(scores.values)}"
            )
    counts = [scores.permutations for scores in per_round if scores.permutations is not None]
    known = [scores.standard_errors for scores in per_round if scores.standard_errors is not None]
    return Scores(
        first.method,
        tuple(math.fsum(column) for column in zip(*(s.values for s in per_round), strict=True)),
        sum(scores.evaluations for scores in per_round),
        sum(counts) if len(counts) == len(per_round) else None,
        tuple(math.hypot(*column) for column in zip(*known, strict=True))
        if len(known) == len(per_round)
        else None,
    )
