"""Training runs at the gateway: the consent gate, the ledger's charges, the samples each
platform reads, and the model registry; through the SDK, on every backend."""

from __future__ import annotations

import base64
import io
import math
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from federation.accounting import Conversion, RdpAccountant, SampledGaussian
from gateway.budget.store import SqlBudgetStore
from gateway.runtime import Runtime
from sdk import (
    AsyncPlatformClient,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ResponseError,
)
from tests.gateway.training.scene import PURPOSE, Crowd

Q, C, Z = 0.5, 1.0, 1.2
DELTA = 1e-5

pytestmark = pytest.mark.anyio

RUN = {
    "name": "r",
    "purpose": PURPOSE,
    "platforms": ["Redleaf Social Shop"],
    "sampling_rate": 0.1,
    "clip_norm": 1.0,
    "noise_multiplier": 1.0,
    "rounds": 5,
}


def populate(crowd: Crowd, size: int = 24) -> dict[str, dict[str, str]]:
    """``size`` persons: a third at Redleaf only, a third at both, a third at Bluefin
    only; every fourth consents nowhere, the rest where they have an account. Returns
    person -> {platform: account} for the consenting ones."""
    consenting: dict[str, dict[str, str]] = {}
    for n in range(size):
        accounts = {
            0: {crowd.redleaf: f"r-{n}"},
            1: {crowd.redleaf: f"r-{n}", crowd.bluefin: f"b-{n}"},
            2: {crowd.bluefin: f"b-{n}"},
        }[n % 3]
        if n % 4 == 3:
            crowd.person(accounts)
            continue
        person = crowd.person(accounts, consents_at=tuple(accounts))
        consenting[person] = accounts
    return consenting


async def start(crowd: Crowd, *, rounds: int = 10, epsilon: float = 50.0, q: float = Q) -> str:
    async with crowd.operator_client() as operator:
        await operator.set_training_budget(PURPOSE, epsilon=epsilon, delta=DELTA)
        run = await operator.start_run(
            name="interest-v1",
            purpose=PURPOSE,
            platforms=[crowd.alliance.platform["client_id"], "Bluefin Live"],
            sampling_rate=q,
            clip_norm=C,
            noise_multiplier=Z,
            rounds=rounds,
        )
    assert run.state == "running" and run.platforms == [crowd.redleaf, crowd.bluefin]
    return run.id


async def sample_of(crowd: Crowd, run_id: str, number: int) -> dict[str, dict[str, float]]:
    """platform id -> {account: share} of a planned round, read by each platform."""
    out: dict[str, dict[str, float]] = {}
    clients = {
        crowd.redleaf: crowd.alliance.platform_client(),
        crowd.bluefin: crowd.alliance.keyed_client(),
    }
    for platform, client in clients.items():
        async with client:
            picks = await client.training_sample(run_id, number, page=3)
        out[platform] = {p.account_id: p.share for p in picks}
    return out


def accountant(rounds: int) -> RdpAccountant:
    return RdpAccountant(steps=((SampledGaussian(Q, Z), rounds),))


async def test_a_round_samples_consenting_persons_only_with_shares_summing_to_one(
    crowd: Crowd,
) -> None:
    consenting = populate(crowd)
    run_id = await start(crowd)
    async with crowd.operator_client() as operator:
        plan = await operator.plan_round(run_id, 1)
    assert plan.population == len(consenting) == 18
    assert (plan.sampling_rate, plan.clip_norm, plan.noise_multiplier) == (Q, C, Z)
    expected = accountant(1).epsilon(DELTA, Conversion.improved).epsilon
    assert plan.epsilon_charged == pytest.approx(expected, rel=1e-12)
    assert plan.budget.delta_spent == DELTA  # δ is charged once, with the first round

    picked = await sample_of(crowd, run_id, 1)
    owner = {(p, a): person for person, acc in consenting.items() for p, a in acc.items()}
    shares: dict[str, float] = defaultdict(float)
    for platform, accounts in picked.items():
        for account, share in accounts.items():
            assert (platform, account) in owner, "only consenting accounts are sampled"
            shares[owner[(platform, account)]] += share
    assert shares and all(math.isclose(s, 1.0) for s in shares.values())
    for person in shares:  # a sampled person is sampled on every platform they consent at
        assert len(consenting[person]) == sum(
            acc in picked[p] for p, acc in consenting[person].items()
        )


