"""Non-private FedAvg on FedProx's Synthetic(α, β), with FedProx's protocol and MCLR model.

The baseline the published FedProx numbers are compared against (Li et al., MLSys 2020,
§5), as litian96/FedProx runs it at commit 3eed82ebfe924996e438d0e2c66f4f351e0fa199
(``run_fedavg.sh``: lr 0.01, 200 rounds, 10 clients a round, E = 20, batch 10, mclr).
Followed exactly:

- **Model** (``flearn/models/synthetic/mclr.py``): one dense layer 60 → 10 and the mean
  softmax cross-entropy of the batch. ``tf.layers.dense`` draws the kernel Glorot-uniform,
  U(±√(6/70)), and zeroes the bias. Its ``l2_regularizer(0.001)`` never reaches the
  optimiser (the loss handed to ``compute_gradients`` omits the regularisation
  collection), so there is no weight decay here either.
- **Sampling** (``flearn/trainers/fedbase.py``, ``select_clients``): each round
  ``min(clients_per_round, devices)`` distinct devices, *uniformly* without replacement:
  ``choice(range(n), k, replace=False)`` with no ``p`` (at b00d2068 ``p=pk`` is there,
  commented out). The paper's Algorithm 1 samples with probability p_k ∝ size and
  averages plainly; the code samples uniformly and weights the average by size.
- **Local training** (``mclr.py`` ``solve_inner``, ``flearn/utils/model_utils.py``
  ``batch_data``): E epochs of plain SGD, ``w -= lr · ∇(batch mean loss)``, in batches of
  ``batch_size`` with a smaller last one. Before every epoch ``batch_data`` reseeds
  NumPy's global MT19937 with 100 and shuffles the device's arrays *in place*: each
  epoch applies the same permutation π_n (``RandomState(100).permutation(n)``) to the
  order the previous epoch left, and that order persists across rounds. Reproduced
  bit for bit (:func:`epoch_orders`).
- **Aggregation** (``fedbase.py`` ``aggregate``): the returned models averaged in
  float64, weighted by each device's number of training samples.
- **Evaluation** (``flearn/trainers/fedavg.py``): before round i whenever
  ``i % eval_every == 0``, and once after the last round; test accuracy is all devices'
  correct test predictions over all test samples, training loss the mean over all
  training samples (the sample-weighted mean of the devices' mean losses).

Deviations (none changes the algorithm):

- float64 throughout, where TensorFlow trained in float32 (the features are stored as
  float32 by :mod:`federation.synthetic`, as the original's float32 placeholder rounded
  them). It costs nothing at this size and lets tests compare to 1e-10.
- The data: Synthetic(α, β) from :mod:`federation.synthetic` (its own draw; see there).
- The seeds: one ``seed`` gives the run's Glorot draw and, per round, the sample, each
  from its own :class:`numpy.random.SeedSequence` stream (``spawn_key`` (0,) and (1, i)),
  so round i's devices depend on (seed, i) only, as FedProx's ``np.random.seed(i)``
  made them depend on i only; the draws differ from MT19937's. TensorFlow's Glorot draw
  (``tf.set_random_seed(123 + seed)``) is not reproduced.
- The ``drop_percent`` stragglers are not modelled: this is FedAvg with none dropped
  (``drop_percent=0``), where FedProx's second ``choice`` only reorders the sample.
- Speed: the sampled devices' SGD runs in lockstep, one batched matmul per step over the
  devices still training (:func:`local_sgd`), and its softmax skips the max shift unless
  a floating-point exception says it is needed. Per device it is the same sequence of
  steps; only the rounding of the float64 arithmetic differs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from numpy.typing import NDArray

from federation.errors import InvalidRound
from federation.synthetic import Synthetic

Array = NDArray[np.float64]
Indices = NDArray[np.intp]

SHUFFLE_SEED = 100  # batch_data's np.random.seed(100) before every epoch's shuffle
_INIT_STREAM, _SAMPLING_STREAM = 0, 1
_CHUNK = 128  # lockstep steps gathered at once
_SINGLE_THREADED = 2**18  # OpenBLAS threads a gemm of more multiply-adds (interface/gemm.c)


@dataclass(frozen=True)
class Protocol:
    """FedProx's FedAvg run for Synthetic (``run_fedavg.sh``)."""

    rounds: int = 200
    clients_per_round: int = 10
    local_epochs: int = 20  # E
    batch_size: int = 10
    lr: float = 0.01
    eval_every: int = 1

    def __post_init__(self) -> None:
        for name in ("rounds", "clients_per_round", "local_epochs", "batch_size", "eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise InvalidRound(f"{name} must be an integer >= 1, got {value!r}")
        lr = self.lr
        if isinstance(lr, bool) or not isinstance(lr, Real) or not (math.isfinite(lr) and lr > 0):
            raise InvalidRound(f"lr must be a positive finite number, got {lr!r}")


@dataclass(frozen=True)
class History:
    """One run: the metrics after each evaluated round, and who trained in each round."""

    seed: int
    evaluated: tuple[int, ...]  # rounds completed at each evaluation: 0, eval_every, ..., rounds
    test_accuracy: tuple[float, ...]
    train_accuracy: tuple[float, ...]
    train_loss: tuple[float, ...]
    selected: tuple[tuple[int, ...], ...]  # per round, the devices' indices in sampling order

    @property
    def final_accuracy(self) -> float:
        return self.test_accuracy[-1]


# The model: one (features + 1, classes) matrix whose last row is the bias, so a batch's
# logits are one matmul of its rows augmented with a 1.


def glorot_uniform(rng: np.random.Generator, features: int, classes: int) -> Array:
    """``tf.layers.dense``'s initial kernel U(±√(6 / (fan_in + fan_out))), bias zero."""
    limit = math.sqrt(6 / (features + classes))
    weights = np.zeros((features + 1, classes))
    weights[:features] = rng.uniform(-limit, limit, (features, classes))
    return weights


def augment(x: NDArray[np.floating]) -> Array:
    """The feature rows with a final 1, the bias's input."""
    return np.hstack([x.astype(np.float64), np.ones((len(x), 1))])


def loss_and_gradient(weights: Array, x: Array, y: NDArray[np.integer]) -> tuple[float, Array]:
    """Mean softmax cross-entropy of augmented rows ``x`` with labels ``y``, and its gradient."""
    logits = x @ weights
    logits -= logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(logits).sum(axis=1))
    rows = np.arange(len(y))
    loss = float(np.mean(log_norm - logits[rows, y]))
    residual = np.exp(logits - log_norm[:, None])
    residual[rows, y] -= 1
    return loss, x.T @ residual / len(y)


