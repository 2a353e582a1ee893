"""The alliance a brand finds when it starts: two platforms and 80 people who consented to
the brand at its consent screen, with attributes their platforms pushed.

Registration and pushes go through the HTTP API and the SDK, as members make them. The
people and their consents are written through the gateway's own services: they stand
for sign-ins and consent screens that happened before the guide begins.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import insert

from consent.journal import Evidence
from consent.records import Actor
from gateway.consents.service import Ask, Consents, Terms
from gateway.db import transaction, utcnow
from gateway.identity.persons import ACCOUNT, PERSON
from gateway.members.models import Member
from gateway.oauth.consent_step import CONSENT_SCREEN_NOTICE, ensure_notice
from sdk import AsyncPlatformClient, ClientSecretBasic, PlatformClient
from tests.docs.conftest import Gateway
from tests.e2e.demo_platform import platform_app
from tests.e2e.live import free_port, serving

PEOPLE = 80
BOTH = 40  # people 1..40 also have an account at Pulse, linked
BRAND_PURPOSES = ["identity.sso", "marketing.brand_view", "analytics.aggregate"]
BUDGET = {"epsilon": 3.0, "period": "month"}
BEAUTY = ["beauty.skincare", "beauty.lip_makeup", "beauty.fragrance", "beauty.sunscreen"]


@dataclass(frozen=True)
class Registered:
    id: str
    client_id: str
    secret: str


def register(gateway: Gateway, kind: str, spec: dict[str, Any]) -> Registered:
    response = httpx.post(f"{gateway.url}/v1/admin/{kind}", json=spec, headers=gateway.operator)
    assert response.status_code == 201, response.text
    body = response.json()
    return Registered(body["id"], body["client_id"], body["client_secret"])


def _platform(name: str, slug: str, login_url: str) -> dict[str, Any]:
    return {
        "name": name,
        "contact": {"name": f"{name} DPO", "email": f"dpo@{slug}.example"},
        "redirect_uris": [f"https://{slug}.example/cb"],
        "login_url": login_url,
        "purposes": ["identity.sso", "personalize.content"],
    }


def city_tier(i: int) -> str:
    return "tier_1" if i % 10 < 5 else "tier_2" if i % 10 < 8 else "tier_3"


def generation(i: int) -> str:
    return "gen_z" if i % 8 < 5 else "millennial"


@dataclass(frozen=True)
class BrandAlliance:
    brand: Registered
    lumen: Registered
    pulse: Registered


@contextmanager
def alliance(gateway: Gateway, site: str) -> Iterator[BrandAlliance]:
    """The alliance, with Lumen's login page (built on the SDK) served while it lasts."""
    port = free_port()
    lumen_url = f"http://127.0.0.1:{port}"
    lumen = register(
        gateway, "platforms", _platform("Lumen Social Shop", "lumen", f"{lumen_url}/login")
    )
    pulse = register(
        gateway, "platforms", _platform("Pulse Video Mall", "pulse", "https://pulse.example/login")
    )
    brand = register(
        gateway,
        "brands",
        {
            "name": "Aurora Cosmetics",
            "contact": {"name": "Chen Jing", "email": "privacy@aurora.example"},
            "redirect_uris": [f"{site}/callback"],
            "purposes": BRAND_PURPOSES,
        },
    )
    budget = httpx.put(
        f"{gateway.url}/v1/admin/brands/{brand.id}/budget", json=BUDGET, headers=gateway.operator
    )
    assert budget.status_code == 200, budget.text
    _people(gateway, lumen, pulse, brand)
    _push(gateway, lumen, pulse)
    client = AsyncPlatformClient(gateway.url, auth=ClientSecretBasic(lumen.client_id, lumen.secret))
    app, _ = platform_app("Lumen Social Shop", client)
    with serving(app, port):
        yield BrandAlliance(brand, lumen, pulse)


def _people(gateway: Gateway, lumen: Registered, pulse: Registered, brand: Registered) -> None:
    """80 people with accounts (40 at both platforms), each consenting to the brand's view
    and to its aggregates with every category the purposes declare necessary."""
    rt = gateway.runtime
    people = [str(uuid.uuid4()) for _ in range(PEOPLE)]
    accounts = [
        {"person_id": p, "platform_id": lumen.id, "account_id": f"lumen-{i}"}
        for i, p in enumerate(people, 1)
    ] + [
        {"person_id": p, "platform_id": pulse.id, "account_id": f"pulse-{i}"}
        for i, p in enumerate(people[:BOTH], 1)
    ]
    with transaction(rt.sessions) as session:
        session.execute(insert(PERSON), [{"id": p, "minor_under_14": False} for p in people])
        session.execute(insert(ACCOUNT), accounts)
    with transaction(rt.sessions) as session:
        consents = Consents(session, rt)
        version = ensure_notice(consents)
        recipient = session.get(Member, brand.id)
        assert recipient is not None
        evidence = Evidence(Actor.person, "consent_screen")
        asks = [
            Ask(
                person,
                recipient,
                Terms(
                    purpose,
                    frozenset(rt.standard.purposes[purpose].necessity),
                    CONSENT_SCREEN_NOTICE,
                    version,
                ),
                evidence,
            )
            for person in people
            for purpose in ("marketing.brand_view", "analytics.aggregate")
        ]
        outcomes = consents.give_many(asks)
        refused = [o for o in outcomes if isinstance(o, Exception)]
        assert not refused, refused[:3]


def _push(gateway: Gateway, lumen: Registered, pulse: Registered) -> None:
    earlier = utcnow() - timedelta(hours=2)
    later = utcnow() - timedelta(hours=1)
    records = [
        {
            "platform_user_id": f"lumen-{i}",
            "observed_at": earlier.isoformat(),
            "attributes": {
                "user.demographic.city_tier": city_tier(i),
                "user.demographic.generation": generation(i),
                "user.interest.beauty": BEAUTY[i % 2 :: 2],
                "user.content_quality.overall": 40 + i % 50,
            },
        }
        for i in range(1, PEOPLE + 1)
    ]
    with PlatformClient(gateway.url, auth=ClientSecretBasic(lumen.client_id, lumen.secret)) as p:
        pushed = p.push_attributes(records)
        assert pushed.rejected == 0 and pushed.values.stored == 4 * PEOPLE, pushed
    records = [
        {
            "platform_user_id": f"pulse-{i}",
            "observed_at": later.isoformat(),
            "attributes": {
                "user.interest.beauty": BEAUTY[(i + 1) % 4 : (i + 1) % 4 + 1],
                "user.content_quality.overall": 60 + i % 30,
            },
        }
        for i in range(1, BOTH + 1)
    ]
    with PlatformClient(gateway.url, auth=ClientSecretBasic(pulse.client_id, pulse.secret)) as p:
        pushed = p.push_attributes(records)
        assert pushed.rejected == 0 and pushed.values.stored == 2 * BOTH, pushed
