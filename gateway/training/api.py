"""The training API: the alliance's trainer (the operator credential) runs rounds, each
platform reads its own sample and downloads models (docs/federation.md).

Operator: ``PUT|GET /v1/admin/training/budgets/{purpose}``,
``POST /v1/admin/training/runs``, ``GET /v1/admin/training/runs/{id}``,
``POST /v1/admin/training/runs/{id}/rounds``, ``POST /v1/admin/training/runs/{id}/end``,
``POST /v1/admin/models``.
Platforms: ``GET /v1/training/runs/{id}/rounds/{n}/sample``, ``GET /v1/models``,
``GET /v1/models/{id}``, ``GET /v1/models/{id}/weights``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from consent.budget import Cap, Ledger
from federation.dp_fedavg import Placement
from gateway.budget.store import SqlBudgetStore
from gateway.db import utcnow
from gateway.edge import OperatorRoute, RuntimeDep, SessionDep
from gateway.errors import InvalidRequest
from gateway.members.auth import MemberRoute, PlatformDep
from gateway.training import registry
from gateway.training.models import TrainingRound, TrainingRun
from gateway.training.service import PlannedRound, RunSpec, Training, period_kind, population

MODELS_PATH = "/v1/admin/models"  # a wider body limit: it carries the weights
MAX_PAGE = 10_000
Purpose = Annotated[str, Path(min_length=1, max_length=120, pattern=r"^[a-z0-9_.]+$")]
RunId = Annotated[str, Path(min_length=1, max_length=36)]


def _training(session: SessionDep, rt: RuntimeDep) -> Training:
    return Training(session, rt)


TrainingDep = Annotated[Training, Depends(_training)]


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epsilon: float = Field(gt=0, le=100, allow_inf_nan=False)
    delta: float = Field(gt=0, lt=1e-3, allow_inf_nan=False, description="e.g. N^-1.1")
    period: Literal["month", "total"] = "total"


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    purpose: str = Field(min_length=1, max_length=120)
    platforms: list[Annotated[str, Field(min_length=1, max_length=120)]] = Field(
        min_length=1, max_length=64
    )
    sampling_rate: float = Field(gt=0, le=1, allow_inf_nan=False)
    clip_norm: float = Field(gt=0, le=1e6, allow_inf_nan=False)
    noise_multiplier: float = Field(gt=0, le=1e4, allow_inf_nan=False)
    placement: Placement = Placement.central
    rounds: int = Field(ge=1, le=100_000, description="the most rounds the run may plan")


class RoundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    round: int = Field(ge=1, le=100_000)


class EndIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["finished", "failed"]
    reason: str | None = Field(default=None, max_length=300)


class ModelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(min_length=1, max_length=36)
    name: str = Field(min_length=1, max_length=120, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    weights: str = Field(min_length=1, description="the model's arrays, .npz, base64")
    card: dict[str, Any] = Field(
        default_factory=dict,
        description="what the trainer measured: model, accuracy, contributions, notes",
    )


def _round_out(row: TrainingRound) -> dict[str, Any]:
    return {
        "round": row.round,
        "population": row.population,
        "epsilon_charged": row.epsilon_charged,
        "epsilon_total": row.epsilon_total,
        "delta": row.delta,
        "at": row.at,
    }


def _run_out(run: TrainingRun, rounds: list[TrainingRound]) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "purpose": run.purpose,
        "population": run.population,
        "platforms": run.platforms,
        "sampling_rate": run.sampling_rate,
        "clip_norm": run.clip_norm,
        "noise_multiplier": run.noise_multiplier,
        "placement": run.placement,
        "max_rounds": run.max_rounds,
        "state": run.state,
        "reason": run.reason,
        "created_at": run.created_at,
        "ended_at": run.ended_at,
        "rounds": [_round_out(r) for r in rounds],
    }


def _planned_out(planned: PlannedRound) -> dict[str, Any]:
    plan = planned.plan
    return {
        "run_id": planned.run.id,
        "round": plan.round,
        "sampling_rate": plan.sampling_rate,
        "clip_norm": plan.clip_norm,
        "noise_multiplier": plan.noise_multiplier,
        "placement": plan.placement.value,
        "platforms": planned.run.platforms,
        "population": plan.population,
        "epsilon_charged": planned.row.epsilon_charged,
        "epsilon_total": planned.row.epsilon_total,
        "delta": planned.row.delta,
        "budget": _spent_out(planned.spent),
    }


def _spent_out(spent: Any) -> dict[str, Any]:
    return {
        "population": spent.population,
        "period": spent.period,
        "epsilon_cap": spent.cap.epsilon,
        "delta_cap": spent.cap.delta,
        "epsilon_spent": spent.epsilon,
        "delta_spent": spent.delta,
        "epsilon_remaining": spent.remaining_epsilon,
    }


def operator_router() -> APIRouter:
    api = APIRouter(prefix="/v1/admin", tags=["training"], route_class=OperatorRoute)

    @api.put("/training/budgets/{purpose}", summary="Set a training population's (ε, δ) cap")
    def set_budget(purpose: Purpose, body: BudgetIn, session: SessionDep) -> dict[str, Any]:
        store = SqlBudgetStore(session)
        cap = Cap(population(purpose), period_kind(body.period), body.epsilon, body.delta)
        store.set_cap(cap)
        return _spent_out(Ledger(store).spent(cap.population, utcnow()))

    @api.get("/training/budgets/{purpose}", summary="A training population's budget")
    def get_budget(purpose: Purpose, session: SessionDep) -> dict[str, Any]:
        return _spent_out(Ledger(SqlBudgetStore(session)).spent(population(purpose), utcnow()))

    @api.post("/training/runs", status_code=201, summary="Start a training run")
    def start(body: RunIn, training: TrainingDep) -> dict[str, Any]:
        spec = RunSpec(
            name=body.name,
            purpose=body.purpose,
            platforms=tuple(body.platforms),
            sampling_rate=body.sampling_rate,
            clip_norm=body.clip_norm,
            noise_multiplier=body.noise_multiplier,
            placement=body.placement,
            max_rounds=body.rounds,
        )
        return _run_out(training.start(spec), [])

    @api.get("/training/runs/{run_id}", summary="A run, its state and its rounds")
    def show(run_id: RunId, training: TrainingDep) -> dict[str, Any]:
        run = training.run(run_id)
        return _run_out(run, training.rounds(run))

    @api.post("/training/runs/{run_id}/rounds", summary="Charge the ledger and draw a round")
    def plan(run_id: RunId, body: RoundIn, training: TrainingDep, rt: RuntimeDep) -> dict[str, Any]:
        run = training.run(run_id)
        return _planned_out(training.plan(run, body.round, utcnow(), rt.sessions))

    @api.post("/training/runs/{run_id}/end", summary="Mark a run finished or failed")
    def end(run_id: RunId, body: EndIn, training: TrainingDep) -> dict[str, Any]:
        run = training.end(training.run(run_id), body.state, body.reason, utcnow())
        return _run_out(run, training.rounds(run))

    @api.post(MODELS_PATH.removeprefix("/v1/admin"), status_code=201, summary="Register a model")
    def register(body: ModelIn, training: TrainingDep) -> dict[str, Any]:
        try:
            weights = base64.b64decode(body.weights, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("weights must be base64") from None
        model = registry.register(training, body.run_id, body.name, weights, body.card, utcnow())
        return registry.card_out(model)

    return api


def router() -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["training"], route_class=MemberRoute)

    @api.get("/training/runs/{run_id}/rounds/{number}/sample", summary="My sampled accounts")
    def picks(
        run_id: RunId,
        number: Annotated[int, Path(ge=1, le=100_000)],
        platform: PlatformDep,
        training: TrainingDep,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
    ) -> dict[str, Any]:
        """The platform's accounts sampled in a round and each one's share of the clipping
        norm; only the run's platforms, only their own accounts."""
        run = training.run(run_id)
        rows = training.picks(run, number, platform, cursor or "", limit + 1)
        more, rows = len(rows) > limit, rows[:limit]
        return {
            "run_id": run.id,
            "round": number,
            "accounts": [{"account_id": r.account_id, "share": r.share} for r in rows],
            "next_cursor": rows[-1].account_id if more else None,
        }

    @api.get("/models", summary="The trained models and their cards")
    def models(
        _: PlatformDep,
        training: TrainingDep,
        name: Annotated[str | None, Query(max_length=120)] = None,
    ) -> dict[str, Any]:
        return {"models": [registry.card_out(m) for m in registry.listing(training, name)]}

    @api.get("/models/{model_id}", summary="One model's card")
    def card(model_id: RunId, _: PlatformDep, training: TrainingDep) -> dict[str, Any]:
        return registry.card_out(registry.get(training, model_id))

    @api.get(
        "/models/{model_id}/weights",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}},
        summary="One model's weights (.npz)",
    )
    def weights(model_id: RunId, _: PlatformDep, training: TrainingDep) -> Response:
        model = registry.get(training, model_id)
        return Response(
            model.weights,
            media_type="application/octet-stream",
            headers={
                "Digest": "sha-256="
                + base64.b64encode(bytes.fromhex(model.weights_sha256)).decode(),
                "ETag": f'"{model.weights_sha256}"',
                "Content-Disposition": f'attachment; filename="{model.name}-v{model.version}.npz"',
            },
        )

    return api
