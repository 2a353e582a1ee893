"""Member credentials at the member APIs: what passes, and every way to fail (401)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm
from sqlalchemy import Engine, event

from gateway import changes
from gateway.db import transaction, utcnow
from gateway.members.auth import prune_jtis
from gateway.members.models import MemberKind, MemberStatus
from gateway.members.registry import Registry
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.conftest import make_settings
from tests.gateway.alliance import Alliance
from tests.gateway.members.cases import ec_jwk

PATH = "/v1/consents?account_id=nobody"  # authenticated: 404; not: 401


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def assertion(alliance: Alliance, **changes: Any) -> str:
    key = changes.pop("key", alliance.keyed_platform_key)
    alg = changes.pop("alg", "ES256")
    now = int(time.time())
    client_id = alliance.keyed_platform["client_id"]
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": alliance.issuer,
        "jti": f"jti-{time.monotonic_ns()}",
        "iat": now,
        "exp": now + 60,
    }
    claims.update(changes)
    signer: Any = ECAlgorithm.from_jwk(key) if isinstance(key, dict) else key
    return "Bearer " + jwt.encode(claims, signer, algorithm=alg, headers={"kid": "pk1"})


def test_both_registered_methods_authenticate(alliance: Alliance, client: TestClient) -> None:
    secret = basic(alliance.platform["client_id"], alliance.platform_secret)
    assert client.get(PATH, headers={"Authorization": secret}).status_code == 404
    bearer = assertion(alliance)
    assert client.get(PATH, headers={"Authorization": bearer}).status_code == 404


def test_a_replayed_assertion_is_refused(alliance: Alliance, client: TestClient) -> None:
    bearer = assertion(alliance)
    assert client.get(PATH, headers={"Authorization": bearer}).status_code == 404
    again = client.get(PATH, headers={"Authorization": bearer})
    assert again.status_code == 401 and again.json()["error"] == "invalid_token"


CASES: list[Any] = [
    pytest.param(lambda a: None, id="no-credential"),
    pytest.param(lambda a: "Digest abc", id="unknown-scheme"),
    pytest.param(lambda a: "Basic !!!notbase64", id="basic-malformed"),
    pytest.param(lambda a: basic(a.platform["client_id"], "wrong"), id="basic-wrong-secret"),
    pytest.param(lambda a: basic("plt_unknown", a.platform_secret), id="basic-unknown-client"),
    pytest.param(lambda a: basic(a.keyed_platform["client_id"], "x"), id="basic-for-a-key-member"),
    pytest.param(lambda a: "Bearer not-a-jwt", id="bearer-garbage"),
    pytest.param(lambda a: assertion(a, exp=int(time.time()) - 120), id="expired"),
    pytest.param(lambda a: assertion(a, aud="https://elsewhere.example"), id="wrong-audience"),
    pytest.param(lambda a: assertion(a, sub="someone-else"), id="sub-not-client"),
    pytest.param(
        lambda a: assertion(a, exp=int(time.time()) + 3600), id="lifetime-over-five-minutes"
    ),
    pytest.param(lambda a: assertion(a, key=ec_jwk("pk1", private=True)), id="another-key"),
    pytest.param(lambda a: assertion(a, jti=None), id="no-jti"),
    pytest.param(
        lambda a: assertion(a, key="a-shared-secret-0123456789abcdef", alg="HS256"), id="hs256"
    ),
    pytest.param(
        lambda a: (
            "Bearer "
            + jwt.encode(
                {"iss": a.keyed_platform["client_id"], "sub": a.keyed_platform["client_id"]},
                "",
                algorithm="none",
            )
        ),
        id="alg-none",
    ),
]


@pytest.mark.parametrize("credential", CASES)
def test_bad_credentials_are_401_in_the_standard_format(
    alliance: Alliance, client: TestClient, credential: Callable[[Alliance], str | None]
) -> None:
    value = credential(alliance)
    headers = {"Authorization": value} if value is not None else {}
    response = client.get(PATH, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["error"] == "invalid_token"
    assert "WWW-Authenticate" in response.headers


def test_a_disabled_member_is_refused(alliance: Alliance, client: TestClient) -> None:
    secret = basic(alliance.platform["client_id"], alliance.platform_secret)
    disabled = client.post(
        f"/v1/admin/platforms/{alliance.platform['id']}/disable", headers=alliance.operator
    )
    assert disabled.status_code == 200
    assert client.get(PATH, headers={"Authorization": secret}).status_code == 401


def test_credentials_are_checked_before_the_body(alliance: Alliance, client: TestClient) -> None:
    response = client.post(
        "/v1/consents", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401  # nothing about the body leaks to a stranger


def test_used_jtis_are_forgotten_once_expired(
    alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    rt = runtime
    assert client.get(PATH, headers={"Authorization": assertion(alliance)}).status_code == 404
    with transaction(rt.sessions) as session:
        assert prune_jtis(session, utcnow()) == 0  # still within its lifetime: kept
    with transaction(rt.sessions) as session:
        assert prune_jtis(session, utcnow() + timedelta(minutes=10)) == 1


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, change_poll=0)  # the tests read the counter themselves


def member_reads(engine: Engine) -> Callable[[], int]:
    """How many reads of the member table the gateway has sent since this call."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM member" in statement:
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return lambda: len(sent)


def test_a_remembered_member_is_authenticated_from_memory_and_refused_once_changed(
    alliance: Alliance, client: TestClient, runtime: Runtime
) -> None:
    secret = basic(alliance.platform["client_id"], alliance.platform_secret)
    runtime.changes.poll(runtime.engine)
    assert client.get(PATH, headers={"Authorization": secret}).status_code == 404  # read once
    reads = member_reads(runtime.engine)
    for _ in range(3):
        assert client.get(PATH, headers={"Authorization": secret}).status_code == 404
    wrong = basic(alliance.platform["client_id"], "not-the-secret")
    assert client.get(PATH, headers={"Authorization": wrong}).status_code == 401
    assert reads() == 0  # the member came from memory, a wrong secret too

    other = Runtime.build(runtime.settings, engine=runtime.engine, standard=runtime.standard)
    with transaction(other.sessions) as session:  # another worker disables it
        Registry(session, other.standard, other.hasher).set_status(
            MemberKind.platform, alliance.platform["id"], MemberStatus.disabled
        )
    runtime.changes.poll(runtime.engine)  # this worker's next read of the counter
    reads = member_reads(runtime.engine)
    assert client.get(PATH, headers={"Authorization": secret}).status_code == 401
    assert reads() == 1  # memory no longer trusted: read again, and refused


def test_with_the_counter_not_read_lately_members_are_read_every_time(
    alliance: Alliance, client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = basic(alliance.platform["client_id"], alliance.platform_secret)
    runtime.changes.poll(runtime.engine)
    assert client.get(PATH, headers={"Authorization": secret}).status_code == 404
    monkeypatch.setattr(changes, "MAX_LAG", -1.0)  # the last read is always too old
    reads = member_reads(runtime.engine)
    assert client.get(PATH, headers={"Authorization": secret}).status_code == 404
    assert reads() == 1
