"""Flower's simulation runtime on this machine: the same apps, virtual SuperNodes on Ray.

:mod:`federation.deployment` runs the ServerApp and ClientApp of ``federation/flower_app``
on a SuperLink with one real SuperNode process per platform; this module runs the very
same apps (``federation.apps:server`` and ``federation.apps:client``, same run config,
same messages, same ``result.json``) on a SuperLink started with ``--simulation``. There
are no SuperNode processes: the run's simulation process (``flwr-simulation``, started by
the SuperLink's SuperExec) creates ``platforms`` virtual SuperNodes and hands their
messages to a pool of Ray actors, each running the ClientApp. Flower sets every virtual
node's config itself, ``partition-id`` (0 … n-1) and ``num-partitions`` (n), which is
what :mod:`federation.apps` reads. Not to be confused with :mod:`federation.simulation`,
the in-process round loop with no Flower at all (the fastest way to experiment).

**Configuration.** ``$FLWR_HOME/config.toml`` (a private ``FLWR_HOME`` under ``work``)
holds one connection, as for the deployment runtime: the SuperLink's address on a free
loopback port, ``insecure = true``. The simulation settings are not in that file (Flower
deprecated ``options.*`` connection fields in 1.28); each run carries them with
``flwr run --federation-config`` (:func:`federation_config`): the number of virtual
SuperNodes, one CPU per ClientApp, and Ray's ``init`` arguments.

**Ray, kept small and offline.** ``num_cpus = 2`` (two ClientApps at a time on this
two-core machine), no GPUs, ``log_to_driver = false``; Flower passes
``include_dashboard = false``; the object store is capped at 200 MB
(``RAY_DEFAULT_OBJECT_STORE_MAX_MEMORY_BYTES``); usage stats are off
(``RAY_USAGE_STATS_ENABLED=0``); Ray binds 127.0.0.1 and does not probe a public
address for its node IP (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes it take
loopback, as on a laptop); its session files go to a fresh short temporary directory
(``RAY_TMPDIR``: its unix sockets must fit in 107 bytes), removed afterwards, so it
never joins another Ray instance on the machine.

**Lifecycle.** :func:`simulate` submits the run with ``flwr run --stream``, which
returns when the run has finished (and copies the run's log to ``work/logs/run.log``),
then asks ``flwr ls`` for the run's status. Flower shuts Ray down when the run ends;
afterwards the SuperLink's process group is stopped and, as a backstop, every process
carrying this call's marker in its environment (Ray's GCS, raylet, workers, the
simulation process) is terminated by pid.

**Cost.** Measured on this two-core machine (Flower 1.42, Ray 2.55.1): the SuperLink
listens after about 3 s, ``flwr run`` has packaged and submitted the app 3 s later, the
simulation process starts 2–4 s after that, and Ray's start (GCS, raylet, two actors)
plus the first replies (each actor imports torch once and generates the alliance) take
another 15–20 s: round 1 of FedAvg ends about 19 s into the run, round 2 takes 0.3 s
(the actors stay up between rounds). A two-round FedAvg run on 3 virtual SuperNodes
takes about 31 s in all, a three-round DP-FedAvg run (no torch) about 28 s; on a
machine busy with other work both grew to 55 s and 32 s. Almost all of it is
start-up: the runtime is for many rounds, or many platforms without one process each.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from federation.deployment import (
    APP_DIR,
    BIN,
    FEDERATION,
    Federation,
    free_ports,
    spawn,
    stop,
    wait_for_port,
)
from federation.errors import FederationError

RAY_CPUS = 2  # the machine's two cores
CLIENTAPP_CPUS = 1  # so two ClientApps run at once
OBJECT_STORE_BYTES = 200_000_000
MARKER = "ACCORD_FLOWER_SIMULATION"  # in every process this module starts, and theirs
_LOG_TAIL_CHARS = 4_000
_GRACE_SECONDS = 10.0


def federation_config(platforms: int) -> str:
    """The ``--federation-config`` of a run: virtual SuperNodes and Ray's settings."""
    if platforms < 1:
        raise FederationError(f"a simulation needs at least one platform, got {platforms}")
    return (
        f'num-supernodes={platforms} backend="ray" client-resources-num-cpus={CLIENTAPP_CPUS}'
        f" client-resources-num-gpus=0.0 init-args-num-cpus={RAY_CPUS} init-args-num-gpus=0"
        ' init-args-logging-level="WARNING" init-args-log-to-driver=false'
    )


