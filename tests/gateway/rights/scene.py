"""A person known across the alliance: an account at each platform, consents to the
first platform (one withdrawn) and to brand A, a pairwise subject issued for brand B, and
brand A's read of the person in the access log, and an attribute pushed for brand A."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import insert
from sqlmodel import Session

from consent.journal import Evidence
from consent.records import Actor
from gateway.consents.service import Consents, Terms
from gateway.consents.upkeep import sequence_log
from gateway.db import core, transaction, utcnow
from gateway.identity.models import PendingLink
from gateway.identity.pairwise import pairwise_sub
from gateway.identity.persons import ACCOUNT
from gateway.members.models import Member
from gateway.oauth.store import SESSION, Store
from gateway.runtime import Runtime
from gateway.views.access_log import AccessLog, What
from sdk import AsyncPlatformClient
from tests.gateway.alliance import Alliance

NOTICE = "redleaf-privacy"
CONTENT = ["user.demographic.city_tier", "user.device.type"]
TRAINING = ["user.content_quality.overall"]
ACCOUNT_A, ACCOUNT_B = "u-1001", "bf-77"
INTERESTS = ["beauty.skincare", "beauty.fragrance"]


@dataclass(frozen=True)
class Scene:
    person: str
    records: frozenset[str]
    withdrawn: str
    subjects: dict[str, str]  # member id -> the member's pairwise sub for the person


def member(session: Session, member_id: str) -> Member:
    found = session.get(Member, member_id)
    assert found is not None
    return found


async def known_person(alliance: Alliance, runtime: Runtime, redleaf: AsyncPlatformClient) -> Scene:
    content = await redleaf.record_consent(
        ACCOUNT_A, "personalize.content", CONTENT, notice_id=NOTICE, notice_version=1
    )
    training = await redleaf.record_consent(
        ACCOUNT_A, "train_ai_system.profile_model", TRAINING, notice_id=NOTICE, notice_version=1
    )
    await redleaf.withdraw_consent(training.record_id)
    with transaction(runtime.sessions) as session:
        consents = Consents(session, runtime)
        person = consents.persons.of_account(alliance.platform["id"], ACCOUNT_A)
        session.execute(  # the same person's account at the second platform, linked
            insert(ACCOUNT).values(
                platform_id=alliance.keyed_platform["id"], account_id=ACCOUNT_B, person_id=person
            )
        )
        brand_a = member(session, alliance.brand_a["id"])
        view = consents.give(
            person,
            brand_a,
            Terms("marketing.brand_view", frozenset({"user.interest.beauty"}), NOTICE, 1),
            Evidence(Actor.person, "consent_center"),
        )
        consents.persons.subject(person, member(session, alliance.brand_b["id"]))  # issued
        # The person signed in through the platform and authorised brand A.
        now = utcnow()
        session.execute(
            insert(SESSION).values(
                id="session-hash",
                person_id=person,
                platform_id=alliance.platform["id"],
                acr=None,
                amr=["pwd"],
                auth_time=now,
                expires_at=now + timedelta(hours=1),
            )
        )
        # ...and proved an account at the second platform for a link not yet confirmed.
        session.execute(
            insert(core(PendingLink)).values(
                id="pending-hash",
                person_id=person,
                session_id="session-hash",
                browser_hash="browser-hash",
                platform_id=alliance.keyed_platform["id"],
                account_id="bluefin-9",
                expires_at=now + timedelta(minutes=5),
            )
        )
        Store(session, runtime.hasher).open_grant(
            brand_a,
            person,
            "openid",
            auth_time=now,
            acr=None,
            amr=["pwd"],
            session_id="session-hash",
            now=now,
        )
        # Brand A read the person's pseudonym at /userinfo: one entry of the access log.
        AccessLog(session).record(
            person,
            brand_a.id,
            purpose="identity.sso",
            categories=["user.account.pseudonymous_id"],
            what=What.userinfo,
            at=now,
        )
        # What each member knows the person by; computed, so no other subject is issued:
        # the second platform is found through its account alone.
        key = runtime.settings.pairwise_key.get_secret_value().encode()
        subjects = {
            m["id"]: pairwise_sub(key, member(session, m["id"]).sector, person)
            for m in (
                alliance.platform,
                alliance.keyed_platform,
                alliance.brand_a,
                alliance.brand_b,
            )
        }
    sequence_log(runtime)  # the brand consent's leaf gets its index, like the others
    # Redleaf pushed the person's beauty interests, kept for brand A's view.
    pushed = await redleaf.push_attributes(
        [{"platform_user_id": ACCOUNT_A, "attributes": {"user.interest.beauty": INTERESTS}}]
    )
    assert pushed.values.stored == 1, pushed
    return Scene(
        person=person,
        records=frozenset({content.record_id, training.record_id, view.record.record_id}),
        withdrawn=training.record_id,
        subjects=subjects,
    )
