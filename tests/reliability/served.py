"""``accord serve`` as a real process group on 127.0.0.1, for tests that kill it.

The gateway runs in a session of its own, so the supervisor and its worker processes
share one process group: :meth:`Gateway.kill` sends SIGKILL to all of them at once (no
lifespan shutdown, no flush: a crash), and the context manager ends the group
whatever happens in the test.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from gateway import migrate
from gateway.db import make_engine

START_SECONDS = 90.0  # a loaded 2-core machine may take long to import and spawn workers
STOP_SECONDS = 20.0
ACCORD = str(Path(sys.executable).parent / "accord")


def gateway_env(
    folder: Path, database_url: str, port: int, **settings: str | float | bool
) -> dict[str, str]:
    """The environment of a gateway on 127.0.0.1:``port``: the caller's, less every
    ``ACCORD_`` variable, plus test settings with fresh secrets. Rate limits are off:
    these tests send bursts on purpose. ``settings`` add or override (lower-case names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    values: dict[str, str | float | bool] = {
        "env": "test",
        "database_url": database_url,
        "issuer": f"http://127.0.0.1:{port}",
        "host": "127.0.0.1",
        "port": port,
        "key_dir": str(folder / "keys"),
        "secret_key": secrets.token_urlsafe(32),
        "pairwise_key": secrets.token_urlsafe(32),
        "hash_key": secrets.token_urlsafe(32),
        "operator_token": secrets.token_urlsafe(32),
        "rate_limits_enabled": False,
        "access_log": False,
        "log_level": "warning",
        "events_interval": 0.1,
        "log_interval": 0.1,
        **settings,
    }
    for name, value in values.items():
        spelt = str(value).lower() if isinstance(value, bool) else str(value)
        env["ACCORD_" + name.upper()] = spelt
    return env


def migrated(database_url: str) -> None:
    """What ``accord db upgrade`` does, in this process (it saves a start-up)."""
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


class Gateway:
    """One ``accord serve`` process group; started, killed and started again."""

    def __init__(self, env: dict[str, str], log: Path, *, workers: int = 1) -> None:
        self.env = env
        self.log = log
        self.workers = workers
        self.url = env["ACCORD_ISSUER"]
        self.operator = {"Authorization": f"Bearer {env['ACCORD_OPERATOR_TOKEN']}"}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    def start(self) -> float:
        """Start and wait until /readyz answers 200; the seconds that took."""
        assert self.process is None or self.process.poll() is not None, "already running"
        began = time.monotonic()
        command = [ACCORD, "serve", "--workers", str(self.workers)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=out, start_new_session=True
            )
        self.starts += 1
        self.wait_ready(START_SECONDS)
        return time.monotonic() - began

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.ready():
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the gateway exited:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the gateway was not ready in {seconds} s:\n{self.tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL to the whole group: the supervisor and every worker, at once."""
        assert self.process is not None
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=STOP_SECONDS)
        self._wait_group_gone()
        self.kills += 1

    def stop(self) -> None:
        """SIGTERM (a graceful stop), SIGKILL if the group outlives STOP_SECONDS."""
        if self.process is None:
            return
        self._signal_group(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_SECONDS)
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=STOP_SECONDS)
        self._wait_group_gone()

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no log)"

    def _signal_group(self, signum: int) -> None:
        assert self.process is not None
        with suppress(ProcessLookupError):  # the group's id is the supervisor's pid
            os.killpg(self.process.pid, signum)

    def _wait_group_gone(self) -> None:
        """Until no live process of the group is left (workers hold the port)."""
        assert self.process is not None
        deadline = time.monotonic() + STOP_SECONDS
        while group_members(self.process.pid):
            if time.monotonic() > deadline:
                raise AssertionError("the gateway's processes outlived SIGKILL")
            time.sleep(0.05)


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group, read from /proc: a killed
    worker whose parent died first may stay a zombie until something reaps it."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in {"Z", "X"}:
            members.append(int(stat.parent.name))
    return members


@contextmanager
def running(gateway: Gateway) -> Iterator[Gateway]:
    """Start ``gateway``; whatever happens, leave no process of it behind."""
    try:
        gateway.start()
        yield gateway
    finally:
        gateway.stop()
