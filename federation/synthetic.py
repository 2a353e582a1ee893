"""FedProx's Synthetic(α, β) data set, generated locally from a seed.

Follows ``data/synthetic_1_1/generate_synthetic.py`` of litian96/FedProx at commit
3eed82ebfe924996e438d0e2c66f4f351e0fa199 (Li et al., "Federated Optimization in
Heterogeneous Networks", MLSys 2020, §5.1), so results compare with the published ones:

- 60 features, 10 classes, 30 devices; device ``i`` holds
  ``lognormal(4, 2).astype(int) + 50`` samples;
- ``mean_W = normal(0, α)`` per device, ``mean_b = mean_W``, ``B = normal(0, β)``;
- ``mean_x[i] = normal(B[i], 1, 60)``, covariance ``diag((j + 1) ** -1.2)`` for all;
- ``W = normal(mean_W[i], 1, (60, 10))``, ``b = normal(mean_b[i], 1, 10)``,
  ``x ~ N(mean_x[i], cov)``, ``y = argmax(softmax(x @ W + b))``;
- each device's samples are shuffled and split: the first ``int(0.9 * n)`` train.

The draws come in the original's order, but from one seeded :class:`numpy.random.Generator`
(PCG64), so the values differ from any run of the original, which drew from the
unseeded global MT19937 state and shuffled with Python's unseeded :mod:`random`.
Three further deliberate differences, none of which changes the distribution:

- ``x`` is stored as float32 and ``y`` is computed from the float32-rounded ``x`` (in
  float64), so every stored pair is exactly consistent; the original kept float64 ``x``
  and wrote float labels to JSON;
- the label is the argmax of the logits: the original's softmax has no max-shift and
  would turn an overflowing row into NaNs; for every finite row the argmax is the same;
- the shuffle is a permutation per device drawn after all devices are generated (as
  the original shuffles after generating), from the same generator.

The original's ``iid`` variant (one shared model, equal means) is not provided.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from federation.errors import InvalidDataRequest

FEATURES = 60
CLASSES = 10
DEVICES = 30
TRAIN_FRACTION = 0.9

T = TypeVar("T", bound=np.generic)


def covariance_diagonal(dimension: int) -> NDArray[np.float64]:
    """Synthetic's feature variances: ``(j + 1) ** -1.2`` for feature ``j``."""
    return np.power(np.arange(1, dimension + 1, dtype=np.float64), -1.2)


def read_only(array: NDArray[T]) -> NDArray[T]:
    """The array, made read-only so the frozen results stay immutable."""
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class Device:
    """One device's data, shuffled (train first), and the model that labelled it."""

    index: int
    x: NDArray[np.float32]  # (size, 60)
    y: NDArray[np.int64]  # (size,), in 0..9
    train_size: int  # int(0.9 * size)
    weights: NDArray[np.float64]  # W, (60, 10)
    bias: NDArray[np.float64]  # b, (10,)
    mean: NDArray[np.float64]  # mean_x[i], (60,)

    @property
    def size(self) -> int:
        return len(self.y)

    @property
    def x_train(self) -> NDArray[np.float32]:
        return self.x[: self.train_size]

    @property
    def y_train(self) -> NDArray[np.int64]:
        return self.y[: self.train_size]

    @property
    def x_test(self) -> NDArray[np.float32]:
        return self.x[self.train_size :]

    @property
    def y_test(self) -> NDArray[np.int64]:
        return self.y[self.train_size :]


@dataclass(frozen=True)
class Synthetic:
    """Synthetic(α, β): one :class:`Device` per device, all from ``seed``."""

    alpha: float
    beta: float
    seed: int
    devices: tuple[Device, ...]

    @property
    def features(self) -> int:
        return FEATURES

    @property
    def classes(self) -> int:
        return CLASSES


def check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidDataRequest(f"seed must be a non-negative integer, got {seed!r}")


def check_spread(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise InvalidDataRequest(f"{name} must be a finite number >= 0, got {value!r}")


def synthetic(alpha: float, beta: float, seed: int, devices: int = DEVICES) -> Synthetic:
    """Generate Synthetic(``alpha``, ``beta``) over ``devices`` devices from ``seed``.

    ``alpha`` spreads the devices' models, ``beta`` their feature means; FedProx
    publishes (0, 0), (0.5, 0.5) and (1, 1) with 30 devices.
    """
    check_spread("alpha", alpha)
    check_spread("beta", beta)
    check_seed(seed)
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise InvalidDataRequest(f"devices must be an integer >= 1, got {devices!r}")

    rng = np.random.default_rng(seed)
    sizes = rng.lognormal(4, 2, devices).astype(np.int64) + 50
    mean_w = rng.normal(0, alpha, devices)
    mean_b = mean_w
    shift = rng.normal(0, beta, devices)
    cov = np.diag(covariance_diagonal(FEATURES))
    means = np.stack([rng.normal(shift[i], 1, FEATURES) for i in range(devices)])

    # All devices are drawn before any is shuffled, in the original's order.
    drawn = [
        _device(rng, i, means[i], mean_w[i], mean_b[i], int(sizes[i]), cov) for i in range(devices)
    ]
    result = tuple(_shuffled(device, rng.permutation(device.size)) for device in drawn)
    return Synthetic(alpha=float(alpha), beta=float(beta), seed=seed, devices=result)


def _device(
    rng: np.random.Generator,
    index: int,
    mean: NDArray[np.float64],
    mean_w: float,
    mean_b: float,
    size: int,
    cov: NDArray[np.float64],
) -> Device:
    weights = rng.normal(mean_w, 1, (FEATURES, CLASSES))
    bias = rng.normal(mean_b, 1, CLASSES)
    x = rng.multivariate_normal(mean, cov, size).astype(np.float32)
    y = np.argmax(x.astype(np.float64) @ weights + bias, axis=1).astype(np.int64)
    return Device(
        index=index,
        x=x,
        y=y,
        train_size=int(TRAIN_FRACTION * size),
        weights=read_only(weights),
        bias=read_only(bias),
        mean=read_only(mean.copy()),
    )


def _shuffled(device: Device, order: NDArray[np.int64]) -> Device:
    return dataclasses.replace(device, x=read_only(device.x[order]), y=read_only(device.y[order]))
