"""The conversion model: logistic regression on the alliance features, and its updates.

Framework-free (torch and numpy, no Flower), so the ClientApp and ServerApp in
:mod:`federation.apps` are thin adapters and everything here is tested without them.

A model's parameters travel as a list of float32 arrays, ``[weight (1, d), bias (1,)]``,
the order of ``torch.nn.Linear.parameters()``. An *update* is the change local training
makes to them. Federated averaging (McMahan et al. 2017, "Communication-Efficient
Learning of Deep Networks from Decentralized Data", Alg. 1) weights each platform's
update by its number of rows: :func:`weighted_update` sends the sum n·Δ, the server
divides the sum of those by the sum of the n (:func:`apply_mean`).

:func:`federation.logistic.person_updates` is the person-level variant
:mod:`federation.dp_fedavg` needs, in numpy (no torch) for DP rounds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray

from federation.dp_fedavg import flatten, unflatten

Arrays = list[NDArray[np.float32]]


def build(features: int, seed: int) -> torch.nn.Linear:
    """A fresh logistic regression with ``features`` inputs; weights seeded, bias 0."""
    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Linear(features, 1)
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, features, generator=generator) * 0.01)
        model.bias.zero_()
    return model


def get_arrays(model: torch.nn.Module) -> Arrays:
    return [p.detach().cpu().numpy().astype(np.float32, copy=True) for p in model.parameters()]


def set_arrays(model: torch.nn.Module, arrays: Sequence[NDArray[np.floating]]) -> None:
    params = list(model.parameters())
    if len(params) != len(arrays):
        raise ValueError(f"the model has {len(params)} parameter arrays, got {len(arrays)}")
    with torch.no_grad():
        for param, array in zip(params, arrays, strict=True):
            if tuple(param.shape) != array.shape:
                raise ValueError(f"parameter of shape {tuple(param.shape)}, got {array.shape}")
            param.copy_(torch.from_numpy(np.asarray(array, dtype=np.float32)))


def loss(model: torch.nn.Module, x: NDArray[np.float32], y: NDArray[np.int64]) -> float:
    """Mean binary cross-entropy of ``model`` on (x, y)."""
    with torch.no_grad():
        logits = model(torch.from_numpy(np.array(x, dtype=np.float32))).squeeze(1)
        target = torch.from_numpy(np.array(y, dtype=np.float32))
        return float(torch.nn.functional.binary_cross_entropy_with_logits(logits, target))


def accuracy(model: torch.nn.Module, x: NDArray[np.float32], y: NDArray[np.int64]) -> float:
    """The share of rows whose label the model predicts at threshold 0.5."""
    if len(y) == 0:
        raise ValueError("accuracy of an empty set is undefined")
    with torch.no_grad():
        logits = model(torch.from_numpy(np.array(x, dtype=np.float32))).squeeze(1)
    return float(np.mean((logits.numpy() > 0) == (np.asarray(y) == 1)))


def train(
    model: torch.nn.Module,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> float:
    """Mini-batch SGD on (x, y) for ``epochs``, in place; the last epoch's mean loss."""
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(
            f"need epochs >= 1, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}"
        )
    if len(y) == 0:
        raise ValueError("cannot train on an empty partition")
    features = torch.from_numpy(np.array(x, dtype=np.float32))
    labels = torch.from_numpy(np.array(y, dtype=np.float32))
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    epoch_loss = 0.0
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=generator)
        total = 0.0
        for start in range(0, len(labels), batch_size):
            batch = order[start : start + batch_size]
            optimiser.zero_grad()
            logits = model(features[batch]).squeeze(1)
            batch_loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels[batch])
            batch_loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            total += batch_loss.item() * len(batch)
        epoch_loss = total / len(labels)
    return epoch_loss


def delta(after: Sequence[NDArray[np.floating]], before: Sequence[NDArray[np.floating]]) -> Arrays:
    """after − before, array by array."""
    if len(after) != len(before):
        raise ValueError(f"{len(after)} arrays after, {len(before)} before")
    return [
        (np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)).astype(np.float32)
        for a, b in zip(after, before, strict=True)
    ]


def weighted_update(update: Sequence[NDArray[np.floating]], weight: float) -> Arrays:
    """weight·update: what a platform sends so the server needs only sums."""
    return [(np.asarray(u, dtype=np.float64) * weight).astype(np.float32) for u in update]


def apply_mean(
    arrays: Sequence[NDArray[np.floating]],
    sums: Sequence[Sequence[NDArray[np.floating]]],
    total_weight: float,
) -> Arrays:
    """arrays + (Σ sums) / total_weight: the FedAvg step, in float64 before the cast."""
    if not sums:
        raise ValueError("no updates to average")
    if not total_weight > 0:
        raise ValueError(f"the total weight must be positive, got {total_weight!r}")
    vectors = [flatten(list(s)) for s in sums]
    mean = np.sum(vectors, axis=0) / total_weight
    like = [np.asarray(a, dtype=np.float32) for a in arrays]
    return [a + m for a, m in zip(like, unflatten(mean.astype(np.float32), like), strict=True)]
