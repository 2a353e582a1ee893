"""DP-FedAvg runs end to end in process: the consent gate, the budget stop, platforms that
fail, withdrawals, contributions; and one run planned by the gateway through the SDK."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient

from federation.accounting import Conversion, RdpAccountant, SampledGaussian
from federation.alliance_data import Alliance, PlatformData
from federation.alliance_data import alliance as make_alliance
from federation.coordinators import GatewayCoordinator, LocalCoordinator, gateway_picks
from federation.dp_fedavg import Placement
from federation.simulation import in_process
from federation.training import Hyper, Result, RoundLog, RoundRequest, train
from gateway.settings import Settings
from sdk import ClientSecretBasic, OperatorClient, OperatorToken, PlatformClient, PrivateKeyJWT
from tests.gateway.alliance import Alliance as GatewayAlliance
from tests.gateway.training.scene import PURPOSE, Crowd

Q, C, Z = 0.2, 1.0, 1.0
DELTA = 1e-5
HYPER = Hyper(rounds=6, local_steps=2, local_lr=0.5, server_lr=4.0)


@pytest.fixture(scope="module")
def data() -> Alliance:
    return make_alliance(1_500, seed=3, platforms=3)


def partitions(data: Alliance) -> list[PlatformData]:
    return [data.partition(p) for p in range(data.platforms)]


def consenting(parts: list[PlatformData], every: int = 4) -> list[list[str]]:
    """All but every ``every``-th person consent at each platform they use."""
    return [[str(int(p)) for p in part.person if int(p) % every] for part in parts]


def run(
    data: Alliance,
    parts: list[PlatformData],
    coordinator: LocalCoordinator,
    *,
    hyper: Hyper = HYPER,
    down: tuple[int, int] | None = None,
    on_round: object = None,
) -> Result:
    send = in_process(
        parts,
        [np.random.default_rng([7, p]) for p in range(len(parts))],
        down=(lambda p, n: (p, n) == down) if down else (lambda p, n: False),
    )
    return train(
        coordinator,
        send,
        hyper,
        data.validation(),
        seed=0,
        noise=np.random.default_rng(11),
        on_round=on_round,  # type: ignore[arg-type]
    )


def local(lists: list[list[str]], *, cap: float = 100.0, **kw: object) -> LocalCoordinator:
    return LocalCoordinator(
        lists,
        sampling_rate=Q,
        clip_norm=C,
        noise_multiplier=Z,
        epsilon_cap=cap,
        delta=DELTA,
        key=b"k" * 32,
        **kw,  # type: ignore[arg-type]
    )


def only(part: PlatformData, accounts: list[str]) -> PlatformData:
    keep = np.isin(part.person, np.array([int(a) for a in accounts]))
    return replace(part, person=part.person[keep], x=part.x[keep], y=part.y[keep])


def test_the_records_of_persons_who_never_consented_change_nothing(data: Alliance) -> None:
    parts = partitions(data)
    lists = consenting(parts)
    with_them = run(data, parts, local(lists))
    without = run(data, [only(p, a) for p, a in zip(parts, lists, strict=True)], local(lists))
    assert with_them.state == without.state == "finished"
    for a, b in zip(with_them.arrays, without.arrays, strict=True):
        assert np.array_equal(a, b)
    assert with_them.rounds[-1].accuracy > with_them.initial_accuracy


def test_the_run_learns_and_the_ledger_equals_the_accountant(data: Alliance) -> None:
    parts = partitions(data)
    coordinator = local(consenting(parts))
    result = run(data, parts, coordinator, hyper=replace(HYPER, rounds=30))
    composed = RdpAccountant(steps=((SampledGaussian(Q, Z), 30),))
    epsilon = composed.epsilon(DELTA, Conversion.improved).epsilon
    assert result.state == "finished" and len(result.rounds) == 30
    assert sum(c.epsilon for c in coordinator.charges) == pytest.approx(epsilon, rel=1e-9)
    assert result.epsilon == pytest.approx(epsilon, rel=1e-12)
    assert result.rounds[-1].accuracy > result.initial_accuracy + 0.15
    assert result.rounds[-1].loss < result.rounds[0].loss
    assert result.contributions is not None and len(result.contributions.values) == 3
    assert sum(result.contributions.shares()) == pytest.approx(1.0)


def test_a_run_past_its_cap_stops_at_the_right_round_with_its_last_model(
    data: Alliance,
) -> None:
    parts = partitions(data)
    four = RdpAccountant(steps=((SampledGaussian(Q, Z), 4),)).epsilon(DELTA, Conversion.improved)
    coordinator = local(consenting(parts), cap=four.epsilon * 1.0001)
    seen: list[RoundLog] = []
    result = run(data, parts, coordinator, hyper=replace(HYPER, rounds=10), on_round=seen.append)
    assert result.state == "stopped" and "left" in (result.reason or "")
    assert [r.round for r in result.rounds] == [1, 2, 3, 4] == [r.round for r in seen]
    assert sum(c.epsilon for c in coordinator.charges) == pytest.approx(four.epsilon, rel=1e-9)
    alone = run(data, parts, local(consenting(parts)), hyper=replace(HYPER, rounds=4))
    for a, b in zip(result.arrays, alone.arrays, strict=True):
        assert np.array_equal(a, b)  # the last good model is the fourth round's


def test_a_withdrawal_leaves_the_person_out_of_the_next_rounds(data: Alliance) -> None:
    parts = partitions(data)
    lists = consenting(parts)
    coordinator = local(lists)
    leavers = lists[0][: len(lists[0]) // 2]
    picked: list[set[str]] = []
    original = coordinator.plan

    def watched(number: int):  # type: ignore[no-untyped-def]
        planned = original(number)
        assert planned.picks is not None
        picked.append({a for platform in planned.picks for a, _ in platform})
        return planned

    coordinator.plan = watched  # type: ignore[method-assign]

    def withdraw(log: RoundLog) -> None:
        if log.round == 2:
            coordinator.consent(0, leavers, given=False)

    result = run(data, parts, coordinator, on_round=withdraw)
    gone = {a for a in leavers if not any(a in held for held in coordinator.holders)}
    assert gone and picked[0] & gone  # they were being sampled ...
    assert result.rounds[2].population < result.rounds[1].population
    assert not any(p & gone for p in picked[2:])  # ... and never again


def test_a_platform_that_does_not_answer_is_left_out_of_a_central_round(
    data: Alliance,
) -> None:
    parts = partitions(data)
    coordinator = local(consenting(parts))
    result = run(data, parts, coordinator, down=(1, 3))
    assert result.state == "finished"
    assert [r.replies for r in result.rounds] == [3, 3, 2, 3, 3, 3]
    assert result.rounds[2].lost == ["platform 1: no reply"]
    assert len(coordinator.charges) == 6  # the round was charged and counts


def test_a_distributed_round_needs_every_noise_share(data: Alliance) -> None:
    parts = partitions(data)
    coordinator = local(consenting(parts), placement=Placement.distributed)
    result = run(data, parts, coordinator, down=(2, 2))
    assert result.state == "failed" and "all 3 platforms" in (result.reason or "")
    assert [r.round for r in result.rounds] == [1]
    assert coordinator.state == "failed"


def test_a_run_planned_by_the_gateway(
    alliance: GatewayAlliance,
    client: TestClient,
    crowd: Crowd,
    settings: Settings,
    data: Alliance,
) -> None:
    """Two platforms' partitions behind the gateway's consents, ledger and samples."""
    parts = partitions(data)[:2]
    platform_ids = [crowd.redleaf, crowd.bluefin]
    accounts = {int(p) for part in parts for p in part.person}
    for person in sorted(accounts)[:300]:  # the gateway knows 300 persons
        held = {
            platform_ids[i]: str(person) for i, part in enumerate(parts) if person in part.person
        }
        crowd.person(held, consents_at=tuple(held)[: 1 + person % 2])
    transport = client._transport
    operator = OperatorClient(
        alliance.issuer,
        auth=OperatorToken(settings.operator_token.get_secret_value()),
        transport=transport,
    )
    platforms = [
        PlatformClient(
            alliance.issuer,
            auth=ClientSecretBasic(alliance.platform["client_id"], alliance.platform_secret),
            transport=transport,
        ),
        PlatformClient(
            alliance.issuer,
            auth=PrivateKeyJWT(alliance.keyed_platform["client_id"], alliance.keyed_platform_key),
            transport=transport,
        ),
    ]
    operator.set_training_budget(PURPOSE, epsilon=50, delta=DELTA)
    started = operator.start_run(
        name="conversion",
        purpose=PURPOSE,
        platforms=[alliance.platform["client_id"], alliance.keyed_platform["client_id"]],
        sampling_rate=0.5,
        clip_norm=C,
        noise_multiplier=Z,
        rounds=3,
    )

    def picks(platform: int, request: RoundRequest) -> list[tuple[str, float]]:
        return gateway_picks(platforms[platform], started.id, request.planned.plan.round)

    send = in_process(parts, [np.random.default_rng(p) for p in range(2)], picks)
    coordinator = GatewayCoordinator(operator, started.id)
    result = train(
        coordinator,
        send,
        replace(HYPER, rounds=3),
        data.validation(),
        seed=0,
        noise=np.random.default_rng(1),
    )
    assert result.state == "finished" and len(result.rounds) == 3
    finished = operator.training_run(started.id)
    assert finished.state == "finished"
    assert [r.population for r in finished.rounds] == [r.population for r in result.rounds]
    assert result.rounds[0].population == 300
    assert result.epsilon == pytest.approx(finished.rounds[-1].epsilon_total)

    registered = coordinator.register(result, "conversion")
    card = platforms[1].model(registered.id).card
    assert card["privacy"]["epsilon"] == pytest.approx(result.epsilon)
    assert card["accuracy"]["validation"] == result.rounds[-1].accuracy
    assert result.contributions is not None
    assert card["contributions"]["shares"] == pytest.approx(list(result.contributions.shares()))
    assert card["population_per_round"] == [300, 300, 300]
    with np.load(io.BytesIO(platforms[0].model_weights(registered))) as weights:
        assert np.array_equal(weights["weight"], result.arrays[0])
