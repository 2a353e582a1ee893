"""Data-subject requests in the core: the lifecycle, the deadline, the export document."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from datetime import timedelta

import pytest

from consent.errors import InvalidTransition, RecordRefused
from consent.records import EventType, History
from consent.rights import (
    DEADLINE,
    EXPORT_FORMAT,
    TRANSITIONS,
    LinkedAccount,
    Pseudonym,
    RequestKind,
    RequestState,
    RightsRequest,
    export_document,
    receipt_path,
)
from tests.consent.builders import PLATFORM, T0, event, granted, record


def received(kind: RequestKind = RequestKind.export) -> RightsRequest:
    return RightsRequest.receive("req-1", kind, T0)


def test_the_deadline_is_thirty_days_and_counts_down() -> None:
    request = received()
    assert timedelta(days=30) == DEADLINE
    assert request.due_at == T0 + timedelta(days=30) and request.state is RequestState.received
    assert request.days_left(T0) == 30
    assert request.days_left(T0 + timedelta(seconds=1)) == 30  # rounded up: a day started
    assert request.days_left(T0 + timedelta(days=29, hours=1)) == 1
    assert not request.overdue(T0 + DEADLINE)
    assert request.overdue(T0 + DEADLINE + timedelta(seconds=1))
    assert request.days_left(T0 + timedelta(days=31)) == 0


def test_an_answered_request_is_never_overdue() -> None:
    done = received().complete(T0 + timedelta(days=40))  # late, but answered
    assert done.state is RequestState.completed and done.completed_at == T0 + timedelta(days=40)
    assert not done.overdue(T0 + timedelta(days=50)) and done.days_left(T0) == 0


@pytest.mark.parametrize(
    ("start", "to", "allowed"),
    [
        pytest.param(RequestState.received, RequestState.completed, True, id="received-completed"),
        pytest.param(RequestState.received, RequestState.refused, True, id="received-refused"),
        pytest.param(RequestState.completed, RequestState.refused, False, id="completed-final"),
        pytest.param(RequestState.refused, RequestState.completed, False, id="refused-final"),
        pytest.param(RequestState.completed, RequestState.completed, False, id="no-twice"),
    ],
)
def test_the_transition_table(start: RequestState, to: RequestState, allowed: bool) -> None:
    assert (to in TRANSITIONS[start]) is allowed
    request = RightsRequest("r", RequestKind.erasure, T0, T0 + DEADLINE, state=start)

    def move() -> RightsRequest:
        return request.complete(T0) if to is RequestState.completed else request.refuse("x", T0)

    if allowed:
        assert move().state is to
    else:
        with pytest.raises(InvalidTransition):
            move()


@pytest.mark.parametrize("reason", [pytest.param("", id="empty"), pytest.param(" \n\t", id="ws")])
def test_a_refusal_needs_a_reason(reason: str) -> None:
    request = received()
    with pytest.raises(RecordRefused, match="reason"):
        request.refuse(reason, T0)
    assert request.state is RequestState.received  # unchanged: instances are values


def test_a_refusal_keeps_its_reason_and_returns_a_new_instance() -> None:
    request = received()
    refused = request.refuse("  the account could not be verified  ", T0 + timedelta(days=2))
    assert refused is not request and request.state is RequestState.received
    assert refused.state is RequestState.refused
    assert refused.reason == "the account could not be verified"
    with pytest.raises(FrozenInstanceError):
        refused.state = RequestState.received  # type: ignore[misc]
    with pytest.raises(RecordRefused):
        received().refuse("x" * 501, T0)


def test_the_export_document_has_every_section_and_no_person_id() -> None:
    rec = record(person_id="person-secret-42", recipient=PLATFORM)
    history = granted(rec)
    history = History(
        rec, (*history.events, event(rec, 1, EventType.withdrawn, T0 + timedelta(days=1)))
    )
    request = received()
    document = export_document(
        generated_at=T0 + timedelta(days=2),
        accounts=[LinkedAccount("Redleaf", "u-1", T0)],
        subjects=[Pseudonym("redleaf.example", "sub-1")],
        consents=[history],
        requests=[request],
    )
    assert document["format"] == EXPORT_FORMAT
    assert document["generated_at"] == "2026-11-03T09:00:00.000000Z"
    assert document["accounts"] == [
        {"platform": "Redleaf", "account_id": "u-1", "linked_at": "2026-11-01T09:00:00.000000Z"}
    ]
    assert document["subjects"] == [{"sector": "redleaf.example", "sub": "sub-1"}]
    [consent] = document["consents"]
    assert consent["state"] == "withdrawn" and consent["purpose"] == rec.purpose
    assert [e["type"] for e in consent["events"]] == ["given", "withdrawn"]
    assert document["receipts"] == [
        {
            "receipt_id": f"{rec.receipt_id}.{seq}",
            "record_id": rec.record_id,
            "seq": seq,
            "path": receipt_path(rec.record_id, seq),
        }
        for seq in (0, 1)
    ]
    assert receipt_path("r-1", 3) == "/v1/consents/r-1/receipts/3"
    assert document["access_log"] == [] and document["attributes"] == []
    assert [r["request_id"] for r in document["requests"]] == [request.id]
    text = json.dumps(document)  # JSON-able as it is
    assert "person-secret-42" not in text
