"""A reproducible crowd of synthetic persons for the demo: accounts on the demo
platforms, consents to the brand's aggregates and to training, their attributes; recorded
with the gateway's own services. Development only."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from consent.journal import Evidence
from consent.records import Actor
from gateway.consents.service import Ask, Consents, Terms
from gateway.db import utcnow
from gateway.demo.members import DEMO_ALLIANCE, DemoError, DemoMember
from gateway.events import types
from gateway.events.models import DeliveryState
from gateway.events.outbox import OUTBOX
from gateway.identity.persons import ACCOUNT, PERSON
from gateway.members import rules
from gateway.members.models import Member
from gateway.runtime import Runtime
from gateway.views.ingest import AttributeRules, Ingest

POPULATION = 1_500  # persons
POPULATION_SEED = 20_261_204  # the same crowd on every machine
POPULATION_NOTICE = "accord-demo-population"
POPULATION_NOTICE_TEXT = (
    "Synthetic persons of the Accord demo alliance (accord demo seed). Made-up accounts,"
    " consents and profiles for the sandbox and training demos; no real person."
)
# Platform slug -> (the prefix of its synthetic account ids, the share of persons there).
PRESENCE = {
    "social_shop": ("lumen-pop", 0.85),
    "video_mall": ("pulse-pop", 0.6),
    "notes": ("ink-pop", 0.5),
}
AGGREGATE_RATE = 0.9  # persons consenting to the brand's analytics.aggregate
TRAINING_RATE = 0.8  # accounts consenting to train_ai_system.profile_model at their platform
# What the persons consent to (within each purpose's necessity): what the brand's sandbox
# asks (its dimensions; the interaction depth reads every 30-day count) and what the
# training demo reads, rather than every category the purpose may ever use.
AGGREGATE_CATEGORIES = frozenset(
    {
        "user.demographic.age_band",
        "user.demographic.generation",
        "user.demographic.city_tier",
        "user.demographic.region",
        "user.transaction.order_value_band",
        "user.channel.primary",
        "user.interest.beauty",
        "user.content_quality.overall",
    }
)
TRAINING_CATEGORIES = frozenset(
    {
        "user.demographic.generation",
        "user.demographic.city_tier",
        "user.transaction.order_value_band",
        "user.interest.beauty",
        "user.content_quality.overall",
    }
)
AGE_BANDS = {"14-17": 3, "18-24": 22, "25-34": 33, "35-44": 22, "45-54": 12, "55-64": 6, "65+": 2}
GENERATIONS = {
    "14-17": ("gen_z",), "18-24": ("gen_z",), "25-34": ("millennial",),
    "35-44": ("millennial", "gen_x"), "45-54": ("gen_x",), "55-64": ("gen_x", "baby_boomer"),
    "65+": ("baby_boomer",),
}  # fmt: skip
CITY_TIERS = {"tier_1": 18, "new_tier_1": 24, "tier_2": 22, "tier_3": 17, "tier_4": 11, "tier_5": 8}
# The mainland's regions only: Hong Kong, Macao, Taiwan and overseas stay empty, and the
# sandbox shows them suppressed.
REGIONS = {
    "east": 30,
    "south": 20,
    "north": 15,
    "central": 12,
    "southwest": 10,
    "northeast": 7,
    "northwest": 6,
}
ORDER_BANDS = {"0-50": 15, "50-100": 25, "100-300": 32, "300-1000": 18, "1000-3000": 7, "3000+": 3}
CHANNELS = {"app": 45, "mini_program": 25, "live_stream": 18, "web": 8, "offline_store": 4}
BEAUTY = {
    "beauty.skincare": 30, "beauty.sunscreen": 14, "beauty.lip_makeup": 12,
    "beauty.base_makeup": 10, "beauty.eye_makeup": 9, "beauty.fragrance": 8,
    "beauty.hair_care": 7, "beauty.body_care": 5, "beauty.nail_art": 3, "beauty.mens_grooming": 2,
}  # fmt: skip


@dataclass
class _Person:
    id: str
    accounts: dict[str, str]  # platform slug -> account id
    profile: dict[str, Any]
    aggregate: bool  # consents to the brand's analytics.aggregate
    training: set[str] = field(default_factory=set)  # slugs where the account consents


def _pick(rng: random.Random, weights: Mapping[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def crowd(size: int = POPULATION, seed: int = POPULATION_SEED) -> list[_Person]:
    """The synthetic persons: who has an account where, who consents to what, and what
    each platform observed of them. The same for the same ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - made-up data, not a secret
    people = []
    for n in range(size):
        slugs = [s for s, (_, share) in PRESENCE.items() if rng.random() < share]
        slugs = slugs or [rng.choice(list(PRESENCE))]
        age = _pick(rng, AGE_BANDS)
        profile = {
            "user.demographic.age_band": age,
            "user.demographic.generation": rng.choice(GENERATIONS[age]),
            "user.demographic.city_tier": _pick(rng, CITY_TIERS),
            "user.demographic.region": _pick(rng, REGIONS),
            "user.transaction.order_value_band": _pick(rng, ORDER_BANDS),
            "user.channel.primary": _pick(rng, CHANNELS),
        }
        tags = sorted({_pick(rng, BEAUTY) for _ in range(rng.randint(1, 3))})
        person = _Person(
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"accord-demo-population/{seed}/{n}")),
            {slug: f"{PRESENCE[slug][0]}-{n:04d}" for slug in slugs},
            {**profile, "user.interest.beauty": tags},
            rng.random() < AGGREGATE_RATE,
        )
        person.training = {s for s in slugs if rng.random() < TRAINING_RATE}
        people.append(person)
    return people


