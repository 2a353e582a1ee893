"""The two commands: an idempotent, CPU-only bootstrap; .ci/run. (`make run` answering
within 2 minutes, every printed URL: tests/e2e/test_quickstart.py.)"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

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


def test_python_is_311() -> None:
    assert sys.version_info[:2] == (3, 11)
