"""People for the views tests: accounts at two platforms, consents to brands, pushes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlmodel import Session

from consent.journal import Evidence
from consent.records import Actor, History
from gateway.consents.service import Consents, Terms
from gateway.db import transaction
from gateway.identity.persons import ACCOUNT, PERSON
from gateway.members.models import Member
from gateway.runtime import Runtime
from tests.gateway.alliance import Alliance

NOTICE = "redleaf-privacy"


def member(session: Session, member_id: str) -> Member:
    found = session.get(Member, member_id)
    assert found is not None
    return found


@dataclass
class People:
    alliance: Alliance
    runtime: Runtime
    client: TestClient

    def person(self, redleaf: str, bluefin: str | None = None) -> str:
        """A person with an account at Redleaf (and at Bluefin, linked, if given)."""
        person = str(uuid.uuid4())
        with transaction(self.runtime.sessions) as session:
            session.execute(insert(PERSON).values(id=person, minor_under_14=False))
            rows = [{"platform_id": self.alliance.platform["id"], "account_id": redleaf}]
            if bluefin is not None:
                rows.append(
                    {"platform_id": self.alliance.keyed_platform["id"], "account_id": bluefin}
                )
            session.execute(insert(ACCOUNT), [{**r, "person_id": person} for r in rows])
        return person

    def consent(
        self,
        person: str,
        brand: str,
        purpose: str,
        categories: Iterable[str],
        at: datetime | None = None,
    ) -> tuple[History, str]:
        """A consent of the person to brand "a" or "b"; with the brand's sub for them."""
        brand_id = (self.alliance.brand_a if brand == "a" else self.alliance.brand_b)["id"]
        with transaction(self.runtime.sessions) as session:
            consents = Consents(session, self.runtime)
            recipient = member(session, brand_id)
            history = consents.give(
                person,
                recipient,
                Terms(purpose, frozenset(categories), NOTICE, 1),
                Evidence(Actor.person, "consent_center"),
                at=at,
            )
            return history, consents.persons.sub_of(person, recipient)

    def subject(self, person: str, brand: str) -> str:
        """The brand's sub for the person, remembered (as issuing it in a token does)."""
        brand_id = (self.alliance.brand_a if brand == "a" else self.alliance.brand_b)["id"]
        with transaction(self.runtime.sessions) as session:
            consents = Consents(session, self.runtime)
            return consents.persons.subject(person, member(session, brand_id))

    def withdraw(self, record_id: str) -> None:
        with transaction(self.runtime.sessions) as session:
            Consents(session, self.runtime).withdraw(
                record_id, Evidence(Actor.person, "consent_center")
            )

    def push(
        self, records: list[dict[str, Any]], key: str | None = None, *, keyed: bool = False
    ) -> Any:
        """Push a batch as Redleaf (or as Bluefin's secret-less twin: see ``auth``)."""
        return self.client.post(
            "/v1/attributes",
            json={"records": records},
            headers={"Idempotency-Key": key or str(uuid.uuid4())},
            auth=self.platform_auth(keyed),
        )

    def platform_auth(self, keyed: bool = False) -> tuple[str, str]:
        assert not keyed, "the keyed platform authenticates with private_key_jwt: use the SDK"
        return (self.alliance.platform["client_id"], self.alliance.platform_secret)

    def brand_auth(self, brand: str = "a") -> tuple[str, str]:
        if brand == "a":
            return (self.alliance.brand_a["client_id"], self.alliance.brand_a_secret)
        return (self.alliance.brand_b["client_id"], self.alliance.brand_b_secret)