def _observed(rng: random.Random, slug: str, person: _Person) -> dict[str, Any]:
    """What one platform observed of the person: the person's first platform knows their
    whole profile, every platform their interests and its own counts."""
    home = next(iter(person.accounts)) == slug
    keep = (
        person.profile if home else {"user.interest.beauty": person.profile["user.interest.beauty"]}
    )
    values = dict(keep)
    if slug == "social_shop":
        values["user.interaction.deep.group_buy.count_30d"] = rng.choice([0, 0, 1, 2, 4])
    elif slug == "video_mall":
        values["user.interaction.deep.live_qa.count_30d"] = rng.choice([0, 0, 0, 1, 3, 6])
    else:
        values["user.content_quality.overall"] = max(0, min(100, round(rng.gauss(64, 14))))
        values["user.interaction.deep.community_post.count_30d"] = rng.choice([0, 1, 2, 5])
    return values


def seed_population(
    session: Session, rt: Runtime, members: Sequence[DemoMember] = DEMO_ALLIANCE
) -> list[str]:
    """Record the synthetic population once (after :func:`seed`): persons and their
    accounts, their consents and the platforms' observations of them. Their SETs are
    settled unsent: some 3,700 made-up consents announced to the demo apps would bury the
    scenario's own events on their pages and hold up their queues for a minute."""
    by_slug = {
        d.slug: session.exec(select(Member).where(Member.name_key == rules.name_key(d.name))).one()
        for d in members
    }
    platforms = {s: m for s, m in by_slug.items() if s in PRESENCE}
    brand = by_slug["brand"]
    seeded = session.execute(
        sa_select(func.count()).where(
            or_(*(ACCOUNT.c.account_id.like(f"{prefix}-%") for prefix, _ in PRESENCE.values()))
        )
    ).scalar_one()
    if seeded:
        return [f"demo population already seeded ({seeded} accounts)"]
    started = time.monotonic()
    people = crowd()
    consents = Consents(session, rt)
    head = consents.notices.head(POPULATION_NOTICE)
    version = (
        head.version
        if head
        else consents.publish_notice(POPULATION_NOTICE, POPULATION_NOTICE_TEXT, "en")[0]
    )
    session.execute(insert(PERSON), [{"id": p.id, "minor_under_14": False} for p in people])
    session.execute(
        insert(ACCOUNT),
        [
            {"platform_id": platforms[slug].id, "account_id": account, "person_id": p.id}
            for p in people
            for slug, account in p.accounts.items()
        ],
    )
    before = session.execute(sa_select(func.max(OUTBOX.c.id))).scalar() or 0
    asks = _asks(rt, people, platforms, brand, version)
    refused = [r for r in consents.give_many(asks) if isinstance(r, Exception)]
    if refused:
        raise DemoError(f"the population's consents were refused: {refused[0]}")
    session.execute(
        update(OUTBOX)
        .where(
            OUTBOX.c.id > before,
            OUTBOX.c.state == DeliveryState.pending,
            OUTBOX.c.event_type == types.CONSENT_GRANTED,
            OUTBOX.c.recipient_id.in_([m.id for m in by_slug.values()]),
        )
        .values(
            state=DeliveryState.not_requested,
            last_error="demo population: not announced",
            delivered_at=utcnow(),
        )
    )
    stored = _push(session, rt, people, platforms)
    accounts = sum(len(p.accounts) for p in people)
    return [
        f"seeded {len(people)} synthetic persons with {accounts} accounts, {len(asks)} consents"
        f" and {stored} attribute values in {time.monotonic() - started:.1f} s"
    ]


def _asks(
    rt: Runtime,
    people: Sequence[_Person],
    platforms: Mapping[str, Member],
    brand: Member,
    version: int,
) -> list[Ask]:
    counts = {k for k in rt.standard.categories if k.startswith("user.interaction.")}
    categories = {
        "analytics.aggregate": frozenset(
            {*AGGREGATE_CATEGORIES, *(k for k in counts if k.endswith(".count_30d"))}
        ),
        "train_ai_system.profile_model": TRAINING_CATEGORIES,
    }
    evidence = Evidence(Actor.person, "demo_seed")
    asks = []

    def ask(person: _Person, member: Member, purpose: str) -> Ask:
        terms = Terms(purpose, categories[purpose], POPULATION_NOTICE, version)
        return Ask(person.id, member, terms, evidence)

    for person in people:
        asks += [
            ask(person, platforms[s], "train_ai_system.profile_model") for s in person.training
        ]
        if person.aggregate:
            asks.append(ask(person, brand, "analytics.aggregate"))
    return asks


def _push(
    session: Session, rt: Runtime, people: Sequence[_Person], platforms: Mapping[str, Member]
) -> int:
    """Each platform pushes its observations through the gateway's own ingest."""
    rng = random.Random(POPULATION_SEED + 1)  # noqa: S311 - made-up data
    ingest = Ingest(session, AttributeRules(rt.standard), Consents(session, rt).persons)
    stored = 0
    for slug, member in platforms.items():
        records = [
            {"platform_user_id": p.accounts[slug], "attributes": _observed(rng, slug, p)}
            for p in people
            if slug in p.accounts
        ]
        body = json.dumps({"records": records}).encode()
        answer = ingest.push(member.id, f"demo-population-{slug}", body)
        if answer.body["rejected"]:
            raise DemoError(
                f"{slug}'s population records were refused: {answer.body['errors'][:1]}"
            )
        stored += int(answer.body["values"]["stored"])
    return stored
