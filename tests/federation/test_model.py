"""The conversion model without Flower: training, updates, FedAvg's weighted mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from federation import logistic, model
from federation.alliance_data import FEATURES, alliance
from federation.dp_fedavg import flatten

D = len(FEATURES)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    world = alliance(2_000, seed=3)
    part, held = world.partition(0), world.validation()
    own = held.platform == 0  # a platform's model is judged on its own rows: features shift
    return part.x, part.y, held.x[own], held.y[own]


def test_arrays_round_trip() -> None:
    net = model.build(D, seed=1)
    arrays = model.get_arrays(net)
    assert [a.shape for a in arrays] == [(1, D), (1,)]
    assert all(a.dtype == np.float32 for a in arrays)
    other = model.build(D, seed=2)
    model.set_arrays(other, arrays)
    assert np.array_equal(flatten(model.get_arrays(other)), flatten(arrays))


def test_set_arrays_refuses_wrong_shapes() -> None:
    net = model.build(D, seed=1)
    with pytest.raises(ValueError, match="shape"):
        model.set_arrays(net, [np.zeros((1, D + 1), np.float32), np.zeros(1, np.float32)])


def test_local_training_lowers_the_loss_and_beats_the_majority(
    data: tuple[np.ndarray, ...],
) -> None:
    x, y, vx, vy = data
    net = model.build(D, seed=1)
    before = model.loss(net, x, y)
    model.train(net, x, y, epochs=3, lr=0.02, batch_size=32, seed=0)
    assert model.loss(net, x, y) < before
    majority = max(vy.mean(), 1 - vy.mean())
    assert model.accuracy(net, vx, vy) > majority


def test_training_is_deterministic_given_the_seed(data: tuple[np.ndarray, ...]) -> None:
    x, y, _, _ = data
    runs = []
    for _ in range(2):
        net = model.build(D, seed=1)
        model.train(net, x, y, epochs=1, lr=0.1, batch_size=32, seed=7)
        runs.append(flatten(model.get_arrays(net)))
    assert np.array_equal(runs[0], runs[1])


def test_fedavg_of_two_trainings_is_the_row_weighted_mean(data: tuple[np.ndarray, ...]) -> None:
    x, y, _, _ = data
    start = model.get_arrays(model.build(D, seed=1))
    halves = [(x[:300], y[:300]), (x[300:], y[300:])]
    sums, weights, finals = [], [], []
    for i, (hx, hy) in enumerate(halves):
        net = model.build(D, seed=1)
        model.set_arrays(net, start)
        model.train(net, hx, hy, epochs=1, lr=0.1, batch_size=64, seed=i)
        after = model.get_arrays(net)
        finals.append(flatten(after))
        sums.append(model.weighted_update(model.delta(after, start), len(hy)))
        weights.append(len(hy))
    averaged = flatten(model.apply_mean(start, sums, sum(weights)))
    expected = (weights[0] * finals[0] + weights[1] * finals[1]) / sum(weights)
    np.testing.assert_allclose(averaged, expected, rtol=0, atol=1e-5)


def test_apply_mean_refuses_nothing_to_average() -> None:
    start = model.get_arrays(model.build(D, seed=1))
    with pytest.raises(ValueError, match="no updates"):
        model.apply_mean(start, [], 1.0)
    with pytest.raises(ValueError, match="positive"):
        model.apply_mean(start, [start], 0.0)


def test_person_updates_match_training_on_each_row_alone(data: tuple[np.ndarray, ...]) -> None:
    x, y, _, _ = data
    start = model.get_arrays(model.build(D, seed=1))
    rows = logistic.person_updates(start, x[:5], y[:5], steps=3, lr=0.5)
    assert rows.shape == (5, D + 1)
    for i in range(5):
        net = model.build(D, seed=1)
        model.set_arrays(net, start)
        optimiser = torch.optim.SGD(net.parameters(), lr=0.5)
        for _ in range(3):
            optimiser.zero_grad()
            logit = net(torch.from_numpy(np.array(x[i : i + 1]))).squeeze(1)
            target = torch.tensor([float(y[i])])
            torch.nn.functional.binary_cross_entropy_with_logits(logit, target).backward()  # type: ignore[no-untyped-call]
            optimiser.step()
        alone = flatten(model.delta(model.get_arrays(net), start))
        np.testing.assert_allclose(rows[i], alone, rtol=1e-4, atol=1e-6)
