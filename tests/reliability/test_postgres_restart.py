"""PostgreSQL stopped and restarted under a running gateway: it recovers by itself.

A private cluster (tests/reliability/clusters.py, never the machine's shared server)
serves ``accord serve``. Two faults, each followed by the same checks:

1. ``pg_ctl stop -m fast``: while the database is down the gateway stays up, /readyz
   says 503 and a write is refused promptly with a 503 ``temporarily_unavailable``
   and ``Retry-After`` (never a 500: an outage is not a bug); then ``pg_ctl start``;
2. ``pg_ctl restart -m immediate``: the server dies without a checkpoint and replays
   its WAL on the way up, under the gateway's pooled connections.

After each, within RECOVERY_SECONDS and with the same gateway process: /readyz is
200, WRITES consent writes all succeed, and the background log sequencer has
sequenced every one of them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from sdk.consents import NewConsent
from tests.e2e.live import free_port
from tests.reliability.alliance import (
    CATEGORIES,
    NOTICE_ID,
    PURPOSE,
    Platform,
    publish_notice,
    register_platform,
)
from tests.reliability.clusters import private_cluster
from tests.reliability.databases import create_database
from tests.reliability.figures import Figures
from tests.reliability.served import Gateway, gateway_env, migrated, running

pytestmark = pytest.mark.slow

WRITES = 20
RECOVERY_SECONDS = 30.0
OUTAGE_ANSWER_SECONDS = 10.0  # a request while the database is down is answered by then


class Writer:
    def __init__(self, gateway: Gateway, platform: Platform, version: int) -> None:
        self.gateway, self.platform, self.version = gateway, platform, version
        self.acknowledged = 0
        self.sent = 0

    def write(self) -> httpx.Response:
        body = NewConsent(uuid.uuid4().hex, PURPOSE, CATEGORIES, NOTICE_ID, self.version).body()
        answer = httpx.post(
            f"{self.gateway.url}/v1/consents",
            json=body,
            auth=self.platform.auth,
            timeout=OUTAGE_ANSWER_SECONDS,
        )
        self.sent += 1
        if answer.status_code == 201:
            self.acknowledged += 1
        return answer


def _wait(condition: Callable[[], bool], what: str) -> float:
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < RECOVERY_SECONDS, f"no recovery: {what}"
        time.sleep(0.1)
    return time.monotonic() - began


def _readyz(gateway: Gateway) -> int:
    try:
        return httpx.get(f"{gateway.url}/readyz", timeout=OUTAGE_ANSWER_SECONDS).status_code
    except httpx.TransportError:
        return 0


def _logged(gateway: Gateway) -> int:
    return int(httpx.get(f"{gateway.url}/.well-known/consent-log", timeout=10).json()["size"])


def _recovered(gateway: Gateway, writer: Writer, figures: Figures, fault: str) -> None:
    """Ready again, writes succeed, the sequencer caught up; all without a restart."""
    figures.note(
        f"{fault}_ready_seconds", round(_wait(lambda: _readyz(gateway) == 200, "ready"), 1)
    )
    for _ in range(WRITES):
        answer = writer.write()
        assert answer.status_code == 201, answer.text
    figures.note(
        f"{fault}_log_seconds",
        round(_wait(lambda: _logged(gateway) == writer.acknowledged, "log sequenced"), 1),
    )
    assert gateway.process is not None and gateway.process.poll() is None
    assert gateway.starts == 1  # the same process throughout


def _outage(gateway: Gateway, writer: Writer, figures: Figures) -> None:
    """While the database is down: refusals, promptly, and the process stays up."""
    began = time.monotonic()
    assert _readyz(gateway) == 503
    refused = writer.write()
    figures.note("write_while_down_status", refused.status_code)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"] == "temporarily_unavailable"
    assert int(refused.headers["retry-after"]) >= 1
    assert time.monotonic() - began < 2 * OUTAGE_ANSWER_SECONDS
    assert gateway.process is not None and gateway.process.poll() is None, gateway.tail()


def test_the_gateway_recovers_from_postgresql_restarts_by_itself(
    tmp_path: Path, figures: Figures
) -> None:
    with private_cluster(free_port()) as cluster:  # deleted afterwards, databases and all
        url = create_database(cluster.url, "accord")
        migrated(url)
        gateway = Gateway(gateway_env(tmp_path, url, free_port()), tmp_path / "gateway.log")
        with running(gateway):
            platform = register_platform(gateway.url, gateway.operator, "pgr")
            writer = Writer(gateway, platform, publish_notice(gateway.url, gateway.operator))
            _recovered(gateway, writer, figures, "baseline")

            cluster.stop("fast")
            figures.add("faults_injected")
            _outage(gateway, writer, figures)
            cluster.start()
            _recovered(gateway, writer, figures, "stop_start")

            cluster.restart("immediate")
            figures.add("faults_injected")
            _recovered(gateway, writer, figures, "crash_restart")

    figures.add("requests_sent", writer.sent)
    figures.add("acknowledged", writer.acknowledged)
    figures.add("lost", 0)
