"""A training population: persons with accounts at Redleaf and Bluefin, some consenting
to ``train_ai_system.profile_model`` at one or both platforms."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
import pytest

from consent.journal import Evidence
from consent.records import Actor
from gateway.consents.service import Consents, Terms
from gateway.db import transaction
from gateway.identity.persons import ACCOUNT, PERSON
from gateway.runtime import Runtime
from gateway.settings import Settings
from sdk import AsyncOperatorClient, OperatorToken
from tests.gateway.alliance import Alliance
from tests.gateway.views.scene import NOTICE, member

PURPOSE = "train_ai_system.profile_model"
CATEGORIES = frozenset({"user.content_quality.overall", "user.demographic.city_tier"})


@dataclass
class Crowd:
    alliance: Alliance
    runtime: Runtime
    operator_token: str
    records: dict[tuple[str, str], str] = field(default_factory=dict)  # (person, platform)

    @property
    def redleaf(self) -> str:
        return str(self.alliance.platform["id"])

    @property
    def bluefin(self) -> str:
        return str(self.alliance.keyed_platform["id"])

    def operator_client(self) -> AsyncOperatorClient:
        return AsyncOperatorClient(
            self.alliance.issuer,
            auth=OperatorToken(self.operator_token),
            transport=httpx.ASGITransport(app=self.alliance.app),
        )

    def person(self, accounts: dict[str, str], consents_at: tuple[str, ...] = ()) -> str:
        """A person with ``accounts`` (platform id -> account id) who consents to the
        training purpose at the platforms in ``consents_at``."""
        person = str(uuid.uuid4())
        with transaction(self.runtime.sessions) as session:
            session.execute(PERSON.insert().values(id=person, minor_under_14=False))
            session.execute(
                ACCOUNT.insert(),
                [
                    {"platform_id": p, "account_id": a, "person_id": person}
                    for p, a in accounts.items()
                ],
            )
            consents = Consents(session, self.runtime)
            for platform in consents_at:
                history = consents.give(
                    person,
                    member(session, platform),
                    Terms(PURPOSE, CATEGORIES, NOTICE, 1),
                    Evidence(Actor.person, "platform_ui"),
                )
                self.records[(person, platform)] = history.record.record_id
        return person

    def withdraw(self, person: str, platform: str) -> None:
        with transaction(self.runtime.sessions) as session:
            Consents(session, self.runtime).withdraw(
                self.records[(person, platform)], Evidence(Actor.person, "consent_center")
            )


@pytest.fixture
def crowd(alliance: Alliance, runtime: Runtime, settings: Settings) -> Crowd:
    return Crowd(alliance, runtime, settings.operator_token.get_secret_value())
