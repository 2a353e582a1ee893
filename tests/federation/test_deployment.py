"""The Flower apps on Flower's deployment runtime: one SuperLink, three SuperNodes, `flwr run`
(:mod:`federation.deployment` starts them on loopback and stops them)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from federation.accounting import Conversion, RdpAccountant, SampledGaussian
from federation.deployment import Federation, launched

PLATFORMS = 3
DEADLINE_SECONDS = 240.0


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[Federation]:
    with launched(PLATFORMS, tmp_path) as fed:
        yield fed


def result_of(results: Path) -> dict[str, Any]:
    try:
        found: dict[str, Any] = json.loads((results / "result.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return found


def wait(fed: Federation, run_id: int, started: float) -> None:
    status = ""
    while time.monotonic() - started < DEADLINE_SECONDS:
        status = fed.status(run_id)
        if status.startswith("finished"):
            break
        time.sleep(2)
    assert status == "finished:completed", (status, (fed.logs / "superlink.log").read_text())


@pytest.mark.slow
def test_three_rounds_on_three_supernodes_beat_the_majority(
    federation: Federation, tmp_path: Path
) -> None:
    started = time.monotonic()
    results = tmp_path / "results"
    run_id = federation.submit(f'num-server-rounds=3 persons=3000 results-dir="{results}"')
    wait(federation, run_id, started)
    result = result_of(results)
    assert result["finished"]
    assert [r["round"] for r in result["rounds"]] == [1, 2, 3]
    assert time.monotonic() - started < 300  # the bound for a 3-round run
    assert all(r["replies"] == PLATFORMS and not r["lost"] for r in result["rounds"])
    assert sorted(result["platform_accuracy"]) == ["0", "1", "2"]
    assert result["rounds"][-1]["accuracy"] > result["majority"] + 0.03, result


@pytest.mark.slow
def test_a_dp_run_goes_on_without_a_killed_supernode_and_accounts_every_round(
    federation: Federation, tmp_path: Path
) -> None:
    """Person-level DP-FedAvg, planned in the ServerApp; SuperNode 2 is killed (SIGKILL)
    after round 2: the later rounds wait out their timeout, go on with two platforms, and
    are charged like the others. The timeout leaves room for a loaded machine: every
    message starts a ClientApp process."""
    started = time.monotonic()
    results = tmp_path / "results"
    q, z, rounds = 0.2, 1.0, 4
    run_id = federation.submit(
        f'mode="dp" num-server-rounds={rounds} persons=3000 q={q} z={z} epsilon-cap=50.0'
        f' delta=1e-5 round-timeout=20.0 noise-seed=5 results-dir="{results}"'
    )
    while (now := result_of(results)).get("progress", {}).get("round", 0) < 2:
        assert not now.get("finished"), now  # ended before round 2: its error says why
        assert time.monotonic() - started < DEADLINE_SECONDS, now
        time.sleep(0.5)
    federation.kill_node(2)
    wait(federation, run_id, started)
    result = result_of(results)
    assert result["finished"] and result["state"] == "finished", result
    replies = [r["replies"] for r in result["per_round"]]
    assert len(replies) == rounds and replies[:2] == [3, 3] and replies[-1] == 2, replies
    epsilon = (
        RdpAccountant(steps=((SampledGaussian(q, z), rounds),))
        .epsilon(1e-5, Conversion.improved)
        .epsilon
    )
    assert result["epsilon"] == pytest.approx(epsilon, rel=1e-9)
    assert result["ledger_epsilon"] == pytest.approx(epsilon, rel=1e-9)
    assert result["accuracy"] > result["initial_accuracy"]
    assert time.monotonic() - started < 300  # the bound for the whole run
