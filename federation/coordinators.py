"""Who plans the rounds: the gateway through the SDK, or a local stand-in for experiments.

:class:`GatewayCoordinator` is the production path. The gateway finds who consents at
the moment of each round, charges the ledger (RDP over every run of the population),
draws the sample with a key only it holds, and each platform reads its own picks
(:func:`gateway_picks`).

:class:`LocalCoordinator` does the same in process, for simulations and benchmarks
without a gateway: the same :func:`federation.dp_fedavg.sample` and
:func:`~federation.dp_fedavg.clip_shares`, the same accountant and increments, charged
to a :class:`consent.budget.Ledger` (in memory unless given one). It hands the picks to
the platforms in the round request, so whoever runs it knows the sample: fine for an
experiment on generated data, not for persons.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from consent.budget import Cap, Charge, Ledger, MemoryBudgetStore, Period
from consent.errors import BudgetExceeded
from federation.accounting import Conversion, RdpAccountant
from federation.alliance_data import FEATURES
from federation.dp_fedavg import Placement, Plan, clip_shares, sample
from federation.errors import InvalidRound
from federation.training import BudgetStop, Planned, Result
from sdk import ModelInfo, OperatorClient, PermissionDeniedError, PlatformClient

CONVERSION = Conversion.improved  # as the gateway's ledger converts


class LocalCoordinator:
    def __init__(
        self,
        consenting: Sequence[Sequence[str]],
        *,
        sampling_rate: float,
        clip_norm: float,
        noise_multiplier: float,
        placement: Placement = Placement.central,
        epsilon_cap: float,
        delta: float,
        key: bytes | None = None,
        ledger: Ledger | None = None,
        population: str = "training:local",
        run_id: str = "local",
    ) -> None:
        """``consenting[p]``: the accounts (person ids as text) consenting at platform p
        now; change it between rounds with :meth:`consent` to model withdrawals."""
        self.holders = [set(accounts) for accounts in consenting]
        self.q, self.c, self.z = sampling_rate, clip_norm, noise_multiplier
        self.placement = Placement(placement)
        self.delta = delta
        self.key = key or secrets.token_bytes(32)
        self.population = population
        self.run_id = run_id
        if ledger is None:
            ledger = Ledger(MemoryBudgetStore())
            ledger.store.set_cap(Cap(population, Period.total, epsilon_cap, delta))
        self.ledger = ledger
        self.accountant = RdpAccountant()
        self.charges: list[Charge] = []  # this run's, in order
        self._persons: list[str] | None = None
        self.state = "running"

    def consent(self, platform: int, accounts: Sequence[str], given: bool) -> None:
        change = (
            self.holders[platform].update if given else self.holders[platform].difference_update
        )
        change(accounts)
        self._persons = None

    def plan(self, number: int) -> Planned:
        if self._persons is None:  # the population changes only with consents
            self._persons = sorted(set().union(*self.holders))
        persons = self._persons
        if not persons:
            raise InvalidRound("no person consents on any platform")
        plan = Plan(number, self.q, self.c, self.z, self.placement, len(self.holders), len(persons))
        if plan.private:
            self._charge(plan)
        mask = sample(self.key, plan, persons)
        chosen = [p for p, picked in zip(persons, mask, strict=True) if picked]
        lists: list[list[str]] = [[p for p in chosen if p in held] for held in self.holders]
        shares = clip_shares(lists)
        picks = tuple(
            tuple(zip(accounts, share.tolist(), strict=True))
            for accounts, share in zip(lists, shares, strict=True)
        )
        epsilon = self.accountant.epsilon(self.delta, CONVERSION).epsilon if plan.private else 0.0
        return Planned(plan, self.run_id, epsilon, self.delta, picks)

    def finish(self, state: str, reason: str | None) -> None:
        self.state = state

    def _charge(self, plan: Plan) -> None:
        before = self.accountant.epsilon(self.delta, CONVERSION).epsilon
        after = self.accountant.compose(plan.step)
        guarantee = after.epsilon(self.delta, CONVERSION)
        try:
            charge = Charge(
                population=self.population,
                epsilon=max(0.0, guarantee.epsilon - before),
                delta=self.delta if self.accountant.rounds == 0 else 0.0,
                accountant="rdp",
                release=f"training run {self.run_id} round {plan.round}",
                at=datetime.now(UTC),
                details=guarantee.details(),
            )
            self.ledger.charge(charge)
        except BudgetExceeded as refused:
            raise BudgetStop(str(refused)) from None
        self.accountant = after
        self.charges.append(charge)


class GatewayCoordinator:
    """The trainer's side at the gateway, over the operator's SDK client."""

    def __init__(self, operator: OperatorClient, run_id: str) -> None:
        self.operator = operator
        self.run_id = run_id

    def plan(self, number: int) -> Planned:
        try:
            planned = self.operator.plan_round(self.run_id, number)
        except PermissionDeniedError as refused:
            if refused.code == "budget_exhausted":
                raise BudgetStop(refused.description) from None
            raise
        plan = Plan(
            planned.round,
            planned.sampling_rate,
            planned.clip_norm,
            planned.noise_multiplier,
            Placement(planned.placement),
            len(planned.platforms),
            planned.population,
        )
        return Planned(plan, self.run_id, planned.epsilon_total, planned.delta)

    def register(self, result: Result, name: str) -> ModelInfo:
        """Register the run's model at the gateway, the trainer's measures in its card
        (the gateway writes the privacy fields from its own records)."""
        buffer = io.BytesIO()
        weight, bias = result.arrays
        np.savez(buffer, weight=weight, bias=bias)
        card = {
            "model": {"kind": "logistic regression", "features": list(FEATURES)},
            "accuracy": {
                "validation": result.rounds[-1].accuracy if result.rounds else None,
                "initial": result.initial_accuracy,
                "per_round": [r.accuracy for r in result.rounds],
            },
            "contributions": {
                "method": str(result.contributions.method) if result.contributions else None,
                "values": list(result.contributions.values) if result.contributions else None,
                "shares": list(result.contributions.shares()) if result.contributions else None,
            },
        }
        return self.operator.register_model(self.run_id, name, buffer.getvalue(), card)

    def finish(self, state: str, reason: str | None) -> None:
        if state in ("finished", "failed"):  # a refused round already stopped the run
            self.operator.end_run(
                self.run_id, "finished" if state == "finished" else "failed", reason
            )


def gateway_picks(platform: PlatformClient, run_id: str, number: int) -> list[tuple[str, float]]:
    """The platform's sampled accounts and shares for a round, read from the gateway."""
    return [(p.account_id, p.share) for p in platform.training_sample(run_id, number)]


def consenting_accounts(
    membership: Sequence[NDArray[np.integer[Any]]], consent_rate: float, seed: int
) -> list[list[str]]:
    """A seeded share of each platform's persons consenting there (experiments)."""
    rng = np.random.default_rng(seed)
    out: list[list[str]] = []
    for persons in membership:
        keep = rng.random(len(persons)) < consent_rate
        out.append([str(int(p)) for p, k in zip(persons, keep, strict=True) if k])
    return out
