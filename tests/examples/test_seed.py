"""``accord demo seed``'s pieces (gateway/demo.py): the ports, the members' credentials
kept in step with the registry, and the synthetic population."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace

import pytest
from sqlalchemy import func, select, text
from sqlmodel import Session

from consent.records import ConsentState
from gateway.consents.service import Consents
from gateway.db import transaction
from gateway.demo import (
    DEMO_ALLIANCE,
    POPULATION,
    DemoError,
    alliance,
    crowd,
    demo_dir,
    seed,
    seed_population,
)
from gateway.events.models import DeliveryState
from gateway.events.outbox import OUTBOX
from gateway.members.models import Member
from gateway.runtime import Runtime


def test_demo_base_port_moves_the_whole_alliance() -> None:
    assert alliance({}) == DEMO_ALLIANCE
    moved = alliance({"DEMO_BASE_PORT": "9100"})
    assert [m.port for m in moved] == [9100, 9101, 9102, 9103]
    assert [m.slug for m in moved] == [m.slug for m in DEMO_ALLIANCE]


@pytest.mark.parametrize("raw", ["eighty", "80", "65534", "-1", "9100.5"])
def test_a_bad_demo_base_port_is_refused(raw: str) -> None:
    with pytest.raises(DemoError, match="DEMO_BASE_PORT"):
        alliance({"DEMO_BASE_PORT": raw})


def test_reseeding_follows_new_ports_and_replaces_lost_credentials(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        seed(session, runtime)
    folder = demo_dir(runtime)
    brand_before = json.loads((folder / "brand.json").read_text())
    (folder / "social_shop.json").unlink()
    moved = tuple(replace(m, port=m.port + 1000) for m in DEMO_ALLIANCE)
    with transaction(runtime.sessions) as session:
        lines = seed(session, runtime, moved)
    assert sum("moved to" in line for line in lines) == 4
    assert sum("new credentials" in line for line in lines) == 1
    shop = json.loads((folder / "social_shop.json").read_text())
    brand = json.loads((folder / "brand.json").read_text())
    assert brand["client_secret"] == brand_before["client_secret"]  # kept: its file was there
    assert brand["base_url"] == "http://127.0.0.1:9201"
    with Session(runtime.engine) as session:
        member = session.execute(
            select(Member).where(Member.client_id == shop["client_id"])
        ).scalar_one()
        assert member.login_url == "http://127.0.0.1:9101/accord/login"
        assert member.jwks is not None and member.jwks["keys"][0]["x"] == shop["private_jwk"]["x"]
    listing = json.loads((folder / "alliance.json").read_text())
    assert [m["base_url"] for m in listing["members"]] == [m.base_url for m in moved]
    assert "client_secret" not in json.dumps(listing) and "private_jwk" not in json.dumps(listing)


def test_the_crowd_is_reproducible() -> None:
    first, second = crowd(200), crowd(200)
    assert [(p.id, p.accounts, p.profile) for p in first] == [
        (p.id, p.accounts, p.profile) for p in second
    ]
    assert crowd(200, seed=1)[0].id != first[0].id
    people = crowd()  # the figures examples/README.md states
    assert sum(len(p.accounts) for p in people) == 2_976
    assert sum(len(p.training) for p in people) == 2_393
    assert sum(p.aggregate for p in people) == 1_347


def test_the_population_is_seeded_once_quickly(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        seed(session, runtime)
    started = time.monotonic()
    with transaction(runtime.sessions) as session:
        lines = seed_population(session, runtime)
    took = time.monotonic() - started
    assert any(f"seeded {POPULATION} synthetic persons" in line for line in lines), lines
    assert took < 20, took  # about 3 s on a free core; much more only on a loaded one
    with transaction(runtime.sessions) as session:
        again = seed_population(session, runtime)
    assert any("already seeded" in line for line in again)

    people = crowd()
    with Session(runtime.engine) as session:
        persons = session.execute(text("SELECT count(*) FROM person")).scalar_one()
        assert persons == POPULATION
        purposes = Counter(
            row[0] for row in session.execute(text("SELECT purpose FROM consent_record")).all()
        )
        assert purposes["analytics.aggregate"] == sum(p.aggregate for p in people)
        assert purposes["train_ai_system.profile_model"] == sum(len(p.training) for p in people)
        assert set(purposes) == {"analytics.aggregate", "train_ai_system.profile_model"}
        pending = session.execute(
            select(func.count()).where(OUTBOX.c.state == DeliveryState.pending)
        ).scalar_one()
        assert pending == 0  # the population's SETs are not announced
        kept = session.execute(text("SELECT count(*) FROM attribute")).scalar_one()
        assert kept > 5 * POPULATION
        person = people[0]
        histories = Consents(session, runtime).of_person(person.id)
        assert all(h.state_at(h.record.valid_from) is ConsentState.given for h in histories)


def test_the_sandbox_groups_clear_the_threshold() -> None:
    """Every city tier holds well over 50 consenting persons; the off-mainland regions
    hold nobody (so the chart shows suppression)."""
    people = [p for p in crowd() if p.aggregate]
    tiers = Counter(p.profile["user.demographic.city_tier"] for p in people)
    assert len(tiers) == 6 and min(tiers.values()) > 80
    regions = Counter(p.profile["user.demographic.region"] for p in people)
    assert not {"hong_kong", "macao", "taiwan", "overseas"} & set(regions)
