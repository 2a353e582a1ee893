"""What a worker remembers: client_credentials issuance and introspection answered
without the database, and never past what the change counter allows.

The app here polls the counter only when a test says so (``ACCORD_CHANGE_POLL=0``), so
that another worker's change and the poll that reveals it happen in a known order.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, event, select

from gateway import changes
from gateway.db import transaction
from gateway.identity.persons import PERSON
from gateway.members.models import MemberKind, MemberStatus
from gateway.members.registry import Registry
from gateway.oauth.server import lifetimes
from gateway.oauth.store import GRANT, Store
from gateway.oauth.tokens import InvalidToken, Signer
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.conftest import make_settings
from tests.gateway.alliance import Alliance
from tests.gateway.oauth.flow import register_rp, signed_in
from tests.gateway.oauth.test_client_tokens import (
    basic,
    client_assertion,
    introspect,
    issue,
    platform_auth,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, change_poll=0)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL the gateway sends while the block runs (the counter's own reads aside)."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "change_stamp" not in statement:
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def other_worker(runtime: Runtime) -> Runtime:
    """A second gateway process on the same database, with a memory of its own."""
    return Runtime.build(runtime.settings, engine=runtime.engine, standard=runtime.standard)


def revoke_elsewhere(runtime: Runtime, token: str) -> None:
    claims = jwt.decode(token, options={"verify_signature": False})
    other = other_worker(runtime)
    with transaction(other.sessions) as session:
        Store(session, other.hasher).revoke_access(
            claims["jti"], datetime.fromtimestamp(claims["exp"], UTC)
        )


def remembered_token(alliance: Alliance, client: TestClient, runtime: Runtime) -> str:
    """A token the worker has introspected once, with its counter just read."""
    runtime.changes.poll(runtime.engine)
    token: str = issue(client, alliance)["access_token"]
    assert introspect(client, alliance, token)["active"] is True
    return token


def test_issuance_and_introspection_are_answered_without_the_database(
    alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    runtime.changes.poll(runtime.engine)
    token = issue(client, alliance, scope="member_api")["access_token"]
    assert introspect(client, alliance, token)["active"] is True  # remembered from here
    with statements(runtime.engine) as sent:
        for _ in range(5):
            again = issue(client, alliance, scope="member_api")["access_token"]
            assert jwt.get_unverified_header(again)["typ"] == "at+jwt"
            answer = introspect(client, alliance, token)
            assert answer["active"] is True
            assert answer["client_id"] == alliance.platform["client_id"]
    assert sent == []


def test_a_stale_counter_sends_every_request_to_the_database(
    alliance: Alliance, client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = remembered_token(alliance, client, runtime)
    monkeypatch.setattr(changes, "MAX_LAG", -1.0)  # the last read is always too old
    with statements(runtime.engine) as sent:
        assert introspect(client, alliance, token)["active"] is True
    assert any("oauth_revoked_token" in statement for statement in sent)
    revoke_elsewhere(runtime, token)  # no poll: only the database can tell
    assert introspect(client, alliance, token) == {"active": False}


def test_a_revocation_by_another_worker_is_seen_at_the_next_poll(
    alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    token = remembered_token(alliance, client, runtime)
    revoke_elsewhere(runtime, token)
    # The documented window: until this worker reads the counter, memory answers.
    assert introspect(client, alliance, token)["active"] is True
    runtime.changes.poll(runtime.engine)
    assert introspect(client, alliance, token) == {"active": False}


def test_a_revocation_here_is_seen_at_once(
    alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    token = remembered_token(alliance, client, runtime)
    revoked = client.post("/revoke", data={"token": token}, headers=platform_auth(alliance))
    assert revoked.status_code == 200
    assert introspect(client, alliance, token) == {"active": False}  # no poll needed


def test_a_disabled_member_is_refused_at_once_here_and_after_a_poll_elsewhere(
    alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    runtime.changes.poll(runtime.engine)
    issue(client, alliance)  # the platform is remembered
    client_id = alliance.platform["client_id"]
    disabled = client.post(f"/v1/admin/platforms/{client_id}/disable", headers=alliance.operator)
    assert disabled.status_code == 200
    refused = client.post(
        "/token", data={"grant_type": "client_credentials"}, headers=platform_auth(alliance)
    )
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"

    enabled = client.post(f"/v1/admin/platforms/{client_id}/enable", headers=alliance.operator)
    assert enabled.status_code == 200
    issue(client, alliance)
    other = other_worker(runtime)
    with transaction(other.sessions) as session:
        Registry(session, other.standard, other.hasher).set_status(
            MemberKind.platform, client_id, MemberStatus.disabled
        )
    runtime.changes.poll(runtime.engine)
    refused = client.post(
        "/token", data={"grant_type": "client_credentials"}, headers=platform_auth(alliance)
    )
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_a_remembered_token_is_inactive_once_its_key_is_retired(
    alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    token = remembered_token(alliance, client, runtime)
    runtime.keys.rotate(overlap=timedelta(0))  # the old key retires now
    assert introspect(client, alliance, token) == {"active": False}


def test_a_remembered_token_still_expires(
    alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    token = issue(client, alliance)["access_token"]
    signer = Signer(runtime.keys, alliance.issuer, lifetimes(runtime), runtime.remembered)
    now = datetime.now(UTC)
    assert signer.verify_access_token(token, now=now)["client_id"] == alliance.platform["client_id"]
    assert runtime.remembered.verified(token) is not None
    with pytest.raises(InvalidToken):
        signer.verify_access_token(token, now=now + timedelta(hours=1))


def test_a_replayed_client_assertion_is_refused_when_the_client_is_remembered(
    alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    runtime.changes.poll(runtime.engine)
    form = {"grant_type": "client_credentials", **client_assertion(alliance, alliance.issuer)}
    first = client.post("/token", data=form)
    assert first.status_code == 200, first.text
    replayed = client.post("/token", data=form)
    assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_client"


BAD_REQUESTS: list[tuple[str, str, bool]] = [
    # path, form body, authenticated as the platform (else with a wrong secret)
    ("/token", "grant_type=client_credentials", False),
    ("/token", "grant_type=client_credentials&scope=member_api&scope=member_api", True),
    ("/token", "grant_type=client_credentials&scope=nonsense", True),
    ("/token", "grant_type=password&username=a&password=b", True),
    ("/introspect", "token=not-a-token", True),
    ("/introspect", "token=a.b.c", True),
    ("/introspect", "", True),
]


@pytest.mark.parametrize(("path", "body", "authenticated"), BAD_REQUESTS)
def test_memory_answers_bad_requests_as_the_routes_do(
    alliance: Alliance,
    client: TestClient,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    body: str,
    authenticated: bool,
) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if authenticated:
        headers |= platform_auth(alliance)
    else:
        headers |= basic(alliance.platform["client_id"], "not-the-secret")
    issue(client, alliance)  # the platform is remembered
    runtime.changes.poll(runtime.engine)
    from_memory = client.post(path, content=body, headers=headers)
    monkeypatch.setattr(changes, "MAX_LAG", -1.0)  # now every request takes the route
    from_route = client.post(path, content=body, headers=headers)
    assert from_memory.status_code == from_route.status_code
    assert from_memory.json() == from_route.json()
    assert from_memory.headers.get("cache-control") == from_route.headers.get("cache-control")
    assert from_memory.status_code in {400, 401} or from_memory.json() == {"active": False}


def test_an_erased_persons_remembered_token_goes_inactive_at_the_next_poll(
    alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    """Deleting a person deletes their grants by ON DELETE CASCADE, with no statement on
    the grants table: the person's deletion itself must move the counter."""
    rp = register_rp(client, alliance, "Shop", "shop.example")
    runtime.changes.poll(runtime.engine)
    token = signed_in(client, alliance, rp)["access_token"]
    introspected = client.post("/introspect", data={"token": token}, headers=rp.auth)
    assert introspected.json()["active"] is True  # the grant's verdict is remembered
    grant_id = jwt.decode(token, options={"verify_signature": False})["gid"]
    other = other_worker(runtime)
    with transaction(other.sessions) as session:
        person = session.execute(
            select(GRANT.c.person_id).where(GRANT.c.id == grant_id)
        ).scalar_one()
        session.execute(delete(PERSON).where(PERSON.c.id == person))
    runtime.changes.poll(runtime.engine)
    answer = client.post("/introspect", data={"token": token}, headers=rp.auth)
    assert answer.json() == {"active": False}
