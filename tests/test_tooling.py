"""The two commands: an idempotent, CPU-only bootstrap; .ci/run; `make run` answering."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_a_second_bootstrap_installs_nothing() -> None:
    """`make -q` exits 0 only when the venv stamp is newer than what it depends on."""
    result = subprocess.run(
        ["make", "-q", ".venv/.installed"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, "the virtualenv would be rebuilt: " + result.stdout
    dry_run = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "pip" not in dry_run
    assert "accord demo up" in dry_run


def test_torch_is_the_cpu_build_and_no_cuda_was_pulled() -> None:
    assert metadata.version("torch") == "2.13.0+cpu"
    names = {(d.metadata["Name"] or "").lower() for d in metadata.distributions()}
    assert not {n for n in names if n.startswith(("nvidia-", "triton", "cuda"))}


def test_federation_extras_are_installed() -> None:
    for name in ("flwr", "opacus"):
        assert metadata.version(name)


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/usr/bin/env bash\n" + body + "\n")
    path.chmod(0o755)


@pytest.mark.parametrize("postgres_answers", [True, False])
def test_ci_run_calls_make_test_and_finds_postgres(tmp_path: Path, postgres_answers: bool) -> None:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = tmp_path / "make.log"
    _stub(stubs, "make", f'echo "$* URL=${{ACCORD_TEST_POSTGRES_URL:-}}" >> {log}')
    _stub(stubs, "chromium", "exit 0")  # present, so nothing is installed
    # python3 decides whether PostgreSQL answers; stub it to the case under test.
    _stub(stubs, "python3", "exit 0" if postgres_answers else "exit 1")
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(tmp_path), "CI": "true"}
    result = subprocess.run(
        ["bash", str(ROOT / ".ci" / "run")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    (line,) = log.read_text().splitlines()
    expected = "postgresql+psycopg://postgres@127.0.0.1:5432/test" if postgres_answers else ""
    assert line == f"test URL={expected}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_make_run_serves_healthz_and_the_schema(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ACCORD_") and not key.startswith("MAKE")
    }
    env |= {
        "ACCORD_PORT": str(port),
        "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path}/run.db",
        "ACCORD_KEY_DIR": str(tmp_path / "keys"),
    }
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            output.append(line)
            if line.startswith("Press Ctrl+C to stop."):
                break
        text = "".join(output)
        assert "Accord is running. Open:" in text, text
        assert f"http://127.0.0.1:{port}/healthz" in text
        assert "Lumen Social Shop" in text and "Aurora Cosmetics" in text
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
        schema = httpx.get(f"{base}/v1/schema")
        assert schema.status_code == 200
        assert schema.json()["version"] == "1.0.0"
        assert (tmp_path / "demo" / "brand.json").exists()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_python_is_311() -> None:
    assert sys.version_info[:2] == (3, 11)
