"""FedProx's Synthetic(α, β): the generator's properties, seeded and immutable."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from federation.errors import FederationError, InvalidDataRequest
from federation.synthetic import (
    CLASSES,
    FEATURES,
    Synthetic,
    covariance_diagonal,
    synthetic,
)


@pytest.fixture(scope="module")
def data() -> Synthetic:
    return synthetic(1, 1, seed=0)


def test_same_seed_gives_identical_arrays_and_another_seed_does_not() -> None:
    first, again, other = synthetic(0.5, 0.5, 11), synthetic(0.5, 0.5, 11), synthetic(0.5, 0.5, 12)
    for a, b in zip(first.devices, again.devices, strict=True):
        assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
        assert np.array_equal(a.weights, b.weights) and np.array_equal(a.bias, b.bias)
    assert [d.size for d in first.devices] != [d.size for d in other.devices]
    assert not np.array_equal(first.devices[0].weights, other.devices[0].weights)


def test_thirty_devices_of_sixty_features_and_ten_classes(data: Synthetic) -> None:
    assert len(data.devices) == 30
    assert (data.features, data.classes) == (FEATURES, CLASSES) == (60, 10)
    for index, device in enumerate(data.devices):
        assert device.index == index
        assert device.x.dtype == np.float32 and device.x.shape == (device.size, 60)
        assert device.y.dtype == np.int64 and device.y.shape == (device.size,)
        assert device.y.min() >= 0 and device.y.max() < 10
        assert device.weights.shape == (60, 10) and device.bias.shape == (10,)


def test_device_sizes_are_lognormal_4_2_plus_50_drawn_first(data: Synthetic) -> None:
    sizes = np.array([d.size for d in data.devices])
    expected = np.random.default_rng(0).lognormal(4, 2, 30).astype(np.int64) + 50
    assert np.array_equal(sizes, expected)
    assert sizes.min() >= 50


def test_each_device_splits_int_90_percent_train_rest_test(data: Synthetic) -> None:
    for device in data.devices:
        assert device.train_size == int(0.9 * device.size)
        assert len(device.x_train) == len(device.y_train) == device.train_size
        assert len(device.x_test) == len(device.y_test) == device.size - device.train_size
        assert np.array_equal(np.concatenate([device.y_train, device.y_test]), device.y)


def test_labels_are_the_argmax_of_the_devices_own_model(data: Synthetic) -> None:
    for device in data.devices:
        logits = device.x.astype(np.float64) @ device.weights + device.bias
        assert np.array_equal(np.argmax(logits, axis=1), device.y)
    # Not vacuous: one device's model does not label the others' data.
    x = np.concatenate([d.x for d in data.devices]).astype(np.float64)
    y = np.concatenate([d.y for d in data.devices])
    first = data.devices[0]
    assert (np.argmax(x @ first.weights + first.bias, axis=1) != y).mean() > 0.3


def test_features_have_the_device_mean_and_synthetics_covariance(data: Synthetic) -> None:
    centred = np.concatenate([d.x - d.mean for d in data.devices])
    variance = centred.var(axis=0)
    assert np.all(np.abs(centred.mean(axis=0)) < 4 * np.sqrt(variance / len(centred)) + 1e-3)
    ratio = variance / covariance_diagonal(60)
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio
    assert abs(float(covariance_diagonal(60)[1]) - 2**-1.2) < 1e-12


def test_device_label_distributions_differ(data: Synthetic) -> None:
    shares = np.stack([np.bincount(d.y, minlength=10) / d.size for d in data.devices])
    pooled = np.concatenate([d.y for d in data.devices])
    overall = np.bincount(pooled, minlength=10) / len(pooled)
    distance = 0.5 * np.abs(shares - overall).sum(axis=1)  # total variation
    assert np.median(distance) > 0.4
    assert np.median(shares.max(axis=1)) > 0.5  # most devices are dominated by one class


def test_fewer_devices_on_request() -> None:
    assert len(synthetic(0, 0, seed=1, devices=5).devices) == 5


def test_results_are_immutable(data: Synthetic) -> None:
    device = data.devices[0]
    with pytest.raises(ValueError, match="read-only"):
        device.x[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        device.weights[0, 0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        device.train_size = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("alpha", "beta", "seed", "devices", "message"),
    [
        pytest.param(-1.0, 1.0, 0, 30, "alpha", id="negative-alpha"),
        pytest.param(1.0, float("nan"), 0, 30, "beta", id="nan-beta"),
        pytest.param(1.0, 1.0, -1, 30, "seed", id="negative-seed"),
        pytest.param(1.0, 1.0, 0, 0, "devices", id="no-devices"),
        pytest.param(1.0, 1.0, 0, True, "devices", id="bool-devices"),
    ],
)
def test_bad_inputs_are_refused(
    alpha: float, beta: float, seed: int, devices: int, message: str
) -> None:
    with pytest.raises(InvalidDataRequest, match=message) as caught:
        synthetic(alpha, beta, seed, devices)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, FederationError)
