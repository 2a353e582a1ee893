"""The outbox contract: ``emit`` queues a row in the caller's transaction, nothing more."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from gateway.db import transaction
from gateway.events import types
from gateway.events.models import DeliveryState, SecurityEvent
from gateway.events.outbox import emit
from gateway.events.sets import claims_of
from gateway.runtime import Runtime
from tests.gateway.events.conftest import Registered


def _count(runtime: Runtime) -> int:
    with Session(runtime.engine) as session:
        return session.exec(select(func.count()).select_from(SecurityEvent)).one()


def test_emit_commits_or_rolls_back_with_the_caller(runtime: Runtime, platform: Registered) -> None:
    subject = {"format": "iss_sub", "iss": runtime.settings.issuer, "sub": "abc"}

    def failed_change() -> None:
        with transaction(runtime.sessions) as session:
            emit(
                session,
                recipient_id=platform.id,
                event_type=types.CONSENT_GRANTED,
                subject=subject,
                event={},
            )
            raise RuntimeError("the consent write failed")

    with pytest.raises(RuntimeError):
        failed_change()
    assert _count(runtime) == 0

    with transaction(runtime.sessions) as session:
        jti = emit(
            session,
            recipient_id=platform.id,
            event_type=types.CONSENT_GRANTED,
            subject=subject,
            event={"purpose": "identity.sso"},
            txn="evt-1",
        )
    with Session(runtime.engine) as session:
        row = session.exec(select(SecurityEvent)).one()
    assert row.jti == jti and row.state == DeliveryState.pending and row.attempts == 0
    claims = claims_of(row, issuer="https://accord.example", audience="plt_x")
    assert claims == {
        "iss": "https://accord.example",
        "aud": "plt_x",
        "iat": int(row.created_at.timestamp()),
        "jti": jti,
        "txn": "evt-1",
        "sub_id": subject,
        "events": {types.CONSENT_GRANTED: {"purpose": "identity.sso"}},
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"subject": {"id": "x"}}, "format", id="subject-without-format"),
        pytest.param({"event_type": "consent granted"}, "URI", id="type-not-a-uri"),
        pytest.param({"event": {"blob": "x" * 20_000}}, "16384", id="oversized"),
    ],
)
def test_emit_refuses_what_cannot_be_a_set(
    runtime: Runtime, platform: Registered, kwargs: dict[str, Any], message: str
) -> None:
    values: dict[str, Any] = {
        "recipient_id": platform.id,
        "event_type": types.CONSENT_GRANTED,
        "subject": {"format": "opaque", "id": "x"},
        "event": {},
        **kwargs,
    }
    with Session(runtime.engine) as session, pytest.raises(ValueError, match=message):
        emit(session, **values)
