"""Federated training through the gateway (docs/federation.md).

The alliance's trainer (the server of a Flower run) holds the operator credential
(:class:`OperatorToken`): it sets a purpose's (ε, δ) cap, starts a run, and before each
round asks the gateway to charge the privacy-loss ledger and draw the round's sample
(:meth:`TrainingOperations.plan_round`). A round the cap does not allow raises
:class:`sdk.PermissionDeniedError` (``code == "budget_exhausted"``) and nothing is
drawn. Each platform reads only its own sampled accounts and their shares of the
clipping norm (:meth:`ModelOperations.training_sample`) and downloads trained models
with their model cards; :meth:`ModelOperations.model_weights` checks the digest.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict

from sdk.calls import Call, Request, Steps, operation
from sdk.errors import ResponseError


class OperatorToken:
    """The alliance operator's bearer credential (``ACCORD_OPERATOR_TOKEN``)."""

    client_id = "operator"

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("the operator token is empty")
        self._token = token

    def __repr__(self) -> str:  # never show the token
        return "OperatorToken(...)"

    def apply(self, request: Request, *, audience: str) -> Request:
        raise ValueError("the operator credential is not a client of the token endpoint")

    def authorize(self, request: Request, *, audience: str) -> Request:
        header = f"Bearer {self._token}"
        return replace(request, headers={**request.headers, "Authorization": header})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class TrainingBudget(_Frozen):
    population: str
    period: str
    epsilon_cap: float
    delta_cap: float
    epsilon_spent: float
    delta_spent: float
    epsilon_remaining: float


class RoundRecord(_Frozen):
    round: int
    population: int  # persons consenting when the round was planned
    epsilon_charged: float
    epsilon_total: float  # the population's ε after this round, every run composed
    delta: float
    at: datetime


class TrainingRun(_Frozen):
    id: str
    name: str
    purpose: str
    population: str
    platforms: list[str]  # member ids, in the run's order
    sampling_rate: float
    clip_norm: float
    noise_multiplier: float
    placement: Literal["central", "distributed"]
    max_rounds: int
    state: Literal["running", "finished", "stopped", "failed"]
    reason: str | None
    created_at: datetime
    ended_at: datetime | None
    rounds: list[RoundRecord]


class RoundPlan(_Frozen):
    """A charged, drawn round: the public parameters every party uses."""

    run_id: str
    round: int
    sampling_rate: float
    clip_norm: float
    noise_multiplier: float
    placement: Literal["central", "distributed"]
    platforms: list[str]
    population: int
    epsilon_charged: float
    epsilon_total: float
    delta: float
    budget: TrainingBudget


class SampledAccount(_Frozen):
    account_id: str
    share: float  # this platform's share of the person's clipping norm


class ModelInfo(_Frozen):
    id: str
    name: str
    version: int
    weights_sha256: str
    card: dict[str, Any]


def _json(kind: type[_Frozen]) -> Any:
    return lambda r: kind.model_validate(r.json())