def evaluate(weights: Array, x: Array, y: NDArray[np.integer]) -> tuple[int, float]:
    """Correct predictions (first maximum, as ``tf.argmax``) and the summed loss."""
    logits = _product(x, weights)
    correct = int(np.count_nonzero(logits.argmax(axis=1) == y))
    top = logits.max(axis=1)
    log_norm = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
    return correct, float(np.sum(log_norm - logits[np.arange(len(y)), y]))


def _product(x: Array, weights: Array) -> Array:
    """``x @ weights``, in slices of at most 2¹⁸ multiply-adds.

    OpenBLAS runs a larger product on every core and then leaves its threads spinning:
    evaluating every round, that more than doubled the CPU time of a whole run (seed 0:
    8.3 s against 3.6 s on one thread). A slice stays on the calling thread.
    """
    rows = max(1, _SINGLE_THREADED // weights.size)
    logits = np.empty((len(x), weights.shape[1]))
    for first in range(0, len(x), rows):
        np.matmul(x[first : first + rows], weights, out=logits[first : first + rows])
    return logits


# The protocol's pieces.


def sample_devices(devices: int, clients_per_round: int, seed: int, round_: int) -> Indices:
    """Round ``round_``'s devices: ``min(clients_per_round, devices)`` distinct, uniformly."""
    stream = np.random.SeedSequence(seed, spawn_key=(_SAMPLING_STREAM, round_))
    chosen = np.random.default_rng(stream).choice(
        devices, min(clients_per_round, devices), replace=False
    )
    return chosen.astype(np.intp)


def epoch_orders(order: Indices, permutation: Indices, epochs: int) -> Indices:
    """The row orders of ``epochs`` epochs, each the previous one permuted by batch_data.

    ``order`` is the device's order before them; the last row is its order after.
    """
    orders = np.empty((epochs, len(order)), dtype=np.intp)
    for epoch in range(epochs):
        order = order[permutation]
        orders[epoch] = order
    return orders


def weighted_average(models: Array, samples: Sequence[int] | NDArray[np.integer]) -> Array:
    """The models averaged with weights ``samples`` (each device's training samples)."""
    weights = np.asarray(samples, dtype=np.float64)
    total: Array = np.tensordot(weights, models, axes=1) / weights.sum()
    return total


@dataclass(frozen=True)
class Rows:
    """All devices' training rows, as :func:`local_sgd` gathers its batches from them."""

    x: Array  # (n + 1, features + 1): the inputs augmented with a 1; the last row all zero
    onehot: Array  # (n + 1, classes): the labels; the last row all zero

    @property
    def padding(self) -> int:
        """The zero row that fills short batches: a zero input adds nothing to a gradient."""
        return len(self.x) - 1


def training_rows(x: NDArray[np.floating], y: NDArray[np.integer], classes: int) -> Rows:
    """The rows ``x`` with labels ``y``, and the padding row after them."""
    inputs = np.zeros((len(y) + 1, x.shape[1] + 1))
    inputs[:-1] = augment(x)
    onehot = np.zeros((len(y) + 1, classes))
    onehot[np.arange(len(y)), np.asarray(y)] = 1
    return Rows(x=inputs, onehot=onehot)


def local_sgd(
    start: Array, rows: Rows, orders: Sequence[Indices], batch_size: int, lr: float
) -> Array:
    """Each device's model after SGD from ``start`` over its epochs, all devices in lockstep.

    ``orders[k]`` is device k's (epochs, n_k) indices into ``rows``, one row per epoch,
    cut into batches of ``batch_size`` and a smaller last one. Step s of every device
    still training is one batched matmul.
    """
    schedule = _Schedule.build(orders, batch_size, lr, padding=rows.padding)
    try:
        # Softmax without the max shift saves a reduction a step, and is as exact as long
        # as no exponential overflows or underflows: any floating-point event raises here
        # and the steps are redone shifted. None occurs in practice, as a row's logit
        # gradient sums to zero over the classes: SGD never moves the logits' class mean
        # from where ``start`` put it, so the largest logit stays near or above it.
        with np.errstate(all="raise"):
            models = _descend(start, rows, schedule, shift=False)
    except FloatingPointError:
        models = _descend(start, rows, schedule, shift=True)
    result = np.empty_like(models)
    result[schedule.lanes] = models
    return result


@dataclass(frozen=True)
class _Schedule:
    """The lockstep's plan: lane i is device ``lanes[i]``, sorted by steps, most first, so
    the devices still training at any step are a prefix of the stack."""

    lanes: list[int]
    steps: list[int]  # per lane, descending
    batches: Indices  # (steps[0], lanes, batch_size) row indices, the padding row past the end
    scale: Array  # (steps[0], lanes): lr / the batch's size (the loss is the batch mean)

    @classmethod
    def build(
        cls, orders: Sequence[Indices], batch_size: int, lr: float, padding: int
    ) -> _Schedule:
        per_epoch = [-(-o.shape[1] // batch_size) for o in orders]
        counts = [len(o) * b for o, b in zip(orders, per_epoch, strict=True)]
        lanes = sorted(range(len(orders)), key=lambda k: -counts[k])
        batches = np.full((counts[lanes[0]], len(lanes), batch_size), padding, dtype=np.intp)
        scale = np.zeros(batches.shape[:2])
        for lane, k in enumerate(lanes):
            epochs, n = orders[k].shape
            padded = np.full((epochs, per_epoch[k] * batch_size), padding, dtype=np.intp)
            padded[:, :n] = orders[k]
            batches[: counts[k], lane] = padded.reshape(-1, batch_size)
            sizes = np.full(per_epoch[k], batch_size)
            sizes[-1] = n - (per_epoch[k] - 1) * batch_size
            scale[: counts[k], lane] = np.tile(lr / sizes, epochs)
        return cls(lanes=lanes, steps=[counts[k] for k in lanes], batches=batches, scale=scale)


def _descend(start: Array, rows: Rows, plan: _Schedule, shift: bool) -> Array:
    """The lockstep SGD itself: ``w -= (lr / size) · xᵀ(softmax(x w) − y)`` per step.

    The padding row's input is zero, so its gradient ``0ᵀ(…)`` is zero. The batches are
    gathered ``_CHUNK`` steps at a time: one fancy index per step costs as much as a step.
    """
    models = np.repeat(start[None], len(plan.lanes), axis=0)
    ones = np.ones((rows.onehot.shape[1], 1))
    stop = 0
    for active in range(len(plan.lanes), 0, -1):
        begin, stop = stop, plan.steps[active - 1]
        trained = models[:active]  # a view: updated in place
        logits = np.empty((active, plan.batches.shape[2], rows.onehot.shape[1]))
        total = np.empty((*logits.shape[:2], 1))
        gradient = np.empty_like(trained)
        for first in range(begin, stop, _CHUNK):
            last = min(first + _CHUNK, stop)
            index = plan.batches[first:last, :active]
            scale = plan.scale[first:last, :active, None, None]
            xs = rows.x[index]
            xts = xs.transpose(0, 1, 3, 2)
            ys = rows.onehot[index] * scale
            inverse = 1 / scale
            for j in range(len(index)):
                np.matmul(xs[j], trained, out=logits)
                if shift:
                    logits -= logits.max(axis=2, keepdims=True)
                np.exp(logits, out=logits)
                np.matmul(logits, ones, out=total)
                total *= inverse[j]
                logits /= total  # lr / size · softmax
                logits -= ys[j]
                np.matmul(xts[j], logits, out=gradient)
                trained -= gradient
    return models


def run(data: Synthetic, protocol: Protocol = Protocol(), seed: int = 0) -> History:
    """FedAvg on ``data`` as FedProx runs it: ``protocol.rounds`` rounds from ``seed``.

    The time grows with the largest device sampled, whose steps are sequential: seconds
    for Synthetic(1, 1) seeds 0 to 2 (largest 800 to 3,049 training samples), over a
    minute for seed 3 (37,866).
    """
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise InvalidRound(f"seed must be a non-negative integer, got {seed!r}")
    devices = data.devices
    sizes = np.array([d.train_size for d in devices])
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    rows = training_rows(
        np.concatenate([d.x_train for d in devices]),
        np.concatenate([d.y_train for d in devices]),
        data.classes,
    )
    train_x, train_y = rows.x[:-1], np.concatenate([d.y_train for d in devices])
    test_x = augment(np.concatenate([d.x_test for d in devices]))
    test_y = np.concatenate([d.y_test for d in devices])
    permutations = [np.random.RandomState(SHUFFLE_SEED).permutation(int(n)) for n in sizes]
    orders = [np.arange(offsets[i], offsets[i + 1], dtype=np.intp) for i in range(len(devices))]

    init = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_INIT_STREAM,)))
    model = glorot_uniform(init, data.features, data.classes)
    evaluated: list[int] = []
    metrics: list[tuple[float, float, float]] = []
    selected: list[tuple[int, ...]] = []

    def record(completed: int) -> None:
        test_correct, _ = evaluate(model, test_x, test_y)
        train_correct, train_loss = evaluate(model, train_x, train_y)
        evaluated.append(completed)
        metrics.append(
            (test_correct / len(test_y), train_correct / len(train_y), train_loss / len(train_y))
        )

    for round_ in range(protocol.rounds):
        if round_ % protocol.eval_every == 0:
            record(round_)
        chosen = sample_devices(len(devices), protocol.clients_per_round, seed, round_)
        selected.append(tuple(int(i) for i in chosen))
        lanes = []
        for i in chosen:
            lane = epoch_orders(orders[i], permutations[i], protocol.local_epochs)
            orders[i] = lane[-1]
            lanes.append(lane)
        local = local_sgd(model, rows, lanes, protocol.batch_size, protocol.lr)
        model = weighted_average(local, sizes[chosen])
    record(protocol.rounds)

    test, train, loss = (tuple(column) for column in zip(*metrics, strict=True))
    return History(
        seed=seed,
        evaluated=tuple(evaluated),
        test_accuracy=test,
        train_accuracy=train,
        train_loss=loss,
        selected=tuple(selected),
    )
