"""Person-level DP-FedAvg: sampling, the person bound across platforms, noise, averaging.

The statistical tests use fixed seeds, so they are deterministic; each check's bound is
set so that it would fail for a correct mechanism with probability FAIL over seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
import scipy.stats  # type: ignore[import-untyped]
from numpy.typing import NDArray

from federation.accounting import RdpAccountant, SampledGaussian
from federation.alliance_data import Alliance, alliance
from federation.dp_fedavg import (
    Placement,
    Plan,
    aggregate,
    clip,
    clip_shares,
    flatten,
    platform_sum,
    sample,
    unflatten,
)
from federation.errors import FederationError, InvalidRound

KEY = bytes(range(32))
FAIL = 1e-9  # false-failure probability of each statistical check
PLACEMENTS = [
    pytest.param(Placement.central, id="central"),
    pytest.param(Placement.distributed, id="distributed"),
]


def _plan(**changes: object) -> Plan:
    fields: dict[str, object] = {
        "round": 0,
        "sampling_rate": 0.1,
        "clip_norm": 1.0,
        "noise_multiplier": 1.0,
        "placement": Placement.central,
        "platforms": 3,
        "population": 1_000,
    }
    fields.update(changes)
    return Plan(**fields)  # type: ignore[arg-type]


# Sampling


def test_sampling_is_deterministic_for_a_key_and_round() -> None:
    ids = np.arange(5_000)
    plan = _plan(sampling_rate=0.3, population=len(ids))
    first = sample(KEY, plan, ids)
    assert np.array_equal(first, sample(KEY, plan, ids))
    assert np.array_equal(first, sample(KEY, plan, ids.tolist()))  # array or list: same draws
    names = [f"person-{i}" for i in ids]
    assert np.array_equal(sample(KEY, plan, names), sample(KEY, plan, names))


def test_sampling_differs_across_rounds_and_keys() -> None:
    ids = np.arange(5_000)
    plans = [_plan(round=r, sampling_rate=0.5, population=len(ids)) for r in range(3)]
    masks = [sample(KEY, plan, ids) for plan in plans]
    assert not np.array_equal(masks[0], masks[1])
    assert not np.array_equal(masks[1], masks[2])
    assert not np.array_equal(masks[0], sample(bytes(32), plans[0], ids))


@pytest.mark.parametrize(
    ("rate", "kind"),
    [
        pytest.param(0.001, "int", id="q0.001-int-ids"),
        pytest.param(0.05, "int", id="q0.05-int-ids"),
        pytest.param(0.5, "str", id="q0.5-str-ids"),
        pytest.param(1.0, "int", id="q1-everyone"),
    ],
)
def test_sampling_rate_is_q(rate: float, kind: str) -> None:
    n = 100_000
    ids: Sequence[str] | NDArray[np.int64] = (
        np.arange(n) if kind == "int" else [f"0b6f{i:08x}-person" for i in range(n)]
    )
    count = int(sample(KEY, _plan(sampling_rate=rate, population=n), ids).sum())
    low, high = scipy.stats.binom.ppf([FAIL / 2, 1 - FAIL / 2], n, rate)
    assert low <= count <= high


def test_a_persons_draw_ignores_which_other_ids_exist() -> None:
    # Underpins "identical models with and without the persons who never consented".
    rng = np.random.default_rng(3)
    consenting = rng.choice(1_000_000, 3_000, replace=False)
    others = np.setdiff1d(rng.choice(1_000_000, 5_000, replace=False), consenting)
    everyone = rng.permutation(np.concatenate([consenting, others]))
    alone = dict(
        zip(
            consenting.tolist(),
            sample(KEY, _plan(sampling_rate=0.2, population=len(consenting)), consenting),
            strict=True,
        )
    )
    among = dict(
        zip(
            everyone.tolist(),
            sample(KEY, _plan(sampling_rate=0.2, population=len(everyone)), everyone),
            strict=True,
        )
    )
    assert all(among[person] == drawn for person, drawn in alone.items())
    assert any(among[person] for person in others.tolist())  # others would have been drawn


def test_string_and_integer_ids_draw_separately() -> None:
    plan = _plan(sampling_rate=0.5, population=2_000)
    as_int = sample(KEY, plan, np.arange(2_000))
    as_str = sample(KEY, plan, [str(i) for i in range(2_000)])
    assert not np.array_equal(as_int, as_str)


# Clipping and the person bound


@pytest.mark.parametrize(
    "per_row", [pytest.param(False, id="one-bound"), pytest.param(True, id="bound-per-row")]
)
def test_clip_bounds_every_row_and_leaves_small_rows_untouched(per_row: bool) -> None:
    rng = np.random.default_rng(5)
    rows = rng.standard_normal((400, 50)) * rng.uniform(0.001, 0.5, (400, 1))
    bounds = rng.uniform(0.5, 2.0, 400) if per_row else np.full(400, 1.5)
    clipped, norms = clip(rows.astype(np.float32), bounds if per_row else 1.5)
    assert np.array_equal(norms, np.linalg.norm(rows.astype(np.float32).astype(float), axis=1))
    after = np.linalg.norm(clipped, axis=1)
    assert np.all(after <= bounds)
    small = norms <= bounds
    assert 0 < small.sum() < len(rows)  # both kinds occur
    assert np.array_equal(clipped[small], rows.astype(np.float32).astype(float)[small])
    np.testing.assert_allclose(after[~small], bounds[~small], rtol=1e-9)
    directions = clipped[~small] / after[~small, None]
    np.testing.assert_allclose(directions, rows[~small] / norms[~small, None], atol=1e-6)


def test_clip_shares_split_each_persons_norm_over_their_platforms() -> None:
    shares = clip_shares([np.array([1, 2, 3]), [2, 3], [3, 4]])
    assert [s.tolist() for s in shares] == [[1.0, 0.5, 1 / 3], [0.5, 1 / 3], [1 / 3, 1.0]]
    assert clip_shares([[], [7]])[0].shape == (0,)


@pytest.mark.parametrize("k", [pytest.param(k, id=f"{k}-platforms") for k in (1, 2, 3)])
def test_a_person_on_k_platforms_moves_the_total_by_at_most_c(k: int) -> None:
    # Worst case: the person's update on every platform is huge and points the same way.
    plan = _plan(noise_multiplier=0.0, clip_norm=0.8, sampling_rate=0.5, population=2)
    rng = np.random.default_rng(k)
    direction = rng.standard_normal(30)
    others = [rng.standard_normal((5, 30)) * 0.1 for _ in range(3)]
    other_ids = [[100 * p + i for i in range(5)] for p in range(3)]
    with_person = [[*ids, 42] if p < k else ids for p, ids in enumerate(other_ids)]

    def row(platform: int, person: int) -> NDArray[np.float64]:
        return 1e3 * direction if person == 42 else others[platform][person % 100]

    def total(listed: list[list[int]]) -> NDArray[np.float64]:
        sums = [
            platform_sum(plan, np.array([row(p, i) for i in ids]).reshape(-1, 30), share)
            for p, (ids, share) in enumerate(zip(listed, clip_shares(listed), strict=True))
        ]
        return aggregate(plan, sums)  # q·N = 1: the total itself

    alone = [[42] if p < k else [] for p in range(3)]
    contribution = np.linalg.norm(total(alone))
    assert plan.clip_norm * (1 - 1e-9) <= contribution <= plan.clip_norm
    moved = np.linalg.norm(total(with_person) - total(other_ids))
    assert moved <= plan.clip_norm + 1e-12


# Noise and averaging


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_total_noise_has_standard_deviation_z_times_c(placement: Placement) -> None:
    # q·N = 1, so the average is the noisy total; with no persons the total is pure noise.
    # Σ noise² / σ² ~ χ²(d) and Σ noise / (σ√d) ~ N(0, 1) for coordinates i.i.d. N(0, σ²).
    dimension, platforms = 50_000, 3
    plan = _plan(
        sampling_rate=0.5,
        population=2,
        clip_norm=0.7,
        noise_multiplier=1.3,
        placement=placement,
        platforms=platforms,
    )
    empty = np.zeros((0, dimension))
    sums = [platform_sum(plan, empty, [], np.random.default_rng([1, p])) for p in range(platforms)]
    noise = aggregate(plan, sums, np.random.default_rng([1, 99]))
    low, high = scipy.stats.chi2.ppf([FAIL / 2, 1 - FAIL / 2], dimension)
    z_bound = scipy.stats.norm.ppf(1 - FAIL / 2)
    assert low <= np.sum(noise**2) / plan.noise_std**2 <= high
    assert abs(np.sum(noise)) / (plan.noise_std * np.sqrt(dimension)) <= z_bound
    share_variance = plan.noise_std**2 / platforms
    for share in sums:
        if placement is Placement.central:
            assert not share.any()
        else:
            assert low <= np.sum(share**2) / share_variance <= high


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_z_zero_adds_no_noise_and_is_flagged_not_private(placement: Placement) -> None:
    plan = _plan(noise_multiplier=0.0, placement=placement, clip_norm=10.0)
    updates = np.random.default_rng(2).standard_normal((6, 20))
    sums = [platform_sum(plan, updates[2 * p : 2 * p + 2], [1.0, 1.0]) for p in range(3)]
    assert np.array_equal(sums[0], updates[0] + updates[1])
    assert np.array_equal(aggregate(plan, sums), (sums[0] + sums[1] + sums[2]) / 100)
    assert not plan.private
    with pytest.raises(InvalidRound, match="not private"):
        _ = plan.step


def test_aggregate_divides_by_the_expected_count_not_the_sampled_one() -> None:
    plan = _plan(sampling_rate=0.1, population=1_000, noise_multiplier=0.0)  # q·N = 100
    updates = np.eye(7, 7) * 0.5  # 7 persons sampled, each within C
    average = aggregate(plan, [platform_sum(plan, updates, np.ones(7))])
    assert plan.expected_persons == 100
    assert np.array_equal(average, np.full(7, 0.5) / 100)


def test_step_is_the_sampled_gaussian_the_accountant_composes() -> None:
    plan = _plan(sampling_rate=0.02, noise_multiplier=1.1)
    assert plan.step == SampledGaussian(0.02, 1.1)
    assert plan.private and plan.noise_std == 1.1
    assert RdpAccountant().compose(plan.step, 10).epsilon(1e-6).epsilon > 0


def test_a_distributed_round_refuses_a_missing_noise_share() -> None:
    plan = _plan(placement=Placement.distributed)
    share = platform_sum(plan, np.zeros((0, 4)), [], np.random.default_rng(0))
    with pytest.raises(InvalidRound, match="all 3 platforms"):
        aggregate(plan, [share, share])


def test_flatten_and_unflatten_round_trip() -> None:
    like = [np.ones((3, 4), np.float32), np.arange(5.0), np.array(2.0, np.float32)]
    vector = flatten(like)
    assert vector.dtype == np.float64 and vector.shape == (18,)
    back = unflatten(vector, like)
    for got, want in zip(back, like, strict=True):
        assert got.dtype == want.dtype and np.array_equal(got, want)


# End to end: a tiny logistic regression over the alliance data

PERSONS, ROUNDS, LEARNING_RATE = 600, 3, 0.5


@pytest.fixture(scope="module")
def data() -> Alliance:
    return alliance(PERSONS, seed=11, validation=0.0)


Holdings = list[tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.int64]]]


def _holdings(data: Alliance, kept: NDArray[np.bool_]) -> Holdings:
    """Each platform's rows, only those of the ``kept`` persons."""
    parts = [data.partition(p) for p in range(data.platforms)]
    return [(d.person[kept[d.person]], d.x[kept[d.person]], d.y[kept[d.person]]) for d in parts]


