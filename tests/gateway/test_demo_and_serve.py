"""`accord demo seed` and `accord serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.demo import DEMO_ALLIANCE
from sdk import PrivateKeyJWT
from tests.conftest import strong_secret

runner = CliRunner()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db",
        "ACCORD_KEY_DIR": str(tmp_path / "keys"),
        **extra,
    }


def test_demo_seed_registers_the_alliance_once(tmp_path: Path) -> None:
    env = _env(tmp_path, ACCORD_ENV="development")
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    first = runner.invoke(app, ["demo", "seed"], env=env)
    assert first.exit_code == 0, first.output
    assert first.stdout.count("registered ") == len(DEMO_ALLIANCE) == 4
    second = runner.invoke(app, ["demo", "seed"], env=env)
    assert second.stdout.count("already registered") == 4

    platforms = json.loads(runner.invoke(app, ["platform", "list", "--json"], env=env).stdout)
    brands = json.loads(runner.invoke(app, ["brand", "list", "--json"], env=env).stdout)
    assert len(platforms) == 3 and len(brands) == 1
    assert len({m["sector"] for m in platforms + brands}) == 4  # distinct pairwise sectors

    for demo in DEMO_ALLIANCE:
        path = tmp_path / "demo" / f"{demo.slug}.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    brand = json.loads((tmp_path / "demo" / "brand.json").read_text())
    assert brand["client_secret"] and "private_jwk" not in brand


def test_a_seeded_platform_key_signs_what_its_registered_jwks_verifies(tmp_path: Path) -> None:
    env = _env(tmp_path, ACCORD_ENV="development")
    runner.invoke(app, ["db", "upgrade"], env=env)
    runner.invoke(app, ["demo", "seed"], env=env)
    credentials: dict[str, Any] = json.loads((tmp_path / "demo" / "social_shop.json").read_text())
    shown = runner.invoke(app, ["platform", "show", credentials["client_id"], "--json"], env=env)
    registered = json.loads(shown.stdout)
    assert registered["auth_method"] == "private_key_jwt"
    assert "d" not in registered["jwks"]["keys"][0]

    token = PrivateKeyJWT(credentials["client_id"], credentials["private_jwk"]).assertion(
        credentials["issuer"]
    )
    key = jwt.PyJWKSet.from_dict(registered["jwks"])[registered["jwks"]["keys"][0]["kid"]]
    claims = jwt.decode(token, key, algorithms=["ES256"], audience=credentials["issuer"])
    assert claims["sub"] == credentials["client_id"]


@pytest.mark.parametrize("env_name", ["test", "production"])
def test_demo_is_refused_outside_development(tmp_path: Path, env_name: str) -> None:
    secrets = {f"ACCORD_{n}": strong_secret() for n in ("SECRET_KEY", "PAIRWISE_KEY", "HASH_KEY")}
    env = _env(
        tmp_path,
        ACCORD_ENV=env_name,
        ACCORD_OPERATOR_TOKEN=strong_secret(),
        ACCORD_ISSUER="https://accord.example",
        **secrets,
    )
    for command in (["demo", "seed"], ["demo", "up"]):
        result = runner.invoke(app, command, env=env)
        assert result.exit_code == 1
        assert "the demo alliance is for ACCORD_ENV=development only" in result.stderr
    assert not (tmp_path / "demo").exists()


def test_accord_serve_answers_until_interrupted(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env |= _env(tmp_path, ACCORD_ENV="development", ACCORD_PORT=str(port))
    accord = str(Path(sys.executable).parent / "accord")
    subprocess.run([accord, "db", "upgrade"], env=env, check=True, capture_output=True)
    process = subprocess.Popen(
        [accord, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/readyz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "accord serve did not answer"
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                time.sleep(0.1)
        assert response.json()["status"] == "ready"
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=15)[0].decode()
    # Ctrl+C: a graceful shutdown, then the conventional 128 + SIGINT status.
    assert "Application shutdown complete" in output
    assert process.returncode in {0, 128 + signal.SIGINT}