def simulate(platforms: int, overrides: str, work: Path, *, timeout: float = 300) -> dict[str, Any]:
    """Run ``federation/flower_app`` on the simulation runtime with ``platforms`` virtual
    SuperNodes and the run-config ``overrides``; the ServerApp's ``result.json``.

    ``platforms`` and ``min-nodes`` are set to ``platforms`` before ``overrides`` apply,
    ``results-dir`` after. Everything started is stopped before this returns or raises.
    """
    config = federation_config(platforms)
    deadline = time.monotonic() + timeout
    home, logs, results = work / "flwr-home", work / "logs", work / "results"
    for directory in (home, logs):
        directory.mkdir(parents=True, exist_ok=True)
    (results / "result.json").unlink(missing_ok=True)  # never report an earlier run
    (port,) = free_ports(1)
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "{FEDERATION}"\n\n'
        f'[superlink.{FEDERATION}]\naddress = "127.0.0.1:{port}"\ninsecure = true\n',
        encoding="utf-8",
    )
    ray_dir = Path(tempfile.mkdtemp(prefix="accord-ray-"))
    marker = uuid.uuid4().hex
    fed = Federation(_environment(home, ray_dir, marker), home, logs, port)
    try:
        link = spawn(
            [str(BIN / "flower-superlink"), "--insecure", "--simulation", "--host", "127.0.0.1",
             "--port", str(port), "--disable-runtime-dependency-installation"],
            logs / "superlink.log",
            fed,
        )  # fmt: skip
        wait_for_port(port, link, timeout=min(60.0, _left(deadline, timeout)))
        run_configs = (
            f"platforms={platforms} min-nodes={platforms}",
            overrides,
            f"results-dir={json.dumps(str(results))}",  # a TOML basic string
        )
        _run(fed, config, run_configs, _left(deadline, timeout))
        runs = fed.flwr("ls", FEDERATION, timeout=60)["runs"]  # the SuperLink's only run
        status = str(runs[0]["status"]) if runs else "never submitted"
        result = _result(results)
        if status != "finished:completed" or not result.get("finished"):
            raise FederationError(f"the simulated run ended {status}: {_tail(logs)}")
        return result
    finally:
        stop(fed)
        _terminate_marked(marker)
        shutil.rmtree(ray_dir, ignore_errors=True)


def _environment(home: Path, ray_dir: Path, marker: str) -> dict[str, str]:
    environment = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # SuperExec is on PATH
        "FLWR_HOME": str(home),
        "FLWR_TELEMETRY_ENABLED": "0",
        "FLWR_DISABLE_UPDATE_CHECK": "1",
        "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
        "RAY_TMPDIR": str(ray_dir),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_DEFAULT_OBJECT_STORE_MAX_MEMORY_BYTES": str(OBJECT_STORE_BYTES),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # node IP = loopback, no public probe
        MARKER: marker,
    }
    environment.pop("RAY_ADDRESS", None)  # never join a running Ray instance
    return environment


def _left(deadline: float, timeout: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FederationError(f"the simulation did not start within {timeout:.0f}s")
    return left


def _run(fed: Federation, config: str, run_configs: tuple[str, ...], timeout: float) -> None:
    """``flwr run --stream``: returns once the run has finished (its log in run.log)."""
    command = [str(BIN / "flwr"), "run", str(APP_DIR), FEDERATION, "--federation-config", config]
    for run_config in run_configs:
        command += ["--run-config", run_config]
    with (fed.logs / "run.log").open("wb") as out:
        try:
            done = subprocess.run(  # noqa: S603 - the venv's own flwr, arguments as a list
                [*command, "--stream"],
                env=fed.env,
                cwd=fed.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise FederationError(
                f"the simulated run did not finish within {timeout:.0f}s: {_tail(fed.logs)}"
            ) from None
    if done.returncode != 0:
        raise FederationError(f"flwr run failed ({done.returncode}): {_tail(fed.logs)}")


def _result(results: Path) -> dict[str, Any]:
    try:
        found: dict[str, Any] = json.loads((results / "result.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return found


def _tail(logs: Path) -> str:
    parts = []
    for name in ("run.log", "superlink.log"):
        with contextlib.suppress(FileNotFoundError):
            text = (logs / name).read_text(encoding="utf-8", errors="replace")
            parts.append(f"--- {name} ---\n{text[-_LOG_TAIL_CHARS:]}")
    return "\n".join(parts)


def _marked(marker: str) -> list[int]:
    """The processes carrying this call's marker: everything it started, at any depth."""
    needle = f"{MARKER}={marker}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in environ:
            pids.append(int(entry.name))
    return pids


def _terminate_marked(marker: str) -> None:
    """SIGTERM what is left (Ray's daemons and workers if Flower could not shut Ray
    down), SIGKILL it after a grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _marked(marker)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + _GRACE_SECONDS
        while pids and time.monotonic() < deadline:
            time.sleep(0.2)
            pids = _marked(marker)
        if not pids:
            return
