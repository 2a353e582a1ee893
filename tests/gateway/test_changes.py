"""The change counter: which writes count, when a tag is current, and when memory is
not to be trusted at all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update

from gateway.changes import MAX_LAG, Changes, read_generation
from gateway.db import core, transaction, utcnow
from gateway.identity.models import Person
from gateway.identity.persons import Persons
from gateway.members.models import Member
from gateway.oauth import store
from gateway.oauth.remembered import Bounded
from gateway.runtime import Runtime
from tests.gateway.alliance import Alliance
from tests.gateway.oauth.test_client_tokens import issue, platform_auth

PERSON = core(Person)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_tag_before_the_counter_is_read_nor_once_the_read_is_too_old() -> None:
    clock = Clock()
    seen = Changes(clock=clock)
    assert seen.tag() is None
    seen.observe(7, clock.now)
    tag = seen.tag()
    assert tag == (7, 0) and seen.current(tag)
    clock.now += MAX_LAG + 0.01
    assert seen.tag() is None and not seen.current(tag)
    seen.observe(7, clock.now)  # read again: the same tag is current again
    assert seen.current(tag)


def test_a_change_here_or_elsewhere_retires_every_tag() -> None:
    clock = Clock()
    seen = Changes(clock=clock)
    seen.observe(1, clock.now)
    first = seen.tag()
    seen.changed_here()
    assert not seen.current(first)
    second = seen.tag()
    seen.observe(2, clock.now)  # another process changed something
    assert not seen.current(second) and seen.current(seen.tag())


def test_an_older_read_does_not_make_memory_look_fresher() -> None:
    clock = Clock()
    seen = Changes(clock=clock)
    seen.observe(1, clock.now)
    seen.observe(1, clock.now - 50)  # a slow read that started long ago
    clock.now += MAX_LAG * 0.9
    assert seen.tag() is not None


def test_revoking_and_updating_members_count_and_nothing_else_does(
    alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    engine = runtime.engine
    start = read_generation(engine)
    token = issue(client, alliance)["access_token"]  # a read: not counted
    assert read_generation(engine) == start
    unknown = client.post("/revoke", data={"token": "nope"}, headers=platform_auth(alliance))
    assert unknown.status_code == 200 and read_generation(engine) == start
    with transaction(runtime.sessions) as session:  # nothing expired: nothing pruned
        store.prune(session, utcnow() - timedelta(days=365))
    assert read_generation(engine) == start

    epoch = runtime.changes.tag()
    revoked = client.post("/revoke", data={"token": token}, headers=platform_auth(alliance))
    assert revoked.status_code == 200
    assert read_generation(engine) == start + 1
    runtime.changes.poll(engine)
    assert runtime.changes.tag() != epoch

    client_id = alliance.platform["client_id"]
    disabled = client.post(f"/v1/admin/platforms/{client_id}/disable", headers=alliance.operator)
    assert disabled.status_code == 200  # an ORM update of the member
    assert read_generation(engine) == start + 2


def test_a_rolled_back_change_does_not_count(runtime: Runtime) -> None:
    runtime.changes.poll(runtime.engine)
    before, tag = read_generation(runtime.engine), runtime.changes.tag()
    assert tag is not None

    def abandon() -> None:
        with transaction(runtime.sessions) as session:
            session.execute(update(Member).values(name="Renamed"))
            raise RuntimeError("abandoned")

    with pytest.raises(RuntimeError):
        abandon()
    assert read_generation(runtime.engine) == before
    assert runtime.changes.tag() == tag


def test_bounded_memory_drops_the_oldest_first() -> None:
    memory: Bounded[int] = Bounded(3)
    for n in range(5):
        memory.put(f"k{n}", n)
    assert len(memory) == 3
    assert memory.get("k0") is None and memory.get("k1") is None
    assert [memory.get(f"k{n}") for n in (2, 3, 4)] == [2, 3, 4]
    memory.put("k2", 20)  # put again: now the newest
    memory.put("k5", 5)
    assert memory.get("k3") is None and memory.get("k2") == 20


def test_deleting_a_person_counts_since_their_grants_go_with_them(
    alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    key = runtime.settings.pairwise_key.get_secret_value().encode()
    with transaction(runtime.sessions) as session:
        person = Persons(session, key).of_account(alliance.platform["id"], "acct-1", create=True)
    before = read_generation(runtime.engine)
    with transaction(runtime.sessions) as session:  # a person who is not there: no change
        session.execute(delete(PERSON).where(PERSON.c.id == "nobody"))
    assert read_generation(runtime.engine) == before
    with transaction(runtime.sessions) as session:
        session.execute(delete(PERSON).where(PERSON.c.id == person))
    assert read_generation(runtime.engine) == before + 1