def _update(
    params: list[NDArray[np.float32]], x: NDArray[np.float32], y: NDArray[np.int64]
) -> NDArray[np.float64]:
    """One person's local update on one platform: a gradient step over their rows."""
    logits = x.astype(np.float64) @ params[0] + params[1][0]
    error = 1 / (1 + np.exp(-logits)) - y
    return -LEARNING_RATE * flatten([x.T @ error / len(y), [error.mean()]])


def _train(
    data: Alliance,
    rounds: Sequence[tuple[NDArray[np.int64], Holdings]],
    placement: Placement,
) -> list[NDArray[np.float32]]:
    """Run one (consenting persons, platforms' rows) pair per round; the final model."""
    params = [np.zeros(data.x.shape[1], np.float32), np.zeros(1, np.float32)]
    for r, (consenting, holdings) in enumerate(rounds):
        plan = _plan(
            round=r,
            sampling_rate=0.2,
            population=len(consenting),
            placement=placement,
            noise_multiplier=0.5,
        )
        chosen = consenting[sample(KEY, plan, consenting)]
        # The gateway tells each platform its sampled persons, from the account links.
        on = [chosen[data.membership[chosen, p]] for p in range(data.platforms)]
        sums = []
        for p, (ids, shares) in enumerate(zip(on, clip_shares(on), strict=True)):
            person, x, y = holdings[p]
            rows = [_update(params, x[person == i], y[person == i]) for i in ids.tolist()]
            updates = np.vstack(rows) if rows else np.zeros((0, data.x.shape[1] + 1))
            sums.append(platform_sum(plan, updates, shares, np.random.default_rng([7, r, p])))
        average = aggregate(plan, sums, np.random.default_rng([7, r, 99]))
        params = unflatten(flatten(params) + average, params)
    return params


