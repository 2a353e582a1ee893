"""The two token endpoints under test, each served alone on 127.0.0.1 while measured.

- Accord: ``accord serve --workers WORKERS`` (uvicorn in each worker process, each on
  its own SO_REUSEPORT socket: :mod:`gateway.workers`),
  on its real database (PostgreSQL from ACCORD_BENCH_POSTGRES_URL or
  ACCORD_TEST_POSTGRES_URL, in a schema of its own, else SQLite in a temporary folder),
  migrated to head; one brand registered through the operator API is the client.
- The peer: node-oidc-provider 9.x (``peer/server.mjs``, installed with ``npm ci``) in
  one Node.js process with its in-memory adapter; the client is configured at start.

Each server is started for a round and stopped at its end (SIGTERM, then SIGKILL), also
when the round fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
from sqlalchemy import text

from bench.local import free_port, wait_ready
from bench.oidc.load import Post
from gateway import migrate
from gateway.db import make_engine

PEER = Path(__file__).with_name("peer")
SCOPE = "member_api"
ISSUE = f"grant_type=client_credentials&scope={SCOPE}"
OPAQUE = "urn:accord-bench:opaque"  # the peer's introspectable (opaque) token; server.mjs
START_SECONDS = 60
SCHEMA = "accord_bench_oidc"
BRAND = {
    "name": "Bench Brand",
    "contact": {"name": "Ops", "email": "ops@bench.example"},
    "redirect_uris": ["https://bench.example/cb"],
    "purposes": ["identity.sso"],
}


@dataclass(frozen=True)
class Endpoint:
    """A running server, its client, and a token issued to that client."""

    url: str
    client_id: str
    secret: str
    token: str

    def issuance(self) -> Post:
        return Post(f"{self.url}/token", ISSUE, self.client_id, self.secret)

    def introspection(self) -> Post:
        return Post(f"{self.url}/introspect", f"token={self.token}", self.client_id, self.secret)


@contextmanager
def _serving(
    command: list[str], env: dict[str, str], cwd: Path, ready_url: str, log: Path
) -> Iterator[None]:
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=out)
        try:
            wait_ready(process, ready_url, log, START_SECONDS)
            yield
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _issue(url: str, client_id: str, secret: str, form: str) -> str:
    answer = httpx.post(
        f"{url}/token",
        content=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(client_id, secret),
        timeout=10,
    )
    if answer.status_code != 200:
        raise SystemExit(f"{url}/token answered {answer.status_code}: {answer.text[:300]}")
    return str(answer.json()["access_token"])


@contextmanager
def database(folder: Path) -> Iterator[tuple[str, str]]:
    """The gateway's database URL, migrated to head, and the backend's name."""
    url = os.environ.get("ACCORD_BENCH_POSTGRES_URL") or os.environ.get("ACCORD_TEST_POSTGRES_URL")
    if not url:
        served = f"sqlite:///{folder}/accord.db"
        engine = make_engine(served)
        migrate.upgrade(engine)
        engine.dispose()
        yield served, "SQLite"
        return
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    options = f"-csearch_path={SCHEMA}"
    engine = make_engine(url, connect_args={"options": options})
    migrate.upgrade(engine)
    engine.dispose()
    try:
        yield f"{url}?options={quote(options)}", "PostgreSQL"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{SCHEMA}" CASCADE'))
        admin.dispose()


class Accord:
    """The gateway served by uvicorn; its brand is registered on the first start."""

    def __init__(self, folder: Path, database_url: str, workers: int) -> None:
        self.folder = folder
        self.workers = workers
        self.operator_token = secrets.token_urlsafe(32)
        self.settings = {
            "ACCORD_ENV": "test",
            "ACCORD_DATABASE_URL": database_url,
            "ACCORD_KEY_DIR": str(folder / "keys"),
            "ACCORD_OPERATOR_TOKEN": self.operator_token,
            "ACCORD_EVENTS_INTERVAL": "0",  # no background work: the peer has none
            "ACCORD_LOG_INTERVAL": "0",
            "ACCORD_LOG_LEVEL": "warning",
            # One client on one address is the whole load: limits it never reaches, so
            # the limiter's cost is measured (in process, as the peer has no Redis either).
            "ACCORD_RATE_LIMIT_TOKEN": "client 1000000/second, ip 1000000/second",
            **{
                f"ACCORD_{name}": secrets.token_urlsafe(32)
                for name in ("SECRET_KEY", "PAIRWISE_KEY", "HASH_KEY")
            },
        }
        self.client: tuple[str, str] | None = None

    @contextmanager
    def serving(self) -> Iterator[Endpoint]:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable,
            "-c",
            "from gateway.cli import main; main()",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(self.workers),
        ]
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
        env = {**inherited, **self.settings, "ACCORD_ISSUER": url}
        log = self.folder / "accord.log"
        with _serving(command, env, Path.cwd(), f"{url}/readyz", log):
            if self.client is None:
                self.client = self._register(url)
            client_id, secret = self.client
            yield Endpoint(url, client_id, secret, _issue(url, client_id, secret, ISSUE))

    def _register(self, url: str) -> tuple[str, str]:
        answer = httpx.post(
            f"{url}/v1/admin/brands",
            json=BRAND,
            headers={"Authorization": f"Bearer {self.operator_token}"},
            timeout=10,
        )
        if answer.status_code != 201:
            raise SystemExit(f"registering the brand: {answer.status_code} {answer.text[:300]}")
        member = answer.json()
        return str(member["client_id"]), str(member["client_secret"])


class Peer:
    """node-oidc-provider in one Node.js process, its client given on the command line."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # The same shapes as Accord's: a brand's client id and a 256-bit secret.
        self.client_id = "brd_" + secrets.token_urlsafe(12)
        self.secret = secrets.token_urlsafe(32)
        self.node = install()

    @contextmanager
    def serving(self) -> Iterator[Endpoint]:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [self.node, "server.mjs", str(port), self.client_id, self.secret]
        env = {**os.environ, "NODE_ENV": "production"}
        log = self.folder / "peer.log"
        with _serving(command, env, PEER, f"{url}/.well-known/openid-configuration", log):
            opaque = f"{ISSUE}&resource={quote(OPAQUE, safe='')}"
            token = _issue(url, self.client_id, self.secret, opaque)
            yield Endpoint(url, self.client_id, self.secret, token)


def install() -> str:
    """Node.js, and the peer's locked packages (``npm ci``) when they are missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise SystemExit("Node.js 20+ and npm are needed for the peer: apt-get install nodejs npm")
    if not (PEER / "node_modules" / "oidc-provider").is_dir():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=PEER,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"npm ci in {PEER} failed:\n{done.stderr[-2000:]}")
    return node


def versions(node: str) -> str:
    """Node.js and oidc-provider versions, as installed."""
    release = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    manifest = PEER / "node_modules" / "oidc-provider" / "package.json"
    return f"Node.js {release}, oidc-provider {json.loads(manifest.read_text())['version']}"
