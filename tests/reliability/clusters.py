"""A private PostgreSQL cluster on 127.0.0.1, for a test that stops and restarts it.

The machine's shared PostgreSQL is never touched: ``initdb`` makes a cluster in a
temporary folder, ``pg_ctl`` starts it on a free port (TCP on 127.0.0.1 only, its
Unix socket in its own folder) and stops, restarts or crashes it on demand. The
server refuses to run as root, so as root every command runs as the ``postgres``
user (``runuser``). Without the server binaries, or as root without that user, the
test that asks for a cluster is skipped, saying why.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

SERVER_USER = "postgres"
COMMAND_SECONDS = 60


def server_binaries() -> Path | None:
    """The folder of initdb and pg_ctl: the newest Debian install, else the PATH's."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


@dataclass
class Cluster:
    bin: Path
    data: Path
    port: int
    as_user: list[str]  # the prefix that runs a command as the server's user

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [*self.as_user, str(self.bin / args[0]), *args[1:]]
        finished = subprocess.run(
            command, capture_output=True, text=True, timeout=COMMAND_SECONDS, check=False
        )
        if finished.returncode != 0:
            raise AssertionError(f"{args[0]} failed: {finished.stderr or finished.stdout}")

    def _ctl(self, action: str, *options: str) -> None:
        server_options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data} "
            "-c fsync=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            "pg_ctl", action, "-D", str(self.data / "pgdata"), "-l", str(self.data / "server.log"),
            "-w", "-t", str(COMMAND_SECONDS), "-o", server_options, *options,
        )  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data / "pgdata"), "-w", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self._ctl("restart", "-m", mode)

    def log(self) -> str:
        try:
            return (self.data / "server.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def kill(self) -> None:
        """Whatever state it is in: SIGKILL to the postmaster, if one is running."""
        pid_file = self.data / "pgdata" / "postmaster.pid"
        with suppress(OSError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)


@contextmanager
def private_cluster(port: int) -> Iterator[Cluster]:
    """An initialised, started cluster; stopped and deleted afterwards."""
    binaries = server_binaries()
    if binaries is None:
        _unavailable("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    as_user: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        try:
            server_user = pwd.getpwnam(SERVER_USER)
        except KeyError:
            _unavailable(f"running as root, and no {SERVER_USER!r} user to run PostgreSQL as")
        if runuser is None:
            _unavailable("running as root, and no runuser to run PostgreSQL as another user")
        as_user = [runuser, "-u", SERVER_USER, "--"]
    folder = Path(tempfile.mkdtemp(prefix="accord-pg-"))  # under /tmp: the user can reach it
    try:
        if as_user:
            os.chown(folder, server_user.pw_uid, server_user.pw_gid)
        cluster = Cluster(binaries, folder, port, as_user)
        cluster._run(
            "initdb", "-D", str(folder / "pgdata"), "-U", SERVER_USER, "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        cluster.start()
        try:
            yield cluster
        finally:
            try:
                cluster.stop("immediate")
            except (AssertionError, subprocess.TimeoutExpired):
                cluster.kill()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _unavailable(why: str) -> NoReturn:
    """In CI a missing private cluster fails the test (the machine has PostgreSQL's
    server); elsewhere it is skipped, as the PostgreSQL tests are without their URL."""
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)
