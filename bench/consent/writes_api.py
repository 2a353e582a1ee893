"""Consent writes through the HTTP API on a real server.

The gateway runs as it does in production: uvicorn with SERVER_WORKERS worker processes
on 127.0.0.1, its own background sequencer every 50 ms. CLIENTS processes of THREADS
threads each, with the SDK and the platform's secret (``client_secret_basic``), send new
consents for DURATION seconds after a warm-up: one per request
(``PlatformClient.record_consent``, ``POST /v1/consents``; SINGLE_THREADS threads, to
keep requests in flight) or a batch per request (``record_consents``, ``POST
/v1/consents/batch``). Every consent in every answer must be recorded; we count
consents per second. The client processes share the machine's two cores with the
server and the database.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
import uuid
from functools import partial
from typing import Any

import httpx

from bench.local import free_port
from bench.measure import all_of, in_threads
from sdk import ClientSecretBasic, Consent, NewConsent, PlatformClient

SERVER_WORKERS = 2
CLIENTS = int(os.environ.get("ACCORD_BENCH_CLIENTS", "2"))
THREADS = int(os.environ.get("ACCORD_BENCH_CLIENT_THREADS", "2"))
SINGLE_THREADS = 8
CATEGORIES = ["user.demographic.city_tier", "user.device.type"]


class Server:
    """uvicorn serving the gateway from the environment, until closed."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "gateway.app:create_app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(SERVER_WORKERS),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        settings = {**env, "ACCORD_ISSUER": self.url, "ACCORD_LOG_INTERVAL": "0.05"}
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
        self.process = subprocess.Popen(command, env={**inherited, **settings})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("the gateway did not start")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.close()
        raise SystemExit("the gateway was not ready within 60 s")

    def close(self) -> None:
        self.process.send_signal(signal.SIGTERM)  # lifespan shutdown sequences the rest
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _send(client: PlatformClient, notice_id: str, batch: int) -> int:
    if batch == 1:
        consent = client.record_consent(
            uuid.uuid4().hex,
            "personalize.content",
            CATEGORIES,
            notice_id=notice_id,
            notice_version=1,
        )
        return 1 if consent.state == "given" else 0
    consents = [
        NewConsent(uuid.uuid4().hex, "personalize.content", CATEGORIES, notice_id, 1)
        for _ in range(batch)
    ]
    return all_of(Consent, client.record_consents(consents))


def _client(
    url: str,
    client_id: str,
    secret: str,
    notice_id: str,
    batch: int,
    seconds: float,
    threads: int,
    ready: Any,
    go: Any,
    counts: Any,
) -> None:
    clients = [
        PlatformClient(url, auth=ClientSecretBasic(client_id, secret), timeout=60)
        for _ in range(threads)
    ]
    for client in clients:  # warm: connections, imports, the server's caches
        _send(client, notice_id, batch)
    ready.release()
    go.wait()
    sent = in_threads([partial(_send, c, notice_id, batch) for c in clients], seconds)
    for client in clients:
        client.close()
    counts.put(sent)


def run(
    server: Server,
    client_id: str,
    secret: str,
    notice_id: str,
    batch: int,
    seconds: float,
    *,
    threads: int | None = None,
) -> float:
    """Consents recorded per second over the timed window, all clients sending."""
    context = multiprocessing.get_context("spawn")
    ready, go, counts = context.Semaphore(0), context.Event(), context.Queue()
    children = [
        context.Process(
            target=_client,
            args=(
                server.url,
                client_id,
                secret,
                notice_id,
                batch,
                seconds,
                threads or THREADS,
                ready,
                go,
                counts,
            ),
        )
        for _ in range(CLIENTS)
    ]
    for child in children:
        child.start()
    for _ in children:
        ready.acquire()
    go.set()
    total = sum(int(counts.get()) for _ in children)
    for child in children:
        child.join()
    return total / seconds