class TrainingOperations:
    """The trainer's operations (operator credential)."""

    @operation
    def set_training_budget(
        self,
        purpose: str,
        *,
        epsilon: float,
        delta: float,
        period: Literal["month", "total"] = "total",
    ) -> Call[TrainingBudget]:
        body = {"epsilon": epsilon, "delta": delta, "period": period}
        path = f"/v1/admin/training/budgets/{quote(purpose, safe='')}"
        return Call(Request("PUT", path, json=body, member_auth=True), _json(TrainingBudget))

    @operation
    def training_budget(self, purpose: str) -> Call[TrainingBudget]:
        path = f"/v1/admin/training/budgets/{quote(purpose, safe='')}"
        return Call(Request("GET", path, member_auth=True), _json(TrainingBudget))

    @operation
    def start_run(
        self,
        *,
        name: str,
        purpose: str,
        platforms: list[str],
        sampling_rate: float,
        clip_norm: float,
        noise_multiplier: float,
        rounds: int,
        placement: Literal["central", "distributed"] = "central",
    ) -> Call[TrainingRun]:
        """Start a run; ``platforms`` are client ids, names or member ids."""
        body = {
            "name": name,
            "purpose": purpose,
            "platforms": platforms,
            "sampling_rate": sampling_rate,
            "clip_norm": clip_norm,
            "noise_multiplier": noise_multiplier,
            "placement": placement,
            "rounds": rounds,
        }
        request = Request("POST", "/v1/admin/training/runs", json=body, member_auth=True)
        return Call(request, _json(TrainingRun))

    @operation
    def training_run(self, run_id: str) -> Call[TrainingRun]:
        path = f"/v1/admin/training/runs/{quote(run_id, safe='')}"
        return Call(Request("GET", path, member_auth=True), _json(TrainingRun))

    @operation
    def plan_round(self, run_id: str, round: int) -> Call[RoundPlan]:
        """Charge the ledger for round ``round`` (the next one) and draw its sample."""
        path = f"/v1/admin/training/runs/{quote(run_id, safe='')}/rounds"
        request = Request("POST", path, json={"round": round}, member_auth=True)
        return Call(request, _json(RoundPlan))

    @operation
    def end_run(
        self, run_id: str, state: Literal["finished", "failed"], reason: str | None = None
    ) -> Call[TrainingRun]:
        path = f"/v1/admin/training/runs/{quote(run_id, safe='')}/end"
        body = {"state": state, "reason": reason}
        return Call(Request("POST", path, json=body, member_auth=True), _json(TrainingRun))

    @operation
    def register_model(
        self, run_id: str, name: str, weights: bytes, card: dict[str, Any] | None = None
    ) -> Call[ModelInfo]:
        """Register a run's model (``weights``: a ``.npz``); the gateway writes the card's
        privacy fields itself, ``card`` adds what the trainer measured."""
        body = {
            "run_id": run_id,
            "name": name,
            "weights": base64.b64encode(weights).decode("ascii"),
            "card": card or {},
        }
        request = Request("POST", "/v1/admin/models", json=body, member_auth=True)
        return Call(request, _json(ModelInfo))


class ModelOperations:
    """A platform's side: its sample in each round, and the trained models."""

    @operation
    def training_sample(
        self,
        run_id: str,
        round: int,
        *,
        page: int = 10_000,
    ) -> Steps[list[SampledAccount]]:
        """All of this platform's accounts sampled in a round, every page read."""
        path = f"/v1/training/runs/{quote(run_id, safe='')}/rounds/{int(round)}/sample"
        accounts: list[SampledAccount] = []
        cursor: str | None = None
        while True:
            params = {"limit": str(page), **({"cursor": cursor} if cursor else {})}
            body = yield Call(
                Request("GET", path, params=params, member_auth=True), lambda r: r.json()
            )
            accounts += [SampledAccount.model_validate(a) for a in body["accounts"]]
            cursor = body["next_cursor"]
            if cursor is None:
                return accounts

    @operation
    def models(self, name: str | None = None) -> Call[list[ModelInfo]]:
        params = {"name": name} if name else None
        return Call(
            Request("GET", "/v1/models", params=params, member_auth=True),
            lambda r: [ModelInfo.model_validate(m) for m in r.json()["models"]],
        )

    @operation
    def model(self, model_id: str) -> Call[ModelInfo]:
        path = f"/v1/models/{quote(model_id, safe='')}"
        return Call(Request("GET", path, member_auth=True), _json(ModelInfo))

    @operation
    def model_weights(self, model: ModelInfo) -> Call[bytes]:
        """The model's ``.npz`` bytes, checked against the card's SHA-256."""
        path = f"/v1/models/{quote(model.id, safe='')}/weights"

        def parse(response: httpx.Response) -> bytes:
            if hashlib.sha256(response.content).hexdigest() != model.weights_sha256:
                raise ResponseError("the model's weights do not match their SHA-256")
            return response.content

        return Call(Request("GET", path, member_auth=True), parse)
