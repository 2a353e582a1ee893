"""``accord train --demo`` against a live gateway: the demo's platforms as ``make run``
registers them (:func:`gateway.demo.seed`), consents recorded through the SDK, the
command's report, the ledger and the model card; and its one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from consent.taxonomy import DataStandard
from federation.demo import DEVELOPMENT_OPERATOR_TOKEN, DemoError, World, operator_token
from gateway import migrate
from gateway.app import create_app
from gateway.cli import app
from gateway.db import make_engine, transaction
from gateway.demo import seed
from gateway.runtime import Runtime
from gateway.settings import DEV_SECRETS
from sdk import NewConsent, OperatorClient, OperatorToken, PlatformClient, PrivateKeyJWT
from tests.conftest import make_settings
from tests.e2e.live import free_port, serving
from tests.gateway.members.cases import ec_jwk
from tests.gateway.training.scene import CATEGORIES, PURPOSE

NOTICE = "demo-privacy"
SLUGS = ("notes", "social_shop", "video_mall")  # the demo's platforms, in slug order
runner = CliRunner()


@dataclass
class DemoGateway:
    url: str
    token: str
    folder: Path

    def operator(self) -> OperatorClient:
        return OperatorClient(self.url, auth=OperatorToken(self.token))

    def platform(self, slug: str) -> PlatformClient:
        entry = json.loads((self.folder / f"{slug}.json").read_text(encoding="utf-8"))
        auth = PrivateKeyJWT(entry["client_id"], entry["private_jwk"])
        return PlatformClient(self.url, auth=auth)

    def consent(self, accounts: int) -> None:
        """``accounts`` accounts at each platform consent to the training purpose."""
        for slug in SLUGS:
            with self.platform(slug) as client:
                results = client.record_consents(
                    NewConsent(f"{slug}-{i:04d}", PURPOSE, CATEGORIES, NOTICE, 1)
                    for i in range(accounts)
                )
            assert all(r.__class__.__name__ == "Consent" for r in results), results[:1]

    def train(self, *args: str, token: str | None = None) -> tuple[int, Any, str]:
        """Run ``accord train --demo``: exit code, the report (JSON) or output, stderr."""
        result = runner.invoke(
            app,
            ["train", "--demo", "--gateway", self.url, "--demo-dir", str(self.folder), *args],
            env={"ACCORD_OPERATOR_TOKEN": token or self.token},
        )
        try:
            report: Any = json.loads(result.stdout)
        except json.JSONDecodeError:
            report = result.stdout
        return result.exit_code, report, result.stderr


@pytest.fixture
def demo(tmp_path: Path, standard: DataStandard) -> Iterator[DemoGateway]:
    """A gateway on a free port, the demo alliance seeded in it, a notice published."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(tmp_path, issuer=url, events_interval=0)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    runtime = Runtime.build(settings, engine=engine, standard=standard)
    with transaction(runtime.sessions) as session:
        seed(session, runtime)
    token = settings.operator_token.get_secret_value()
    with serving(create_app(settings, runtime=runtime), port):
        published = httpx.post(
            f"{url}/v1/admin/notices/{NOTICE}/versions",
            json={"text": "The demo alliance's privacy notice.", "language": "en"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert published.status_code == 201, published.text
        yield DemoGateway(url, token, tmp_path / "demo")
    runtime.close()
    engine.dispose()


def test_the_demo_trains_at_the_gateway_and_registers_its_model(demo: DemoGateway) -> None:
    demo.consent(150)
    code, report, errors = demo.train("--rounds", "8", "--q", "0.3", "--json")
    assert code == 0 and isinstance(report, dict), errors
    assert report["state"] == "finished" and report["rounds"] == 8
    assert report["consenting_accounts"] == dict.fromkeys(SLUGS, 150)
    assert report["persons_per_round"] == [450] * 8  # the gateway's consent gate, every round
    assert report["accuracy"] > report["initial_accuracy"]
    assert 0.5 < report["non_private_accuracy"] <= 1 and 0.5 <= report["majority"] < 1
    assert report["delta"] == 1e-5  # min(1e-5, N^-1.1), the cap the demo set
    assert report["epsilon_run"] == pytest.approx(3.0, rel=1e-6)  # z was chosen for ε = 3

    with demo.operator() as operator:
        budget = operator.training_budget(PURPOSE)  # the demo set the cap (none was)
        run = operator.training_run(report["run_id"])
    assert budget.epsilon_spent == pytest.approx(report["epsilon"], rel=1e-9)
    assert report["ledger"]["charged"] == pytest.approx(report["epsilon"], rel=1e-9)
    assert run.state == "finished" and len(run.rounds) == 8
    with demo.platform("notes") as notes:
        card = notes.model(report["model"]["id"]).card
    assert card["privacy"]["epsilon"] == pytest.approx(report["epsilon"])
    assert card["accuracy"]["validation"] == report["accuracy"]
    assert card["population_per_round"] == [450] * 8
    assert sorted(p["name"] for p in card["platforms"]) == [
        "Inkwell Notes",
        "Lumen Social Shop",
        "Pulse Video Mall",
    ]

    # A second run, in the table form, composes with the first in the ledger.
    code, output, errors = demo.train("--rounds", "4", "--q", "0.3")
    assert code == 0, errors
    for shown in ("ε =", "δ =", "accuracy", "non-private", "notes 150", "demo-conversion v2"):
        assert shown in output
    with demo.operator() as operator:
        total = operator.training_budget(PURPOSE).epsilon_spent
    assert report["epsilon"] < total < 2 * report["epsilon"]


def test_a_run_past_the_cap_stops_with_its_last_model_and_then_refuses(
    demo: DemoGateway,
) -> None:
    demo.consent(100)
    with demo.operator() as operator:
        operator.set_training_budget(PURPOSE, epsilon=1.0, delta=1e-5)
    code, report, errors = demo.train("--rounds", "20", "--q", "0.3", "--json")
    assert code == 0 and isinstance(report, dict), errors
    assert report["state"] == "stopped" and "left" in report["reason"]
    assert 1 <= report["rounds"] < 20
    assert report["epsilon"] <= 1.0 and report["ledger"]["spent"] == pytest.approx(
        report["epsilon"], rel=1e-9
    )
    with demo.platform("video_mall") as platform:
        card = platform.model(report["model"]["id"]).card
    assert card["run"]["state"] == "stopped" and card["rounds"] == report["rounds"]

    code, _, errors = demo.train("--rounds", "20", "--q", "0.3")
    assert code == 1 and errors.startswith("error: the privacy budget") and "exhausted" in errors
    assert errors.count("\n") == 1, errors


def test_nobody_consenting_is_a_clear_error(demo: DemoGateway) -> None:
    code, _, errors = demo.train()
    assert code == 1 and errors.count("\n") == 1
    assert f"nobody consents to {PURPOSE}" in errors


def test_platforms_the_gateway_does_not_know_are_a_clear_error(demo: DemoGateway) -> None:
    entry = json.loads((demo.folder / "notes.json").read_text(encoding="utf-8"))
    (demo.folder / "notes.json").write_text(json.dumps({**entry, "client_id": "unknown"}))
    code, _, errors = demo.train()
    assert code == 1 and errors.count("\n") == 1
    assert "does not know the demo platform 'notes'" in errors and "accord demo seed" in errors


def test_a_wrong_operator_token_is_a_clear_error(demo: DemoGateway) -> None:
    code, _, errors = demo.train(token="not-the-operator-token-" + "x" * 20)
    assert code == 1 and "refused the operator token" in errors


def credentials(folder: Path, issuer: str) -> Path:
    folder.mkdir()
    for slug in SLUGS:
        entry = {
            "name": slug,
            "kind": "platform",
            "client_id": f"{slug}-client",
            "private_jwk": ec_jwk(f"{slug}-1", private=True),
            "base_url": "http://127.0.0.1:8101",
            "issuer": issuer,
        }
        (folder / f"{slug}.json").write_text(json.dumps(entry), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("made", "says"),
    [
        pytest.param(True, "does not answer", id="gateway-down"),
        pytest.param(False, "no demo platform credentials", id="not-seeded"),
    ],
)
def test_without_a_gateway_or_a_seeded_demo_the_error_is_one_line(
    tmp_path: Path, made: bool, says: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    folder = credentials(tmp_path / "demo", url) if made else tmp_path / "nowhere"
    result = runner.invoke(
        app, ["train", "--demo", "--gateway", url, "--demo-dir", str(folder)], env={}
    )
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert result.stderr.startswith("error: ") and says in result.stderr


def test_credentials_for_another_gateway_are_refused(tmp_path: Path) -> None:
    folder = credentials(tmp_path / "demo", "http://127.0.0.1:8000")
    result = runner.invoke(
        app, ["train", "--demo", "--gateway", "http://localhost:9", "--demo-dir", str(folder)]
    )
    assert result.exit_code == 1
    assert "pass --gateway http://127.0.0.1:8000" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--runtime", "deployment"], id="runtime"),
        pytest.param(["--persons", "5000"], id="persons"),
    ],
)
def test_options_of_the_generated_alliance_are_refused_with_demo(args: list[str]) -> None:
    result = runner.invoke(app, ["train", "--demo", *args])
    assert result.exit_code == 2 and "--demo runs in process" in result.output


def test_the_operator_token_is_read_as_the_gateway_reads_it() -> None:
    assert DEV_SECRETS["operator_token"] == DEVELOPMENT_OPERATOR_TOKEN
    assert operator_token({}) == DEVELOPMENT_OPERATOR_TOKEN
    assert operator_token({"ACCORD_OPERATOR_TOKEN": "t" * 40}) == "t" * 40
    with pytest.raises(DemoError, match="ACCORD_OPERATOR_TOKEN"):
        operator_token({"ACCORD_ENV": "production"})


def test_an_account_always_has_the_same_row() -> None:
    world = World(SLUGS, seed=0)
    alone = world.rows(1, ["social_shop-0007"])
    among = World(SLUGS, seed=0).rows(1, ["a", "social_shop-0007", "b"])
    assert np.array_equal(alone.x[0], among.x[1]) and alone.y[0] == among.y[1]
    assert not np.array_equal(World(SLUGS, seed=1).rows(1, ["social_shop-0007"]).x, alone.x)
    held_out = world.held_out(500)
    assert len(held_out.y) == 1_500 and 0.1 < held_out.y.mean() < 0.35