async def test_a_withdrawal_leaves_the_person_out_of_every_later_round(crowd: Crowd) -> None:
    consenting = populate(crowd)
    leaver = next(p for p, acc in consenting.items() if len(acc) == 2)
    run_id = await start(crowd, q=1.0)  # everyone consenting is in every round
    async with crowd.operator_client() as operator:
        first = await operator.plan_round(run_id, 1)
        assert (
            consenting[leaver][crowd.redleaf] in (await sample_of(crowd, run_id, 1))[crowd.redleaf]
        )
        crowd.withdraw(leaver, crowd.redleaf)
        second = await operator.plan_round(run_id, 2)
        crowd.withdraw(leaver, crowd.bluefin)
        third = await operator.plan_round(run_id, 3)
    assert (first.population, second.population, third.population) == (18, 18, 17)
    two, three = await sample_of(crowd, run_id, 2), await sample_of(crowd, run_id, 3)
    assert consenting[leaver][crowd.redleaf] not in two[crowd.redleaf]
    assert two[crowd.bluefin][consenting[leaver][crowd.bluefin]] == 1.0  # still consents there
    assert consenting[leaver][crowd.bluefin] not in three[crowd.bluefin]


async def test_a_round_past_the_cap_is_refused_and_the_ledger_equals_the_accountant(
    crowd: Crowd, runtime: Runtime
) -> None:
    populate(crowd)
    cap = accountant(3).epsilon(DELTA, Conversion.improved).epsilon * 1.001  # room for 3
    run_id = await start(crowd, epsilon=cap)
    async with crowd.operator_client() as operator:
        for number in (1, 2, 3):
            await operator.plan_round(run_id, number)
        with pytest.raises(PermissionDeniedError) as refused:
            await operator.plan_round(run_id, 4)
        assert refused.value.code == "budget_exhausted"
        assert "left" in str(refused.value)
        run = await operator.training_run(run_id)
        budget = await operator.training_budget(PURPOSE)
    assert run.state == "stopped" and len(run.rounds) == 3 and "ε" in (run.reason or "")
    composed = accountant(3).epsilon(DELTA, Conversion.improved).epsilon
    assert budget.epsilon_spent == pytest.approx(composed, rel=1e-9)
    assert run.rounds[-1].epsilon_total == pytest.approx(composed, rel=1e-12)
    with runtime.sessions() as session:
        charges = SqlBudgetStore(session).charges(f"training:{PURPOSE}")
    assert len(charges) == 3 and all(c.accountant == "rdp" for c in charges)
    assert charges[-1].details["conversion"] == "improved"
    assert charges[-1].details["orders"][:2] == [2, 3] and charges[-1].details["delta"] == DELTA
    assert sum(c.epsilon for c in charges) == pytest.approx(composed, rel=1e-9)


async def test_two_runs_on_one_population_compose_in_the_ledger(crowd: Crowd) -> None:
    populate(crowd)
    first, second = await start(crowd), await start(crowd)
    async with crowd.operator_client() as operator:
        for number in (1, 2, 3):
            await operator.plan_round(first, number)
        for number in (1, 2):
            await operator.plan_round(second, number)
        budget = await operator.training_budget(PURPOSE)
    five = accountant(5).epsilon(DELTA, Conversion.improved).epsilon
    apart = sum(accountant(n).epsilon(DELTA, Conversion.improved).epsilon for n in (3, 2))
    assert budget.epsilon_spent == pytest.approx(five, rel=1e-9)
    assert budget.epsilon_spent < apart  # composed in RDP, not added
    assert budget.delta_spent == DELTA


