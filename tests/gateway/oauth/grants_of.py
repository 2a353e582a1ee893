"""Reaching behind the HTTP surface in tests: the person behind a ``sub``, and
withdrawing one of their consents as the consent center will."""

from __future__ import annotations

from sqlmodel import select

from consent.journal import Evidence
from consent.records import Actor
from gateway.consents.service import Consents
from gateway.db import transaction
from gateway.members.models import Member
from gateway.runtime import Runtime


def person_of(runtime: Runtime, client_id: str, sub: str) -> str:
    with transaction(runtime.sessions) as session:
        member = session.exec(select(Member).where(Member.client_id == client_id)).one()
        return Consents(session, runtime).persons.of_subject(member, sub)


def withdraw(runtime: Runtime, person_id: str, client_id: str, purpose: str) -> None:
    with transaction(runtime.sessions) as session:
        member = session.exec(select(Member).where(Member.client_id == client_id)).one()
        consents = Consents(session, runtime)
        (history,) = [
            h for h in consents.of_person(person_id, member) if h.record.purpose == purpose
        ]
        consents.withdraw(history.record.record_id, Evidence(Actor.person, "test"))
