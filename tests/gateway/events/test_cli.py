"""`accord events deliver|status`: the operator's view of the outbox."""

from __future__ import annotations

import json
import socket

import pytest
from typer.testing import CliRunner

from gateway import migrate
from gateway.cli import app
from gateway.db import transaction
from gateway.events import types
from gateway.events.config import StreamRequest
from gateway.events.outbox import emit
from gateway.events.streams import Streams
from gateway.members.models import Member, MemberKind
from gateway.members.registration import MemberSpec
from gateway.members.registry import Registry
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.gateway.members.cases import platform_spec

runner = CliRunner()


def test_deliver_and_status(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "ACCORD_ENV": settings.env.value,
        "ACCORD_DATABASE_URL": settings.database_url,
        "ACCORD_KEY_DIR": str(settings.key_dir),
        "ACCORD_SECRET_KEY": settings.secret_key.get_secret_value(),
        "ACCORD_PAIRWISE_KEY": settings.pairwise_key.get_secret_value(),
        "ACCORD_HASH_KEY": settings.hash_key.get_secret_value(),
        "ACCORD_OPERATOR_TOKEN": settings.operator_token.get_secret_value(),
    }.items():
        monkeypatch.setenv(name, value)
    with socket.socket() as sock:  # a receiver that is down
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rt = Runtime.build(settings)
    migrate.upgrade(rt.engine)
    with transaction(rt.sessions) as session:
        view = Registry(session, rt.standard, rt.hasher).register(
            MemberKind.platform, MemberSpec.model_validate(platform_spec())
        )
        member = session.get(Member, view.id)
        assert member is not None
        delivery = {"method": types.PUSH, "endpoint_url": f"http://127.0.0.1:{port}/events"}
        Streams(session, settings).create(
            member, StreamRequest.model_validate({"delivery": delivery})
        )
        jti = emit(
            session,
            recipient_id=view.id,
            event_type=types.ERASURE_REQUESTED,
            subject={"format": "opaque", "id": "p-1"},
            event={},
        )
    rt.close()

    deliver = runner.invoke(app, ["events", "deliver"])
    assert deliver.exit_code == 0, deliver.output
    assert "1 SET(s) pushed or retried" in deliver.stdout

    status = runner.invoke(app, ["events", "status", view.client_id])
    assert status.exit_code == 0, status.output
    assert "pending: 1" in status.stdout
    assert f"oldest pending: {jti}" in status.stdout
    assert "last error: unreachable: ConnectError" in status.stdout

    as_json = json.loads(runner.invoke(app, ["events", "status", view.name, "--json"]).stdout)
    assert as_json["oldest_pending"]["attempts"] == 1
    missing = runner.invoke(app, ["events", "status", "nobody"])
    assert missing.exit_code == 1