async def test_rounds_are_planned_once_in_order(crowd: Crowd) -> None:
    populate(crowd)
    run_id = await start(crowd, rounds=2)
    async with crowd.operator_client() as operator:
        with pytest.raises(ConflictError):
            await operator.plan_round(run_id, 2)  # round 1 first
        await operator.plan_round(run_id, 1)
        with pytest.raises(ConflictError):
            await operator.plan_round(run_id, 1)  # a retry takes a new number
        await operator.plan_round(run_id, 2)
        with pytest.raises(ConflictError):
            await operator.plan_round(run_id, 3)  # past the rounds it was started for
        ended = await operator.end_run(run_id, "finished")
        assert ended.state == "finished" and ended.ended_at is not None
        with pytest.raises(ConflictError):
            await operator.end_run(run_id, "failed")


async def test_a_platform_reads_only_its_own_sample(
    crowd: Crowd, client: TestClient, operator: dict[str, str]
) -> None:
    populate(crowd)
    run_id = await start(crowd, q=1.0)
    async with crowd.operator_client() as trainer:
        await trainer.plan_round(run_id, 1)
    picked = await sample_of(crowd, run_id, 1)
    assert all(a.startswith("r-") for a in picked[crowd.redleaf])
    assert all(a.startswith("b-") for a in picked[crowd.bluefin])
    async with crowd.alliance.platform_client() as redleaf:
        with pytest.raises(NotFoundError):
            await redleaf.training_sample(run_id, 2)  # not planned
        with pytest.raises(NotFoundError):
            await redleaf.training_sample("00000000-0000-4000-8000-000000000000", 1)
    path = f"/v1/training/runs/{run_id}/rounds/1/sample"
    assert client.get(path).status_code == 401
    assert client.get(path, headers=operator).status_code == 401  # not a member credential
    brand = crowd.alliance.brand_a
    basic = base64.b64encode(
        f"{brand['client_id']}:{crowd.alliance.brand_a_secret}".encode()
    ).decode()
    refused = client.get(path, headers={"Authorization": f"Basic {basic}"})
    assert refused.status_code == 403 and refused.json()["error"] == "access_denied"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        pytest.param({"purpose": "no.such_purpose"}, 400, id="unknown-purpose"),
        pytest.param({"purpose": "marketing.brand_view"}, 400, id="brand-purpose"),
        pytest.param({"platforms": ["Redleaf Social Shop"] * 2}, 400, id="platform-twice"),
        pytest.param({"platforms": ["nobody"]}, 404, id="unknown-platform"),
        pytest.param({"platforms": []}, 400, id="no-platform"),
        pytest.param({"sampling_rate": 0}, 400, id="q-zero"),
        pytest.param({"sampling_rate": 1.5}, 400, id="q-above-one"),
        pytest.param({"noise_multiplier": 0}, 400, id="not-private"),
        pytest.param({"clip_norm": -1}, 400, id="negative-clip"),
        pytest.param({"placement": "everywhere"}, 400, id="bad-placement"),
        pytest.param({"rounds": 0}, 400, id="no-rounds"),
        pytest.param({"extra": 1}, 400, id="unknown-field"),
    ],
)
def test_bad_runs_are_refused(
    crowd: Crowd,
    client: TestClient,
    operator: dict[str, str],
    change: dict[str, Any],
    status: int,
) -> None:
    body = {**RUN, **change}
    response = client.post("/v1/admin/training/runs", json=body, headers=operator)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert client.post("/v1/admin/training/runs", json=body).status_code == 401


def test_a_round_without_a_budget_or_consent_is_refused(
    crowd: Crowd, client: TestClient, operator: dict[str, str]
) -> None:
    body = RUN
    run = client.post("/v1/admin/training/runs", json=body, headers=operator).json()
    rounds = f"/v1/admin/training/runs/{run['id']}/rounds"
    empty = client.post(rounds, json={"round": 1}, headers=operator)
    assert empty.status_code == 409  # nobody consents yet
    crowd.person({crowd.redleaf: "r-1"}, consents_at=(crowd.redleaf,))
    unfunded = client.post(rounds, json={"round": 1}, headers=operator)
    assert unfunded.status_code == 403 and unfunded.json()["error"] == "budget_exhausted"
    for bad in ({"round": 0}, {"round": "one"}, {}, {"round": 1, "q": 1}):
        assert client.post(rounds, json=bad, headers=operator).status_code == 400
    budget = f"/v1/admin/training/budgets/{PURPOSE}"
    for bad_budget in ({"epsilon": 0, "delta": 1e-6}, {"epsilon": 1, "delta": 0.5}, {}):
        assert client.put(budget, json=bad_budget, headers=operator).status_code == 400


def npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


async def test_a_model_is_registered_with_the_gateways_card_and_downloaded(
    crowd: Crowd, redleaf: AsyncPlatformClient
) -> None:
    populate(crowd)
    run_id = await start(crowd)
    weights = npz(weight=np.ones((1, 3), np.float32), bias=np.zeros(1, np.float32))
    async with crowd.operator_client() as operator:
        with pytest.raises(ConflictError):  # nothing trained yet
            await operator.register_model(run_id, "conversion", weights)
        for number in (1, 2):
            await operator.plan_round(run_id, number)
        trainer_card = {"accuracy": {"validation": 0.81}, "contributions": {"a": 0.6}}
        first = await operator.register_model(run_id, "conversion", weights, trainer_card)
        second = await operator.register_model(run_id, "conversion", weights)
    card = first.card
    assert (first.version, second.version) == (1, 2)
    assert card["privacy"]["epsilon"] == pytest.approx(
        accountant(2).epsilon(DELTA, Conversion.improved).epsilon
    )
    assert card["privacy"]["delta"] == DELTA and card["privacy"]["accountant"] == "rdp"
    assert card["mechanism"]["sampling_rate"] == Q and card["rounds"] == 2
    assert card["population_per_round"] == [18, 18]
    assert [p["name"] for p in card["platforms"]] == ["Redleaf Social Shop", "Bluefin Live"]
    assert card["accuracy"] == {"validation": 0.81}
    assert card["weights"]["arrays"] == {"weight": [1, 3], "bias": [1]}

    listed = await redleaf.models("conversion")
    assert [m.version for m in listed] == [2, 1]
    downloaded = await redleaf.model_weights(await redleaf.model(first.id))
    with np.load(io.BytesIO(downloaded)) as archive:
        assert archive["weight"].tolist() == [[1.0, 1.0, 1.0]]
    forged = first.model_copy(update={"weights_sha256": "0" * 64})
    with pytest.raises(ResponseError):
        await redleaf.model_weights(forged)
    with pytest.raises(NotFoundError):
        await redleaf.model("00000000-0000-4000-8000-000000000000")


@pytest.mark.parametrize(
    ("weights", "card", "why"),
    [
        pytest.param(b"not a zip", {}, "npz", id="not-npz"),
        pytest.param(npz(w=np.array([np.nan])), {}, "finite", id="nan"),
        pytest.param(npz(w=np.array(["a"])), {}, "finite", id="strings"),
        pytest.param(npz(w=np.zeros(2)), {"privacy": {"epsilon": 0}}, "itself", id="forged-eps"),
        pytest.param(npz(w=np.zeros(2)), {"x": "y" * 70_000}, "bytes", id="huge-card"),
    ],
)
async def test_bad_models_are_refused(
    crowd: Crowd,
    client: TestClient,
    operator: dict[str, str],
    weights: bytes,
    card: dict[str, Any],
    why: str,
) -> None:
    populate(crowd, size=6)
    run_id = await start(crowd)
    async with crowd.operator_client() as trainer:
        await trainer.plan_round(run_id, 1)
    body = {
        "run_id": run_id,
        "name": "conversion",
        "weights": base64.b64encode(weights).decode(),
        "card": card,
    }
    response = client.post("/v1/admin/models", json=body, headers=operator)
    assert response.status_code == 400, response.text
    assert why in response.json()["detail"]
    assert client.get("/v1/admin/training/runs/" + run_id, headers=operator).status_code == 200
    for bad in ({**body, "weights": "%%%"}, {**body, "name": "Bad Name"}, {**body, "run_id": ""}):
        assert client.post("/v1/admin/models", json=bad, headers=operator).status_code == 400
