"""``accord train``: the run, its report, the budget stop, refusals; in process and on
Flower's deployment runtime."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from federation.accounting import Conversion, RdpAccountant, SampledGaussian
from gateway.cli import app

runner = CliRunner()


def train(*args: str) -> tuple[int, dict[str, Any] | str]:
    result = runner.invoke(app, ["train", *args], env={"ACCORD_ENV": "development"})
    try:
        return result.exit_code, json.loads(result.stdout)
    except json.JSONDecodeError:
        return result.exit_code, result.output


def test_a_simulated_run_reports_its_privacy_and_accuracy() -> None:
    code, report = train("--persons", "3000", "--rounds", "20", "--epsilon", "2", "--json")
    assert code == 0 and isinstance(report, dict), report
    assert report["state"] == "finished" and report["rounds"] == 20
    assert report["epsilon"] == pytest.approx(2.0, rel=1e-6)  # z was chosen for ε = 2
    assert report["ledger_epsilon"] == pytest.approx(report["epsilon"], rel=1e-9)
    assert report["accuracy"] > report["initial_accuracy"]
    assert len(report["shares"]) == 3 and sum(report["shares"]) == pytest.approx(1.0)
    assert report["settings"]["delta"] == pytest.approx(3000**-1.1)


def test_a_run_past_its_cap_stops_at_the_last_round_that_fits() -> None:
    code, report = train(
        "--persons", "3000", "--rounds", "50", "--z", "0.8", "--epsilon", "1.5", "--json"
    )  # fmt: skip
    assert code == 0 and isinstance(report, dict), report
    step = SampledGaussian(0.02, 0.8)
    fits = max(
        n
        for n in range(1, 51)
        if RdpAccountant(steps=((step, n),)).epsilon(3000**-1.1, Conversion.improved).epsilon
        <= 1.5 * 1.000001
    )
    assert report["state"] == "stopped" and report["rounds"] == fits < 50
    assert "left" in report["reason"]


def test_the_report_is_a_table_with_a_progress_bar() -> None:
    code, output = train("--persons", "2000", "--rounds", "3")
    assert code == 0 and isinstance(output, str)
    assert "training" in output and "3/3" in output
    for row in ("privacy (person)", "ledger charged", "validation accuracy", "contribution"):
        assert row in output


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        pytest.param(["--q", "0"], 1, "sampling rate", id="q-zero"),
        pytest.param(["--epsilon", "-1"], 1, "target ε", id="negative-epsilon"),
        pytest.param(["--placement", "nowhere"], 2, "placement", id="bad-placement"),
        pytest.param(["--runtime", "cloud"], 2, "runtime", id="bad-runtime"),
        pytest.param(["--persons", "5"], 2, "persons", id="too-few-persons"),
    ],
)
def test_bad_settings_are_refused_with_a_message(args: list[str], code: int, says: str) -> None:
    exit_code, output = train("--rounds", "2", *args)
    assert exit_code == code
    assert says in str(output)


@pytest.mark.slow
def test_a_run_on_the_deployment_runtime() -> None:
    code, report = train(
        "--runtime", "deployment", "--persons", "2000", "--platforms", "2", "--rounds", "2",
        "--json",
    )  # fmt: skip
    assert code == 0 and isinstance(report, dict), report
    assert report["state"] == "finished" and report["rounds"] == 2 and report["nodes"] == 2
    assert report["settings"]["mode"] == "deployment"
    assert report["ledger_epsilon"] == pytest.approx(report["epsilon"], rel=1e-9)
