"""The alliance data set: memberships, partitions, held-out persons, features, label."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from numpy.typing import NDArray

from consent.taxonomy import DataStandard, ValueType
from federation.alliance_data import FEATURES, Alliance, alliance
from federation.errors import InvalidDataRequest

PERSONS = 20_000


@pytest.fixture(scope="module")
def data() -> Alliance:
    return alliance(PERSONS, seed=7)


def test_same_seed_gives_identical_arrays_and_another_seed_does_not() -> None:
    first, again, other = alliance(2_000, 5), alliance(2_000, 5), alliance(2_000, 6)
    for field in ("membership", "held_out", "person", "platform", "x", "y"):
        assert np.array_equal(getattr(first, field), getattr(again, field)), field
    assert not np.array_equal(first.membership, other.membership)
    assert not np.array_equal(first.x[:10], other.x[:10])


def test_shapes_and_dtypes(data: Alliance) -> None:
    rows = int(data.membership.sum())
    assert data.membership.shape == (PERSONS, 3) and data.held_out.shape == (PERSONS,)
    assert data.x.shape == (rows, len(FEATURES)) == (rows, 58) and data.x.dtype == np.float32
    for array in (data.person, data.platform, data.y):
        assert array.shape == (rows,) and array.dtype == np.int64
    assert set(np.unique(data.y)) == {0, 1}
    assert np.all(data.membership[data.person, data.platform])
    assert np.array_equal(np.unique(data.person), np.arange(PERSONS))
    part = data.partition(0)
    assert part.x.dtype == np.float32 and part.person.dtype == part.y.dtype == np.int64


def test_every_person_is_on_one_to_three_platforms(data: Alliance) -> None:
    counts = data.membership.sum(axis=1)
    assert counts.min() >= 1 and counts.max() <= 3
    shares = np.bincount(counts, minlength=4)[1:] / PERSONS
    assert np.allclose(shares, [0.5, 0.3, 0.2], atol=0.02)
    many = alliance(5_000, seed=1, platforms=6).membership.sum(axis=1)
    assert many.min() == 1 and many.max() == 3
    assert np.all(alliance(500, seed=1, platforms=1).membership)


def test_a_partition_holds_only_its_platforms_own_persons(data: Alliance) -> None:
    for platform in range(3):
        part = data.partition(platform)
        assert part.platform == platform
        assert np.all(np.diff(part.person) > 0)  # one row per person, ascending
        assert np.all(data.membership[part.person, platform])
        expected = np.flatnonzero(data.membership[:, platform] & ~data.held_out)
        assert np.array_equal(part.person, expected)
        rows = (data.platform == platform) & ~data.held_out[data.person]
        assert np.array_equal(part.x, data.x[rows]) and np.array_equal(part.y, data.y[rows])


def test_held_out_persons_are_in_validation_only(data: Alliance) -> None:
    held = np.flatnonzero(data.held_out)
    assert len(held) == PERSONS // 10
    for platform in range(3):
        assert not np.intersect1d(data.partition(platform).person, held).size
    validation = data.validation()
    assert np.array_equal(np.unique(validation.person), held)
    assert len(validation.y) == int(data.membership[held].sum())  # all their rows
    assert np.all(data.membership[validation.person, validation.platform])
    trained = sum(len(data.partition(p).y) for p in range(3))
    assert trained + len(validation.y) == len(data.y)


def test_features_are_numeric_categories_the_training_purpose_needs(
    standard: DataStandard, data: Alliance
) -> None:
    assert data.features == FEATURES and len(set(FEATURES)) == len(FEATURES)
    necessity = standard.purposes["train_ai_system.profile_model"].necessity
    for key in FEATURES:
        category = standard.categories[key]
        assert category.type in {ValueType.integer, ValueType.float}, key
        assert not category.deprecated and category.sensitive is None, key
        assert key in necessity, key


def test_a_persons_rows_on_two_platforms_are_correlated(data: Alliance) -> None:
    on = [np.flatnonzero(data.platform == p) for p in (0, 1)]
    _, first, second = np.intersect1d(data.person[on[0]], data.person[on[1]], return_indices=True)
    a, b = on[0][first], on[1][second]
    assert len(a) > 1_000
    x, y = data.x[a].astype(np.float64), data.x[b].astype(np.float64)
    correlation = ((x - x.mean(0)) * (y - y.mean(0))).mean(0) / (x.std(0) * y.std(0))
    assert correlation.min() > 0.4
    assert np.corrcoef(data.y[a], data.y[b])[0, 1] > 0.2


def test_platforms_are_non_iid(data: Alliance) -> None:
    means = np.stack([data.partition(p).x.mean(axis=0) for p in range(3)])
    assert np.abs(means[0] - means[1]).mean() > 0.5
    assert np.abs(means[1] - means[2]).mean() > 0.5


def test_conversion_base_rate_is_in_range_and_learnable(data: Alliance) -> None:
    rate = data.y.mean()
    assert 0.1 <= rate <= 0.3  # about 0.2: the majority-class baseline is about 0.8
    for platform in range(3):
        assert 0.05 <= data.partition(platform).y.mean() <= 0.4
    parts = [data.partition(p) for p in range(3)]
    weights = _logistic_fit(
        np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts])
    )
    validation = data.validation()
    predicted = _with_bias(validation.x) @ weights > 0
    accuracy = (predicted == validation.y).mean()
    majority = max(validation.y.mean(), 1 - validation.y.mean())
    assert accuracy > majority + 0.04, (accuracy, majority)


def test_conversion_rate_is_a_parameter() -> None:
    assert 0.07 <= alliance(PERSONS, seed=2, conversion_rate=0.1).y.mean() <= 0.13


def test_one_hundred_thousand_persons_on_three_platforms_in_under_ten_seconds() -> None:
    started = time.perf_counter()
    big = alliance(100_000, seed=0, platforms=3)
    elapsed = time.perf_counter() - started
    assert elapsed < 10, elapsed
    assert big.membership.shape == (100_000, 3) and len(big.y) > 150_000


def test_results_are_immutable(data: Alliance) -> None:
    with pytest.raises(ValueError, match="read-only"):
        data.x[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        data.partition(0).y[0] = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.seed = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({"persons": 0}, "persons", id="no-persons"),
        pytest.param({"platforms": 0}, "platforms", id="no-platforms"),
        pytest.param({"seed": -1}, "seed", id="negative-seed"),
        pytest.param({"alpha": -0.5}, "alpha", id="negative-alpha"),
        pytest.param({"beta": float("inf")}, "beta", id="infinite-beta"),
        pytest.param({"conversion_rate": 1.0}, "conversion_rate", id="certain-conversion"),
        pytest.param({"validation": 1.0}, "validation", id="everyone-held-out"),
    ],
)
def test_bad_inputs_are_refused(arguments: dict[str, float], message: str) -> None:
    call: dict[str, float] = {"persons": 100, "seed": 0, **arguments}
    with pytest.raises(InvalidDataRequest, match=message) as caught:
        alliance(**call)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "platform", [pytest.param(-1, id="negative"), pytest.param(3, id="past-end")]
)
def test_a_platform_out_of_range_is_refused(data: Alliance, platform: int) -> None:
    with pytest.raises(InvalidDataRequest, match=r"platform must be in 0\.\.2"):
        data.partition(platform)


def _with_bias(x: NDArray[np.float32]) -> NDArray[np.float64]:
    return np.hstack([x.astype(np.float64), np.ones((len(x), 1))])


def _logistic_fit(x: NDArray[np.float32], y: NDArray[np.int64]) -> NDArray[np.float64]:
    """Logistic regression by Newton's method (IRLS), with a small ridge for stability."""
    design = _with_bias(x)
    weights = np.zeros(design.shape[1])
    for _ in range(12):
        chance = 1 / (1 + np.exp(-(design @ weights)))
        gradient = design.T @ (chance - y) + 1e-3 * weights
        hessian = (design * (chance * (1 - chance))[:, None]).T @ design
        weights -= np.linalg.solve(hessian + 1e-3 * np.eye(len(weights)), gradient)
    return weights
