"""The Flower apps on Flower's simulation runtime: a SuperLink with ``--simulation``, three
virtual SuperNodes on Ray (:mod:`federation.flower_simulation` starts and stops it all)."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.accounting import Conversion, RdpAccountant, SampledGaussian
from federation.errors import FederationError
from federation.flower_simulation import MARKER, federation_config, simulate

PLATFORMS = 3


def left_behind(work: Path) -> list[int]:
    """Processes a simulation in ``work`` started (they carry its FLWR_HOME and the
    module's marker) that are still there; other tests' simulations are not counted."""
    home = f"FLWR_HOME={work / 'flwr-home'}".encode()
    left = []
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0") if entry.name.isdigit() else []
        except OSError:
            continue
        if home in environ and any(v.startswith(f"{MARKER}=".encode()) for v in environ):
            left.append(int(entry.name))
    return left


def test_the_federation_config_names_the_virtual_supernodes_and_limits_ray() -> None:
    config = federation_config(4)
    assert "num-supernodes=4" in config
    assert "init-args-num-cpus=2" in config
    assert "init-args-log-to-driver=false" in config


def test_a_simulation_without_platforms_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FederationError, match="at least one platform"):
        simulate(0, "", tmp_path)


@pytest.mark.slow
def test_a_simulated_dp_run_charges_the_ledger_what_the_accountant_says(tmp_path: Path) -> None:
    """Person-level DP-FedAvg planned in the ServerApp, on virtual SuperNodes: each
    ClientApp keeps its per-node state between rounds, as a SuperNode does."""
    q, z, rounds = 0.2, 1.0, 3
    result = simulate(
        PLATFORMS,
        f'mode="dp" num-server-rounds={rounds} persons=3000 q={q} z={z} epsilon-cap=50.0'
        " delta=1e-5 noise-seed=5",
        tmp_path,
    )
    assert result["finished"] and result["state"] == "finished", result
    assert [r["replies"] for r in result["per_round"]] == [PLATFORMS] * rounds
    epsilon = (
        RdpAccountant(steps=((SampledGaussian(q, z), rounds),))
        .epsilon(1e-5, Conversion.improved)
        .epsilon
    )
    assert result["epsilon"] == pytest.approx(epsilon, rel=1e-9)
    assert result["ledger_epsilon"] == pytest.approx(result["epsilon"], rel=1e-9)
    assert not left_behind(tmp_path)
