"""A real gateway process, killed while a SET is undeliverable, restarted: it delivers.

The gateway (``accord serve``) and the receiver (the SDK's ASGI app under uvicorn) run
on 127.0.0.1. A consent change commits its SET while the receiver is down; the
gateway tries, fails and is killed with SIGKILL; the receiver comes up; a new gateway
process finds the SET in the outbox and delivers it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlmodel import select

from gateway import migrate
from gateway.db import transaction
from gateway.events import types
from gateway.events.config import StreamRequest
from gateway.events.models import SecurityEvent
from gateway.events.outbox import emit
from gateway.events.streams import Streams
from gateway.members.models import Member, MemberKind
from gateway.members.registration import MemberSpec
from gateway.members.registry import Registry
from gateway.runtime import Runtime
from gateway.settings import Settings
from sdk.events import SecurityEvent as ReceivedEvent
from sdk.receiver import set_receiver
from tests.gateway.members.cases import platform_spec

pytestmark = pytest.mark.slow
RECEIVER_AUTH = "Bearer restart-test-receiver-secret"
DEADLINE = 20.0  # seconds for any one wait; the whole test takes a few


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@contextmanager
def _gateway(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    accord = str(Path(sys.executable).parent / "accord")
    with log.open("ab") as out:
        process = subprocess.Popen([accord, "serve"], env=env, stdout=out, stderr=out)
    try:

        def ready() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
            except httpx.TransportError:
                return False

        _wait(ready, "the gateway")
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


@contextmanager
def _receiver(app: Any, port: int) -> Iterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait(lambda: server.started, "the receiver")
        yield
    finally:
        server.should_exit = True
        thread.join(10)


def _attempts(rt: Runtime, jti: str) -> tuple[str, int]:
    with rt.sessions() as session:
        row = session.exec(select(SecurityEvent).where(SecurityEvent.jti == jti)).one()
        return row.state, row.attempts


def test_a_set_committed_while_undeliverable_survives_a_kill_and_a_restart(
    tmp_path: Path,
) -> None:
    gateway_port, receiver_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env |= {
        "ACCORD_ENV": "development",
        "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path}/accord.db",
        "ACCORD_KEY_DIR": str(tmp_path / "keys"),
        "ACCORD_PORT": str(gateway_port),
        "ACCORD_EVENTS_INTERVAL": "0.1",
    }
    settings = Settings.model_validate(
        {
            name.removeprefix("ACCORD_").lower(): value
            for name, value in env.items()
            if name.startswith("ACCORD_")
        }
    )
    rt = Runtime.build(settings)
    migrate.upgrade(rt.engine)
    with transaction(rt.sessions) as session:
        member = Registry(session, rt.standard, rt.hasher).register(
            MemberKind.platform, MemberSpec.model_validate(platform_spec())
        )
        delivery = {
            "method": types.PUSH,
            "endpoint_url": f"http://127.0.0.1:{receiver_port}/events",
            "authorization_header": RECEIVER_AUTH,
        }
        owner = session.get(Member, member.id)
        assert owner is not None
        Streams(session, settings).create(
            owner, StreamRequest.model_validate({"delivery": delivery})
        )

    received: list[ReceivedEvent] = []
    log = tmp_path / "gateway.log"
    with _gateway(env, gateway_port, log) as first:
        with transaction(rt.sessions) as session:  # the consent change and its SET commit
            jti = emit(
                session,
                recipient_id=member.id,
                event_type=types.CONSENT_WITHDRAWN,
                subject={"format": "iss_sub", "iss": settings.issuer, "sub": "pairwise-1"},
                event={"purpose": "marketing.brand_view"},
            )
        _wait(lambda: _attempts(rt, jti)[1] >= 1, "a failed push")  # receiver is down
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert _attempts(rt, jti)[0] == "pending"

    async def jwks() -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{gateway_port}/.well-known/jwks.json")
            return dict(response.json())

    app = set_receiver(
        received.append,
        jwks_provider=jwks,
        issuer=settings.issuer,
        audience=member.client_id,
        authorization=RECEIVER_AUTH,
    )
    with _receiver(app, receiver_port), _gateway(env, gateway_port, log):
        _wait(lambda: bool(received), "the SET at the receiver")
        _wait(lambda: _attempts(rt, jti)[0] == "delivered", "the delivery to be recorded")
    assert [event.jti for event in received] == [jti]
    assert received[0].event_type == types.CONSENT_WITHDRAWN
    assert "restart-test-receiver-secret" not in log.read_text()  # never logged
    rt.close()
