"""One DP-FedAvg run, framework-free: the trainer's loop and a platform's contribution.

The Flower apps (:mod:`federation.apps`) and the in-process simulation
(:mod:`federation.simulation`) are thin adapters over this module: they only move a
:class:`RoundRequest` to each platform and its :class:`Reply` back.

A round, in order:

1. The trainer asks its :class:`Coordinator` for the round's plan. The coordinator charges
   the privacy-loss ledger first and draws the sample of consenting persons; at the
   gateway (:class:`federation.links.GatewayCoordinator`) nobody else sees who was drawn.
   A refused charge (:class:`BudgetStop`) ends the run cleanly with the last good model.
2. Each platform learns its own sampled accounts and their shares of the clipping norm,
   computes each one's update from that person's row (:func:`logistic.person_updates`),
   clips it to share·C and sums (:func:`dp_fedavg.platform_sum`), adding its noise share
   when the noise is distributed.
3. The trainer adds the sums (and the noise, when central), divides by q·N and applies
   the mean with the server learning rate. It may score the platforms' contributions on
   its validation set (:mod:`federation.contributions`).

A platform that does not answer is left out of the round (central placement; the bound
on one person's influence still holds, the sum is merely smaller); a distributed round
needs every platform's noise share and is then refused, ending the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from federation import contributions, dp_fedavg, logistic
from federation.alliance_data import FEATURES, PlatformData, Validation
from federation.dp_fedavg import Placement, Plan, Vector
from federation.errors import FederationError, InvalidRound


class BudgetStop(FederationError):
    """The ledger refused the next round: the run ends with its last good model."""


@dataclass(frozen=True)
class Planned:
    plan: Plan
    run_id: str
    epsilon: float  # the population's ε after this round (every run composed)
    delta: float
    picks: tuple[tuple[tuple[str, float], ...], ...] | None = None  # per platform, local only


class Coordinator(Protocol):
    """Who charges the ledger and draws the sample: the gateway, or a local stand-in."""

    def plan(self, number: int) -> Planned:
        """Charge and draw round ``number``; raise :class:`BudgetStop` if refused."""
        ...

    def finish(self, state: str, reason: str | None) -> None: ...


@dataclass(frozen=True)
class Hyper:
    """What a run trains with, besides the mechanism (q, C, z) its coordinator holds."""

    rounds: int
    local_steps: int = 1  # gradient steps on one person's row, per round
    local_lr: float = 1.0
    server_lr: float = 1.0
    contributions: bool = True  # score the platforms each round (2^P validations)

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.local_steps < 1:
            raise InvalidRound("a run needs at least one round and one local step")
        if not (self.local_lr > 0 and self.server_lr > 0):
            raise InvalidRound("learning rates must be positive")


@dataclass(frozen=True)
class RoundRequest:
    planned: Planned
    arrays: list[NDArray[np.float32]]
    hyper: Hyper


@dataclass(frozen=True)
class Reply:
    platform: int
    total: Vector  # the platform's clipped sum (with its noise share if distributed)


Send = Callable[[RoundRequest], tuple[list[Reply], list[str]]]
"""Deliver a request to every platform; their replies, and why the others have none."""


@dataclass
class RoundLog:
    round: int
    population: int
    replies: int
    lost: list[str]
    epsilon: float
    accuracy: float
    loss: float
    seconds: float
    contributions: list[float] | None = None


@dataclass
class Result:
    run_id: str
    arrays: list[NDArray[np.float32]]
    rounds: list[RoundLog] = field(default_factory=list)
    state: str = "running"  # finished, stopped (budget), failed
    reason: str | None = None
    initial_accuracy: float = 0.0
    contributions: contributions.Scores | None = None

    @property
    def epsilon(self) -> float:
        return self.rounds[-1].epsilon if self.rounds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "state": self.state,
            "reason": self.reason,
            "rounds": len(self.rounds),
            "epsilon": self.epsilon,
            "initial_accuracy": self.initial_accuracy,
            "accuracy": self.rounds[-1].accuracy if self.rounds else self.initial_accuracy,
            "contributions": list(self.contributions.values) if self.contributions else None,
            "shares": list(self.contributions.shares()) if self.contributions else None,
            "per_round": [vars(r) for r in self.rounds],
        }


def train(
    coordinator: Coordinator,
    send: Send,
    hyper: Hyper,
    validation: Validation,
    *,
    seed: int,
    noise: np.random.Generator,
    on_round: Callable[[RoundLog], None] | None = None,
) -> Result:
    """Run rounds until ``hyper.rounds`` or a refusal; the coordinator learns the end."""
    arrays = logistic.initial(len(FEATURES), seed)
    result = Result("", arrays, initial_accuracy=_accuracy(arrays, validation))
    per_round: list[contributions.Scores] = []
    try:
        for number in range(1, hyper.rounds + 1):
            started = time.monotonic()
            try:
                planned = coordinator.plan(number)
            except BudgetStop as stop:
                result.state, result.reason = "stopped", str(stop)
                break
            result.run_id = planned.run_id
            replies, lost = send(RoundRequest(planned, result.arrays, hyper))
            if not replies:
                raise InvalidRound(f"round {number}: no platform replied ({'; '.join(lost)})")
            update, scores = _combine(
                planned.plan, result.arrays, replies, noise, validation, hyper
            )
            result.arrays = _apply(result.arrays, update, hyper.server_lr)
            if scores is not None:
                per_round.append(scores)
            accuracy, loss = _evaluate(result.arrays, validation)
            log = RoundLog(
                round=number,
                population=planned.plan.population,
                replies=len(replies),
                lost=lost,
                epsilon=planned.epsilon,
                accuracy=accuracy,
                loss=loss,
                seconds=round(time.monotonic() - started, 4),
                contributions=list(scores.values) if scores else None,
            )
            result.rounds.append(log)
            if on_round is not None:
                on_round(log)
        else:
            result.state = "finished"
    except FederationError as failure:
        result.state, result.reason = "failed", str(failure)
    if per_round:
        result.contributions = contributions.accumulate(per_round)
    coordinator.finish(result.state, result.reason)
    return result


def contribute(
    request: RoundRequest,
    data: PlatformData,
    picks: Sequence[tuple[str, float]],
    noise: np.random.Generator | None,
) -> Vector:
    """A platform's clipped sum for the round: ``picks`` are its sampled accounts
    (account id = the person's id on this platform) with their shares."""
    plan = request.planned.plan
    wanted = np.array([int(a) for a, _ in picks], dtype=np.int64)
    shares = np.array([s for _, s in picks], dtype=np.float64)
    # data.person is ascending (one row per person): find each pick's row, if held here.
    at = np.minimum(np.searchsorted(data.person, wanted), max(len(data.person) - 1, 0))
    held = (data.person[at] == wanted) if len(data.person) else np.zeros(len(wanted), bool)
    rows, shares = at[held], shares[held]
    if not len(rows):
        updates = np.zeros((0, sum(a.size for a in request.arrays)))
    else:
        updates = logistic.person_updates(
            request.arrays,
            data.x[rows],
            data.y[rows],
            steps=request.hyper.local_steps,
            lr=request.hyper.local_lr,
        )
    return dp_fedavg.platform_sum(plan, updates, shares, noise)


def _combine(
    plan: Plan,
    arrays: list[NDArray[np.float32]],
    replies: list[Reply],
    noise: np.random.Generator,
    validation: Validation,
    hyper: Hyper,
) -> tuple[Vector, contributions.Scores | None]:
    if not replies:
        raise InvalidRound(f"round {plan.round}: no platform replied")
    ordered = sorted(replies, key=lambda r: r.platform)
    update = dp_fedavg.aggregate(plan, [r.total for r in ordered], noise)
    if not hyper.contributions:
        return update, None
    # Round-wise reconstruction: coalition S's model is the previous one plus S's sums
    # over the same denominator; its utility is the validation accuracy it gains.
    base = _accuracy(arrays, validation)
    sums = {r.platform: r.total for r in ordered}

    def utility(coalition: frozenset[int]) -> float:
        if not coalition:
            return 0.0
        total = np.sum([sums[p] for p in coalition if p in sums] or [np.zeros_like(update)], 0)
        step = total / plan.expected_persons
        return _accuracy(_apply(arrays, step, hyper.server_lr), validation) - base

    return update, contributions.shapley(plan.platforms, utility, rng=np.random.default_rng(0))


def _apply(
    arrays: Sequence[NDArray[np.float32]], update: Vector, lr: float
) -> list[NDArray[np.float32]]:
    flat = dp_fedavg.flatten(arrays) + lr * update
    return [a.astype(np.float32) for a in dp_fedavg.unflatten(flat, list(arrays))]


def _logits(arrays: Sequence[NDArray[np.float32]], validation: Validation) -> NDArray[np.float64]:
    weight, bias = (np.asarray(a, dtype=np.float64) for a in arrays)
    return validation.x.astype(np.float64) @ weight.reshape(-1) + float(bias.reshape(-1)[0])


def _evaluate(arrays: list[NDArray[np.float32]], validation: Validation) -> tuple[float, float]:
    """Validation accuracy and mean binary cross-entropy."""
    logits = _logits(arrays, validation)
    signs = np.where(validation.y == 1, 1.0, -1.0)
    loss = float(np.mean(np.logaddexp(0.0, -signs * logits)))
    return float(np.mean((logits > 0) == (validation.y == 1))), loss


def _accuracy(arrays: Sequence[NDArray[np.float32]], validation: Validation) -> float:
    return float(np.mean((_logits(arrays, validation) > 0) == (validation.y == 1)))


def placement(value: str) -> Placement:
    try:
        return Placement(value)
    except ValueError:
        raise InvalidRound(f"placement is central or distributed, got {value!r}") from None