def _same(first: list[NDArray[np.float32]], second: list[NDArray[np.float32]]) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_training_with_and_without_never_consenting_persons_gives_identical_models(
    data: Alliance, placement: Placement
) -> None:
    consents = np.random.default_rng(4).random(PERSONS) < 0.7
    consenting = np.flatnonzero(consents)
    everyone_rows, consenting_rows = (
        _holdings(data, np.ones(PERSONS, bool)),
        _holdings(data, consents),
    )
    with_them = _train(data, [(consenting, everyone_rows)] * ROUNDS, placement)
    without = _train(data, [(consenting, consenting_rows)] * ROUNDS, placement)
    assert _same(with_them, without)
    # Not vacuous: had they consented, some would have been sampled and changed the model.
    everyone = np.arange(PERSONS)
    assert sample(KEY, _plan(sampling_rate=0.2, population=PERSONS), everyone)[~consents].any()
    assert not _same(with_them, _train(data, [(everyone, everyone_rows)] * ROUNDS, placement))


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_a_withdrawal_removes_the_person_from_every_later_round(
    data: Alliance, placement: Placement
) -> None:
    everyone, rows = np.arange(PERSONS), _holdings(data, np.ones(PERSONS, bool))
    # A person who would be sampled in round 1 withdraws after round 0.
    leaver = int(
        np.flatnonzero(
            sample(KEY, _plan(round=1, sampling_rate=0.2, population=PERSONS), everyone)
        )[0]
    )
    staying = everyone[everyone != leaver]
    without_leaver = _holdings(data, everyone != leaver)
    kept_rows = _train(data, [(everyone, rows)] + [(staying, rows)] * (ROUNDS - 1), placement)
    erased = _train(
        data, [(everyone, rows)] + [(staying, without_leaver)] * (ROUNDS - 1), placement
    )
    assert _same(kept_rows, erased)
    assert not _same(kept_rows, _train(data, [(everyone, rows)] * ROUNDS, placement))


