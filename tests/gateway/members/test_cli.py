"""The registry through the `accord` command: same rules, same refusals, nothing half-written."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from gateway.cli import app
from gateway.db import make_engine
from tests.conftest import BACKENDS, POSTGRES_URL, strong_secret
from tests.gateway.members.cases import REFUSALS, ec_jwk

runner = CliRunner()


@pytest.fixture(params=BACKENDS)
def accord_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    schema = None
    if request.param == "postgres":
        assert POSTGRES_URL
        schema = "t_" + uuid.uuid4().hex[:12]
        with make_engine(POSTGRES_URL).begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp_path}/cli.db"
    env = {
        "ACCORD_ENV": "test",
        "ACCORD_DATABASE_URL": url,
        "ACCORD_KEY_DIR": str(tmp_path / "keys"),
        **{f"ACCORD_{n}": strong_secret() for n in ("SECRET_KEY", "PAIRWISE_KEY", "HASH_KEY")},
        "ACCORD_OPERATOR_TOKEN": strong_secret(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield env
    if schema:
        engine = make_engine(POSTGRES_URL or "")
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def accord(*args: str) -> Any:
    return runner.invoke(app, list(args))


def _platform_args(**overrides: str | list[str] | None) -> list[str]:
    options: dict[str, str | list[str] | None] = {
        "name": "Redleaf Social Shop",
        "contact-name": "Li Wei, DPO",
        "contact-email": "dpo@redleaf.example",
        "redirect-uri": ["https://redleaf.example/auth/callback"],
        "login-url": "https://redleaf.example/accord/login",
        "purpose": ["identity.sso"],
        **overrides,
    }
    args: list[str] = []
    for name, value in options.items():
        for item in [value] if isinstance(value, str) else value or []:
            args += [f"--{name}", item]
    return args


def test_add_list_show_disable_enable(accord_env: dict[str, str]) -> None:
    assert accord("db", "upgrade").exit_code == 0
    added = accord("platform", "add", *_platform_args(), "--json")
    assert added.exit_code == 0, added.output
    registration = json.loads(added.stdout)
    assert registration["client_secret"]
    assert registration["client_id"].startswith("plt_")

    listed = accord("platform", "list")
    assert registration["client_id"] in listed.stdout and "active" in listed.stdout
    assert accord("brand", "list").stdout.strip() == "no brands"

    shown = accord("platform", "show", "redleaf social shop")
    assert "Li Wei, DPO <dpo@redleaf.example>" in shown.stdout
    assert registration["client_secret"] not in shown.stdout

    disabled = accord("platform", "disable", registration["client_id"])
    assert disabled.exit_code == 0
    assert "is disabled" in disabled.stdout
    assert json.loads(accord("platform", "list", "--status", "active", "--json").stdout) == []
    assert accord("platform", "enable", registration["id"]).stdout.strip().endswith("is active")


def test_the_secret_is_printed_once_with_a_warning(accord_env: dict[str, str]) -> None:
    accord("db", "upgrade")
    added = accord("platform", "add", *_platform_args())
    assert "client_secret:" in added.stdout
    assert "shown once" in added.stdout


def test_private_key_jwt_from_a_jwks_file(accord_env: dict[str, str], tmp_path: Path) -> None:
    accord("db", "upgrade")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [ec_jwk("p1")]}))
    added = accord("platform", "add", *_platform_args(), "--jwks-file", str(path), "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["auth_method"] == "private_key_jwt"


def _cli_args(collection: str, spec: dict[str, Any]) -> list[str]:
    args = ["platform" if collection == "platforms" else "brand", "add", "--name", spec["name"]]
    contact = spec.get("contact") or {}
    for field in ("name", "email", "phone"):
        if contact.get(field):
            args += [f"--contact-{field}", contact[field]]
    for uri in spec.get("redirect_uris", []):
        args += ["--redirect-uri", uri]
    for purpose in spec.get("purposes", []):
        args += ["--purpose", purpose]
    for option in ("login_url", "events_endpoint", "sector", "auth_method"):
        if spec.get(option):
            args += [f"--{option.replace('_', '-')}", spec[option]]
    return args


CLI_REFUSALS = [case for case in REFUSALS if "jwks" not in case[2]]


@pytest.mark.parametrize(
    ("collection", "spec", "message"),
    [pytest.param(case[1], case[2], case[5], id=case[0]) for case in CLI_REFUSALS],
)
def test_refusals_exit_1_with_the_reason_and_write_nothing(
    accord_env: dict[str, str], collection: str, spec: dict[str, Any], message: str
) -> None:
    accord("db", "upgrade")
    result = accord(*_cli_args(collection, spec))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    kind = "platform" if collection == "platforms" else "brand"
    assert accord(kind, "list", "--json").stdout.strip() == "[]"


def test_private_jwks_file_is_refused(accord_env: dict[str, str], tmp_path: Path) -> None:
    accord("db", "upgrade")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [ec_jwk(private=True)]}))
    result = accord("platform", "add", *_platform_args(), "--jwks-file", str(path))
    assert result.exit_code == 1
    assert "holds private or symmetric key material" in result.stderr
    unreadable = accord("platform", "add", *_platform_args(), "--jwks-file", str(tmp_path / "no"))
    assert unreadable.exit_code == 1 and "cannot read --jwks-file" in unreadable.stderr
    assert accord("platform", "list", "--json").stdout.strip() == "[]"


def test_duplicate_name_is_refused(accord_env: dict[str, str]) -> None:
    accord("db", "upgrade")
    assert accord("platform", "add", *_platform_args()).exit_code == 0
    again = accord(
        "brand",
        "add",
        "--name",
        "REDLEAF social shop",
        "--contact-name",
        "X",
        "--contact-email",
        "x@y.example",
        "--redirect-uri",
        "https://y.example/cb",
    )
    assert again.exit_code == 1
    assert "error: a member named 'REDLEAF social shop' already exists" in again.stderr
    assert accord("brand", "list", "--json").stdout.strip() == "[]"


def test_commands_refuse_an_unmigrated_database(accord_env: dict[str, str]) -> None:
    result = accord("platform", "list")
    assert result.exit_code == 1
    assert "the database is not migrated: run `accord db upgrade`" in result.stderr


def test_db_upgrade_downgrade_current(accord_env: dict[str, str]) -> None:
    assert "behind head" in accord("db", "current").stdout
    assert accord("db", "upgrade").exit_code == 0
    assert accord("db", "current").stdout.strip().endswith("(head)")
    down = accord("db", "downgrade", "base")
    assert down.exit_code == 0 and down.stdout.strip() == "database at base"
    assert accord("db", "upgrade").exit_code == 0


def test_unknown_member_is_reported(accord_env: dict[str, str]) -> None:
    accord("db", "upgrade")
    result = accord("brand", "disable", "nobody")
    assert result.exit_code == 1
    assert "error: no brand 'nobody'" in result.stderr
