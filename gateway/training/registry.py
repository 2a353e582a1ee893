"""The model registry: each trained model, its weights and its model card.

The card's privacy part is written by the gateway from its own records of the run (the
ledger's ε and δ, the accountant, q, C, z, the platforms, the consented population of
every round); the trainer adds only what it measured (model, accuracy, contributions).
A trainer's card may not set the gateway's fields, so a card cannot claim a smaller ε
than was charged. Weights are a NumPy ``.npz`` of plain arrays (no pickles), checked
before they are stored; versions count up per name.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlmodel import col, select

from federation.accounting import RdpAccountant, SampledGaussian
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.members.models import Member
from gateway.training.models import TrainedModel
from gateway.training.service import ACCOUNTANT, CONVERSION, Training

GATEWAY_FIELDS = frozenset(
    {"name", "version", "purpose", "run", "privacy", "mechanism", "rounds", "platforms"}
    | {"population_per_round", "created_at", "weights"}
)
MAX_CARD_BYTES = 65_536
MAX_ARRAYS = 256
MAX_INFLATED = 268_435_456


def register(
    training: Training,
    run_id: str,
    name: str,
    weights: bytes,
    trainer_card: dict[str, Any],
    now: datetime,
) -> TrainedModel:
    run = training.run(run_id)
    if run.state not in ("running", "finished", "stopped"):
        raise Conflict(f"a {run.state} run has no model to register")
    rounds = training.rounds(run)
    if not rounds:
        raise Conflict("the run has planned no round: there is no trained model")
    clash = sorted(GATEWAY_FIELDS & trainer_card.keys())
    if clash:
        raise InvalidRequest(f"the gateway writes these card fields itself: {', '.join(clash)}")
    if len(json.dumps(trainer_card, default=str)) > MAX_CARD_BYTES:
        raise InvalidRequest(f"the trainer's card is over {MAX_CARD_BYTES} bytes")
    shapes = _arrays(weights)
    version = 1 + int(
        training.session.exec(
            select(func.coalesce(func.max(TrainedModel.version), 0)).where(
                TrainedModel.name == name
            )
        ).one()
    )
    run_only = RdpAccountant(
        steps=((SampledGaussian(run.sampling_rate, run.noise_multiplier), len(rounds)),)
    ).epsilon(rounds[-1].delta, CONVERSION)
    platforms = [training.session.get(Member, p) for p in run.platforms]
    card = {
        **trainer_card,
        "name": name,
        "version": version,
        "purpose": run.purpose,
        "run": {"id": run.id, "name": run.name, "state": run.state, "reason": run.reason},
        "privacy": {
            "unit": "person",
            "epsilon": rounds[-1].epsilon_total,  # the population's, all runs composed
            "epsilon_this_run": run_only.epsilon,
            "delta": rounds[-1].delta,
            "accountant": ACCOUNTANT,
            "conversion": str(CONVERSION),
            "orders": list(run_only.orders),
            "order": run_only.order,
            "ledger_population": run.population,
            "period": rounds[-1].period,
        },
        "mechanism": {
            "name": "DP-FedAvg (person-level, Poisson sampling)",
            "sampling_rate": run.sampling_rate,
            "clip_norm": run.clip_norm,
            "noise_multiplier": run.noise_multiplier,
            "placement": run.placement,
        },
        "rounds": len(rounds),
        "platforms": [{"id": m.id, "name": m.name} for m in platforms if m is not None],
        "population_per_round": [r.population for r in rounds],
        "weights": {"format": "npz", "arrays": shapes},
        "created_at": now.isoformat(),
    }
    model = TrainedModel(
        id=str(uuid.uuid4()),
        name=name,
        version=version,
        run_id=run.id,
        card=card,
        weights=weights,
        weights_sha256=hashlib.sha256(weights).hexdigest(),
        created_at=now,
    )
    training.session.add(model)
    training.session.flush()
    return model


def listing(training: Training, name: str | None) -> list[TrainedModel]:
    query = select(TrainedModel)
    if name is not None:
        query = query.where(TrainedModel.name == name)
    query = query.order_by(col(TrainedModel.name), col(TrainedModel.version).desc())
    return list(training.session.exec(query))


def get(training: Training, model_id: str) -> TrainedModel:
    model = training.session.get(TrainedModel, model_id)
    if model is None:
        raise NotFound("no such model")
    return model


def card_out(model: TrainedModel) -> dict[str, Any]:
    return {
        "id": model.id,
        "name": model.name,
        "version": model.version,
        "weights_sha256": model.weights_sha256,
        "card": model.card,
    }


def _arrays(weights: bytes) -> dict[str, list[int]]:
    """The shapes of the arrays in a ``.npz``; refuses anything else, and archives that
    would inflate past :data:`MAX_INFLATED` bytes (a zip bomb) before reading them."""
    try:
        with zipfile.ZipFile(io.BytesIO(weights)) as archive:
            members = archive.infolist()
        if len(members) > MAX_ARRAYS:
            raise InvalidRequest(f"weights hold more than {MAX_ARRAYS} arrays")
        if sum(m.file_size for m in members) > MAX_INFLATED:
            raise InvalidRequest(f"weights inflate to more than {MAX_INFLATED} bytes")
        loaded = np.load(io.BytesIO(weights), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise InvalidRequest("weights must be a .npz archive")
        shapes: dict[str, list[int]] = {}
        with loaded:
            for key in loaded.files:
                array = loaded[key]
                if array.dtype.kind not in "fiu" or not np.all(np.isfinite(array)):
                    raise InvalidRequest(f"array {key!r} is not finite numbers")
                shapes[key] = list(array.shape)
        return shapes
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError):
        raise InvalidRequest("weights must be a .npz archive of plain arrays") from None