# Refusals

REFUSALS: list[object] = [
    pytest.param(lambda: _plan(sampling_rate=0.0), "sampling rate", id="q-zero"),
    pytest.param(lambda: _plan(sampling_rate=1.5), "sampling rate", id="q-above-one"),
    pytest.param(lambda: _plan(clip_norm=0.0), "clip norm", id="c-zero"),
    pytest.param(lambda: _plan(clip_norm=float("inf")), "clip norm", id="c-infinite"),
    pytest.param(lambda: _plan(noise_multiplier=-1.0), "noise multiplier", id="z-negative"),
    pytest.param(lambda: _plan(noise_multiplier=float("nan")), "noise multiplier", id="z-nan"),
    pytest.param(lambda: _plan(placement="edge"), "unknown placement", id="placement"),
    pytest.param(lambda: _plan(platforms=0), "platforms", id="no-platforms"),
    pytest.param(lambda: _plan(population=0), "population", id="no-population"),
    pytest.param(lambda: _plan(round=-1), "round", id="negative-round"),
    pytest.param(lambda: _plan(round=True), "round", id="bool-round"),
    pytest.param(lambda: sample(b"short", _plan(population=1), [1]), "run key", id="short-key"),
    pytest.param(lambda: sample(KEY, _plan(population=3), [1, 2]), "population", id="not-n-ids"),
    pytest.param(lambda: sample(KEY, _plan(population=2), [1, 1]), "distinct", id="duplicate-id"),
    pytest.param(
        lambda: sample(KEY, _plan(population=1), [True]), "strings or integers", id="bool-id"
    ),
    pytest.param(lambda: clip_shares([[1, 1]]), "twice", id="share-duplicate"),
    pytest.param(lambda: clip(np.ones((2, 3)), 0.0), "bounds", id="bound-zero"),
    pytest.param(lambda: clip(np.ones(3), 1.0), "matrix", id="update-not-matrix"),
    pytest.param(lambda: clip([[np.nan, 1.0]], 1.0), "not finite", id="update-nan"),
    pytest.param(
        lambda: platform_sum(_plan(), np.ones((2, 3)), [1.0]), "one per", id="shares-count"
    ),
    pytest.param(
        lambda: platform_sum(_plan(), np.ones((1, 3)), [0.0]), r"\(0, 1\]", id="share-zero"
    ),
    pytest.param(
        lambda: platform_sum(_plan(), np.ones((1, 3)), [1.5]), r"\(0, 1\]", id="share-above-one"
    ),
    pytest.param(
        lambda: platform_sum(_plan(placement=Placement.distributed), np.ones((1, 3)), [1.0]),
        "Generator",
        id="distributed-without-rng",
    ),
    pytest.param(lambda: aggregate(_plan(), [np.ones(3)]), "Generator", id="central-without-rng"),
    pytest.param(
        lambda: aggregate(_plan(), [np.ones(3), np.ones(4)]), "one length", id="sum-shapes"
    ),
    pytest.param(
        lambda: aggregate(_plan(platforms=1), [np.ones(3)] * 2), "1 to 1", id="too-many-sums"
    ),
    pytest.param(lambda: aggregate(_plan(), []), "1 to 3", id="no-sums"),
    pytest.param(lambda: flatten([]), "at least one", id="flatten-nothing"),
    pytest.param(lambda: unflatten(np.ones(5), [np.ones(4)]), "4 values", id="unflatten-size"),
]


@pytest.mark.parametrize(("call", "message"), REFUSALS)
def test_invalid_inputs_are_refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidRound, match=message) as refused:
        call()
    assert isinstance(refused.value, FederationError) and isinstance(refused.value, ValueError)
