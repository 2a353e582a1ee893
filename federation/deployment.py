"""Flower's deployment runtime on this machine: one SuperLink and a SuperNode per platform.

Every process binds 127.0.0.1 on ports the OS just handed out, runs under a private
``FLWR_HOME`` (the Flower configuration holding the SuperLink's address lives there,
not in the app's pyproject.toml), in its own process group, and is stopped when the
``launched`` block ends. A run is submitted with ``flwr run`` and followed with
``flwr ls`` (``flwr run`` returns as soon as the SuperLink accepted it). Used by
``accord train --deployment`` and the deployment tests.
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from federation.errors import FederationError

APP_DIR = Path(__file__).resolve().parent / "flower_app"
BIN = Path(sys.executable).parent
FEDERATION = "accord"  # the connection's name in $FLWR_HOME/config.toml


@dataclass
class Federation:
    env: dict[str, str]
    home: Path
    logs: Path
    superlink_port: int
    nodes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def kill_node(self, index: int) -> None:
        """SIGKILL one SuperNode (and its ClientApp processes): a platform that vanishes."""
        os.killpg(self.nodes[index].pid, signal.SIGKILL)
        self.nodes[index].wait(timeout=10)

    def flwr(self, *args: str, timeout: float = 60) -> Any:
        done = subprocess.run(  # noqa: S603 - the venv's own flwr, arguments as a list
            [str(BIN / "flwr"), *args, "--format", "json"],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise FederationError(f"flwr {args[0]} failed: {done.stdout!r} {done.stderr!r}")
        return json.loads(done.stdout)

    def submit(self, overrides: str, app: Path = APP_DIR) -> int:
        """``flwr run`` with ``--run-config overrides``; the run's id."""
        submitted = self.flwr("run", str(app), FEDERATION, "--run-config", overrides)
        if not submitted.get("success"):
            raise FederationError(f"the SuperLink refused the run: {submitted}")
        return int(submitted["run-id"])

    def status(self, run_id: int) -> str:
        """``pending``, ``running``, ``finished:completed``, ``finished:failed``, ..."""
        listed = self.flwr("ls", FEDERATION, "--run-id", str(run_id), timeout=30)
        return str(listed["runs"][0]["status"])


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextlib.contextmanager
def launched(
    platforms: int, work: Path, node_config: Sequence[str] = (), env: dict[str, str] | None = None
) -> Iterator[Federation]:
    """A SuperLink and ``platforms`` SuperNodes; ``node_config[i]`` is added to node i's
    ``--node-config`` (after its partition). Logs go to ``work/logs``."""
    home, logs = work / "flwr-home", work / "logs"
    home.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    superlink, *ports = free_ports(1 + platforms)
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "{FEDERATION}"\n\n'
        f'[superlink.{FEDERATION}]\naddress = "127.0.0.1:{superlink}"\ninsecure = true\n',
        encoding="utf-8",
    )
    environment = {
        **os.environ,
        **(env or {}),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # SuperExec is on PATH
        "FLWR_HOME": str(home),
        "FLWR_TELEMETRY_ENABLED": "0",
        "FLWR_DISABLE_UPDATE_CHECK": "1",
        "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
    }
    fed = Federation(environment, home, logs, superlink)
    try:
        link = spawn(
            [str(BIN / "flower-superlink"), "--insecure", "--host", "127.0.0.1",
             "--port", str(superlink), "--disable-runtime-dependency-installation"],
            logs / "superlink.log",
            fed,
        )  # fmt: skip
        wait_for_port(superlink, link, timeout=60)
        for index, port in enumerate(ports):
            extra = f" {node_config[index]}" if index < len(node_config) else ""
            fed.nodes.append(
                spawn(
                    [
                        str(BIN / "flower-supernode"),
                        "--insecure",
                        "--superlink",
                        f"127.0.0.1:{superlink}",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--node-config",
                        f"partition-id={index} num-partitions={platforms}{extra}",
                    ],
                    logs / f"supernode-{index}.log",
                    fed,
                )
            )
        yield fed
    finally:
        stop(fed)


def spawn(command: list[str], log: Path, fed: Federation) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - the venv's own Flower executables
            command,
            env=fed.env,
            cwd=fed.home,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
        )
    fed.processes.append(process)
    return process


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FederationError(f"the SuperLink exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise FederationError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _runtime_pids(port: int) -> list[int]:
    """This SuperLink's SuperExec and ServerApp: own sessions, named by its port."""
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


def stop(fed: Federation) -> None:
    strays = _runtime_pids(fed.superlink_port)
    for process in fed.processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    for process in fed.processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    for pid in strays:  # they watch their parent and exit; this is the backstop
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
