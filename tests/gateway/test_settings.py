"""Settings: built once from ACCORD_* variables, unsafe defaults refused, errors named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.settings import DEV_SECRETS, Environment, SettingsError, load_settings
from tests.conftest import strong_secret

STRONG = {f"ACCORD_{name.upper()}": strong_secret() for name in DEV_SECRETS}


def _env(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    for name in [*STRONG, "ACCORD_ENV", "ACCORD_PORT", "ACCORD_ISSUER"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_development_accepts_the_built_in_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, ACCORD_ENV="development")
    settings = load_settings()
    assert settings.env is Environment.development
    assert settings.database_url == "sqlite:///./var/accord.db"
    assert settings.is_sqlite


@pytest.mark.parametrize("env", ["test", "production"])
def test_default_secrets_are_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    _env(monkeypatch, ACCORD_ENV=env, ACCORD_ISSUER="https://accord.example")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    for name in DEV_SECRETS:
        assert f"ACCORD_{name.upper()} uses the development default" in message


def test_the_environment_defaults_to_production(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch)
    with pytest.raises(SettingsError, match="ACCORD_SECRET_KEY uses the development default"):
        load_settings()


def test_short_secrets_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, ACCORD_ENV="test", **{**STRONG, "ACCORD_HASH_KEY": "short"})
    with pytest.raises(SettingsError, match="ACCORD_HASH_KEY must be at least 32 characters"):
        load_settings()


def test_production_needs_an_https_issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, ACCORD_ENV="production", ACCORD_ISSUER="http://accord.example", **STRONG)
    with pytest.raises(SettingsError, match="ACCORD_ISSUER must be https in production"):
        load_settings()
    monkeypatch.setenv("ACCORD_ISSUER", "https://accord.example/")
    assert load_settings().issuer == "https://accord.example"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        pytest.param(
            "ACCORD_PORT", "eighty", "ACCORD_PORT: Input should be a valid integer", id="port"
        ),
        pytest.param(
            "ACCORD_PORT", "70000", "ACCORD_PORT: Input should be less than", id="port-range"
        ),
        pytest.param("ACCORD_ENV", "staging", "ACCORD_ENV: Input should be", id="env"),
        pytest.param(
            "ACCORD_DATABASE_URL",
            "mysql://x",
            "ACCORD_DATABASE_URL: Value error, must start",
            id="db",
        ),
        pytest.param("ACCORD_ISSUER", "accord.example", "ACCORD_ISSUER: Value error", id="issuer"),
        pytest.param(
            "ACCORD_ISSUER",
            "https://accord.example/?a=1",
            "ACCORD_ISSUER: Value error, must not have a query",
            id="issuer-query",
        ),
        pytest.param("ACCORD_LOG_LEVEL", "loud", "ACCORD_LOG_LEVEL: String should match", id="log"),
        pytest.param(
            "ACCORD_MAX_BODY_BYTES",
            "12",
            "ACCORD_MAX_BODY_BYTES: Input should be greater",
            id="body",
        ),
    ],
)
def test_a_malformed_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    _env(monkeypatch, **{"ACCORD_ENV": "development", name: value})
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert any(problem.startswith(message) for problem in caught.value.problems), caught.value


def test_nothing_reads_the_environment_at_import(tmp_path: Path) -> None:
    """Importing every module with a broken environment must not fail; building settings must."""
    code = (
        "import gateway.app, gateway.cli, gateway.settings, consent.taxonomy, sdk\n"
        "from gateway.settings import SettingsError, load_settings\n"
        "try:\n    load_settings()\n"
        "except SettingsError as e:\n    print('refused:', e.problems[0])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"ACCORD_PORT": "not-a-port", "ACCORD_ENV": "development", "PATH": ""},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused: ACCORD_PORT:")


def test_the_cli_stops_with_the_variable_named(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "accord"), "db", "current"],
        env={"ACCORD_ENV": "development", "ACCORD_PORT": "eighty", "PATH": ""},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert "error: invalid configuration" in result.stderr
    assert "ACCORD_PORT: Input should be a valid integer" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param(
            "ACCORD_DATABSE_URL",
            "ACCORD_DATABSE_URL: not an Accord setting (did you mean ACCORD_DATABASE_URL?)",
            id="typo",
        ),
        pytest.param("ACCORD_COLOUR", "ACCORD_COLOUR: not an Accord setting", id="unknown"),
    ],
)
def test_unknown_accord_variables_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, message: str
) -> None:
    _env(monkeypatch, **{"ACCORD_ENV": "development", name: "x"})
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.problems == [message]


def test_the_test_harness_variables_are_not_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, ACCORD_ENV="development", ACCORD_TEST_POSTGRES_URL="postgresql://x/y")
    assert load_settings().env is Environment.development


def test_secrets_never_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, ACCORD_ENV="test", **STRONG)
    settings = load_settings()
    for value in STRONG.values():
        assert value not in repr(settings)
