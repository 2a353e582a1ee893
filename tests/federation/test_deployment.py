"""The Flower apps on Flower's deployment runtime: one SuperLink, three SuperNodes, `flwr run`.

Everything binds 127.0.0.1 on ports the OS just handed out, runs under a private
FLWR_HOME (the Flower configuration with the SuperLink connection lives there, not
in the app's pyproject.toml), and is killed by process group when the test ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

APP_DIR = Path(__file__).resolve().parents[2] / "federation" / "flower_app"
BIN = Path(sys.executable).parent
PLATFORMS = 3
DEADLINE_SECONDS = 180.0


@dataclass
class Federation:
    env: dict[str, str]
    home: Path
    superlink_port: int
    processes: list[subprocess.Popen[bytes]]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the SuperLink exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _spawn(command: list[str], log: Path, fed: Federation) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=fed.env,
            cwd=fed.home,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed with its children
        )
    fed.processes.append(process)
    return process


def _runtime_pids(port: int) -> list[int]:
    """Our SuperLink's SuperExec and ServerApp: own sessions, named by our port."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.endswith(f"127.0.0.1:{port}".encode()) for arg in cmdline) and any(
            b"flower-superexec" in arg or b"flwr-serverapp" in arg for arg in cmdline
        ):
            pids.append(int(entry.name))
    return pids


def _stop(fed: Federation) -> None:
    strays = _runtime_pids(fed.superlink_port)
    for process in fed.processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in fed.processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    for pid in strays:  # they watch their parent and exit; this is the backstop
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[Federation]:
    home = tmp_path / "flwr-home"
    home.mkdir()
    superlink, *nodes = _free_ports(1 + PLATFORMS)
    (home / "config.toml").write_text(
        '[superlink]\ndefault = "accord"\n\n'
        f'[superlink.accord]\naddress = "127.0.0.1:{superlink}"\ninsecure = true\n',
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # SuperExec is found on PATH
        "FLWR_HOME": str(home),
        "FLWR_TELEMETRY_ENABLED": "0",
        "FLWR_DISABLE_UPDATE_CHECK": "1",
        "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
    }
    fed = Federation(env=env, home=home, superlink_port=superlink, processes=[])
    try:
        link = _spawn(
            [str(BIN / "flower-superlink"), "--insecure", "--host", "127.0.0.1",
             "--port", str(superlink), "--disable-runtime-dependency-installation"],
            tmp_path / "superlink.log",
            fed,
        )  # fmt: skip
        _wait_for_port(superlink, link, timeout=60)
        for partition, port in enumerate(nodes):
            _spawn(
                [str(BIN / "flower-supernode"), "--insecure",
                 "--superlink", f"127.0.0.1:{superlink}",
                 "--host", "127.0.0.1", "--port", str(port),
                 "--node-config", f"partition-id={partition} num-partitions={PLATFORMS}"],
                tmp_path / f"supernode-{partition}.log",
                fed,
            )  # fmt: skip
        yield fed
    finally:
        _stop(fed)


def _flwr(fed: Federation, *args: str, timeout: float) -> Any:
    done = subprocess.run(
        [str(BIN / "flwr"), *args, "--format", "json"],
        env=fed.env,
        cwd=fed.home,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    return json.loads(done.stdout)


@pytest.mark.slow
def test_two_rounds_on_three_supernodes_beat_the_majority(
    federation: Federation, tmp_path: Path
) -> None:
    started = time.monotonic()
    results = tmp_path / "results"
    overrides = f'num-server-rounds=2 persons=3000 results-dir="{results}"'
    submitted = _flwr(federation, "run", str(APP_DIR), "accord", "--run-config", overrides,
                      timeout=60)  # fmt: skip
    assert submitted["success"], submitted
    run_id = submitted["run-id"]

    status = ""
    while time.monotonic() - started < DEADLINE_SECONDS:
        listed = _flwr(federation, "ls", "accord", "--run-id", run_id, timeout=30)
        status = listed["runs"][0]["status"]
        if status.startswith("finished"):
            break
        time.sleep(2)
    assert status == "finished:completed", (status, (tmp_path / "superlink.log").read_text())

    result = json.loads((results / "result.json").read_text(encoding="utf-8"))
    assert result["finished"]
    assert [r["round"] for r in result["rounds"]] == [1, 2]
    assert all(r["replies"] == PLATFORMS and not r["lost"] for r in result["rounds"])
    assert sorted(result["platform_accuracy"]) == ["0", "1", "2"]
    assert result["rounds"][-1]["accuracy"] > result["majority"] + 0.03, result
