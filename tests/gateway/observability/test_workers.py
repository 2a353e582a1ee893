"""``accord serve --workers N``: the workers count in one directory of the run, so a
scrape adds them all up whichever worker answers it; the directory goes with the run."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.live import free_port
from tests.gateway.observability.scrape import parse, value
from tests.gateway.test_workers import SERVE, _ready, children, environment, listening, wait_until

pytestmark = pytest.mark.slow

REQUESTS = 40


def test_a_scrape_adds_up_every_worker_and_the_run_leaves_nothing(tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**environment(tmp_path), "TMPDIR": str(temporary), "ACCORD_LOG_LEVEL": "info"}
    operator = {"Authorization": f"Bearer {env['ACCORD_OPERATOR_TOKEN']}"}
    port = free_port()
    command = [*SERVE, "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: _ready(port) and len(listening(port) & children(process.pid)) == 2)
        workers = children(process.pid)
        (run,) = temporary.glob("accord-metrics-*")
        base = f"http://127.0.0.1:{port}"
        for _ in range(REQUESTS):  # a connection each: the kernel spreads them
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        counted = set()
        for _ in range(6):  # each scrape on a connection of its own, to either worker
            text = httpx.get(f"{base}/metrics", headers=operator, timeout=5).text
            samples = parse(text)
            counted.add(
                value(
                    samples,
                    "accord_http_request_duration_seconds_count",
                    method="GET",
                    route="/healthz",
                    status="200",
                )
            )
            assert ("accord_persons", ()) in samples  # the KPIs, beside them
        assert counted == {REQUESTS}
        writers = {
            int(m.group(1)) for f in run.iterdir() if (m := re.search(r"_(\d+)\.db$", f.name))
        }
        assert workers <= writers  # both workers counted into the run's directory
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=40)
    assert process.returncode == 0, stderr.decode()
    assert list(temporary.glob("accord-metrics-*")) == []
    written = [json.loads(line) for line in stderr.decode().splitlines()]  # JSON, each
    access = [r for r in written if r["logger"] == "accord.access" and r["route"] == "/healthz"]
    assert len(access) == REQUESTS
    assert any(r["logger"] == "uvicorn.error" for r in written)
