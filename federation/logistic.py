"""The conversion model's numpy side: initial weights and person-level updates.

Torch-free on purpose: a DP-FedAvg round (:mod:`federation.training`) needs only these,
and a Flower ClientApp process starts for every message, where importing torch alone
costs about two seconds. :mod:`federation.model` (torch) trains the non-private FedAvg
and re-exports :func:`person_updates`.

Parameters are ``[weight (1, d), bias (1,)]`` as float32, the order of
``torch.nn.Linear.parameters()``, so both modules exchange the same arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Arrays = list[NDArray[np.float32]]


def initial(features: int, seed: int) -> Arrays:
    """Weights N(0, 0.01²) from ``seed``, bias 0."""
    rng = np.random.default_rng(seed)
    weight = (rng.standard_normal((1, features)) * 0.01).astype(np.float32)
    return [weight, np.zeros(1, dtype=np.float32)]


def person_updates(
    arrays: Sequence[NDArray[np.floating]],
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    *,
    steps: int,
    lr: float,
) -> NDArray[np.float64]:
    """Each row's own update: ``steps`` full gradient steps on that row alone, flattened.

    Row i of the result is the change to :func:`federation.dp_fedavg.flatten` of
    ``arrays`` (weight then bias) that training on row i alone makes. All rows step
    together: one matrix operation per step.
    """
    if steps < 1 or not lr > 0:
        raise ValueError(f"need steps >= 1 and lr > 0; got {steps}, {lr}")
    weight, bias = (np.asarray(a, dtype=np.float64) for a in arrays)
    features = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y, dtype=np.float64)
    w = np.broadcast_to(weight.reshape(-1), features.shape).copy()  # (rows, d)
    b = np.full(len(labels), float(bias.reshape(-1)[0]))  # (rows,)
    for _ in range(steps):
        error = 1 / (1 + np.exp(-(np.einsum("ij,ij->i", w, features) + b))) - labels
        w -= lr * error[:, None] * features
        b -= lr * error
    return np.hstack([w - weight.reshape(1, -1), (b - bias.reshape(-1)[0])[:, None]])
