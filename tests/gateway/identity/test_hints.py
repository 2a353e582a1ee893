"""Link hints: the alliance salt through the SDK, its rotation and grace period, and
suggestions from equal hashes, which never link anything by themselves."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from gateway.db import transaction, utcnow
from gateway.identity.hints import SALT, hints_of
from gateway.identity.persons import Persons
from gateway.runtime import Runtime
from gateway.views.access_log import AccessLog, What
from sdk import AsyncPlatformClient, SaltVersion, hash_identifier
from tests.gateway.alliance import Alliance
from tests.gateway.identity.test_links import (
    center_sign_in,
    confirm,
    linked,
    platforms,
    through,
)
from tests.gateway.oauth.flow import Attempt, RelyingParty, hidden, query, register_rp
from tests.gateway.oauth.test_client_tokens import basic

PHONE = "+86 138-0013-8000"


def rotate(runtime: Runtime) -> SaltVersion:
    with transaction(runtime.sessions) as session:
        version = hints_of(session, runtime).rotate()
    return SaltVersion(version=version.version, salt=version.salt)


def sign_in_with(
    client: TestClient,
    alliance: Alliance,
    rp: RelyingParty,
    which: str,
    account: str,
    identifiers: list[dict[str, Any]],
) -> Any:
    """Start a sign-in to ``rp`` and have the platform answer with ``identifiers``;
    the answer to the accept call, and the page the browser comes back to."""
    client.cookies.clear()
    attempt = Attempt(rp)
    chooser = client.get("/authorize", params=attempt.params())
    platform, auth = platforms(alliance)[which]
    chose = client.post(
        "/signin/choose",
        data={**hidden(chooser.text), "platform": platform["id"]},
        follow_redirects=False,
    )
    challenge = query(chose.headers["location"])["login_challenge"]
    answer = client.post(
        "/v1/challenges/login/accept",
        json={"challenge": challenge, "account_id": account, "verified_identifiers": identifiers},
        headers=auth(),
    )
    if answer.status_code != 200:
        return answer, None
    back = answer.json()["redirect_to"].removeprefix(alliance.issuer)
    return answer, client.get(back, follow_redirects=False)


def as_json(salt: SaltVersion, kind: str = "phone", value: str = PHONE) -> dict[str, Any]:
    identifier = hash_identifier(salt, kind, value)  # type: ignore[arg-type]
    return {
        "type": identifier.type,
        "hash": identifier.hash,
        "salt_version": identifier.salt_version,
    }


@pytest.fixture
def rp(client: TestClient, alliance: Alliance) -> RelyingParty:
    return register_rp(client, alliance, "Nimbus Tea", "nimbus.example")


@pytest.mark.anyio
async def test_platforms_get_the_salt_and_its_predecessor_through_the_sdk(
    alliance: Alliance, runtime: Runtime, redleaf: AsyncPlatformClient
) -> None:
    first = rotate(runtime)
    salt = await redleaf.alliance_salt()
    assert [v.version for v in salt.versions] == [first.version]
    assert salt.current.salt == first.salt and salt.current.honoured_until is None
    second = rotate(runtime)
    salt = await redleaf.alliance_salt()
    assert [v.version for v in salt.versions] == [second.version, first.version]
    until = salt.versions[1].honoured_until
    assert until is not None and until > utcnow() + timedelta(days=29)


def test_a_brand_gets_no_salt(client: TestClient, alliance: Alliance, runtime: Runtime) -> None:
    rotate(runtime)
    response = client.get(
        "/v1/challenges/salt", headers=basic(alliance.brand_a["client_id"], alliance.brand_a_secret)
    )
    assert response.status_code == 403 and response.json()["error"]


def test_equal_hashes_suggest_and_never_link(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    salt = rotate(runtime)
    # The same phone, verified by two platforms for what are, so far, two people.
    answer, page = sign_in_with(client, alliance, rp, "redleaf", "r-1", [as_json(salt)])
    assert answer.status_code == 200 and page.status_code == 200  # the consent screen
    _, other = sign_in_with(
        client, alliance, rp, "bluefin", "b-1", [as_json(salt, value="+8613800138000")]
    )
    assert other.status_code == 200
    with transaction(runtime.sessions) as session:
        persons = Persons(session, runtime.settings.pairwise_key.get_secret_value().encode())
        first = persons.of_account(alliance.platform["id"], "r-1")
        second = persons.of_account(alliance.keyed_platform["id"], "b-1")
        hints = hints_of(session, runtime)
        suggested = hints.suggestions(first)
        assert [(s.platform.id, s.type) for s in suggested] == [
            (alliance.keyed_platform["id"], "phone")
        ]
        assert [s.platform.id for s in hints.suggestions(second)] == [alliance.platform["id"]]
        assert first != second  # a suggestion, not a link
        assert persons.accounts(first) == [(alliance.platform["id"], "r-1")]


def test_no_suggestion_across_types_values_or_salt_versions(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    old = rotate(runtime)
    sign_in_with(client, alliance, rp, "redleaf", "r-2", [as_json(old)])
    new = rotate(runtime)
    sign_in_with(client, alliance, rp, "bluefin", "b-2", [as_json(new)])  # same phone, new salt
    sign_in_with(client, alliance, rp, "bluefin", "b-3", [as_json(new, "email", "a@b.example")])
    with transaction(runtime.sessions) as session:
        persons = Persons(session, runtime.settings.pairwise_key.get_secret_value().encode())
        person = persons.of_account(alliance.platform["id"], "r-2")
        assert hints_of(session, runtime).suggestions(person) == []


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("unknown-version", id="salt-version-unknown"),
        pytest.param("past-grace", id="salt-version-past-its-grace"),
    ],
)
def test_hashes_under_a_salt_not_honoured_are_refused(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty, how: str
) -> None:
    salt = rotate(runtime)
    if how == "unknown-version":
        salt = SaltVersion(version=salt.version + 5, salt=salt.salt)
    else:
        rotate(runtime)
        with transaction(runtime.sessions) as session:
            past = utcnow() - timedelta(days=runtime.settings.salt_grace_days + 1)
            session.execute(
                update(SALT).where(SALT.c.version == salt.version).values(superseded_at=past)
            )
    answer, _ = sign_in_with(client, alliance, rp, "redleaf", "r-9", [as_json(salt)])
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]


def test_identifiers_are_normalised_before_hashing() -> None:
    salt = SaltVersion(version=3, salt="c2FsdHNhbHRzYWx0c2FsdHNhbHRzYWx0c2FsdHNhbHQ")
    assert hash_identifier(salt, "phone", "+86 (138) 0013-8000") == hash_identifier(
        salt, "phone", "+8613800138000"
    )
    assert hash_identifier(salt, "email", " Li.Wei@Example.COM ") == hash_identifier(
        salt, "email", "li.wei@example.com"
    )
    assert (
        hash_identifier(salt, "email", "a@b.example").hash
        != hash_identifier(
            SaltVersion(version=4, salt="b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcm90aGVyb3Q"),
            "email",
            "a@b.example",
        ).hash
    )
    for kind, bad in (("phone", "13800138000"), ("phone", "+0123"), ("email", "nobody")):
        with pytest.raises(ValueError, match=r"phone|email"):
            hash_identifier(salt, kind, bad)  # type: ignore[arg-type]


def test_the_center_shows_a_suggestion_and_links_only_when_asked(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    salt = rotate(runtime)
    sign_in_with(client, alliance, rp, "redleaf", "r-5", [as_json(salt)])
    sign_in_with(client, alliance, rp, "bluefin", "b-5", [as_json(salt)])
    client.cookies.clear()
    center_sign_in(client, alliance, "redleaf", "r-5")
    page = client.get("/center").text
    section = page.split('id="suggestions"')[1].split("</section>")[0]
    assert "Bluefin Live" in section and "same verified phone number" in section
    assert "b-5" not in page  # the other account is never named
    assert linked(client) == ["Redleaf Social Shop"]  # a suggestion links nothing
    # Following it is the ordinary link round trip: b-5 is someone else, so a merge.
    proposal = through(client, alliance, "link", "bluefin", "b-5")
    assert 'value="merge"' in proposal.text
    assert confirm(client, proposal, "merge").status_code == 303
    assert linked(client) == ["Redleaf Social Shop", "Bluefin Live"]
    assert 'id="suggestions"' not in client.get("/center").text


def test_a_merge_keeps_the_absorbed_identitys_access_log(
    client: TestClient, alliance: Alliance, runtime: Runtime
) -> None:
    center_sign_in(client, alliance, "redleaf", "r-6")
    with transaction(runtime.sessions) as session:
        persons = Persons(session, runtime.settings.pairwise_key.get_secret_value().encode())
        other = persons.of_account(alliance.keyed_platform["id"], "b-6", create=True)
        AccessLog(session).record(
            other,
            alliance.brand_a["id"],
            purpose="identity.sso",
            categories=["user.account.pseudonymous_id"],
            what=What.userinfo,
            at=utcnow(),
        )
    merging = through(client, alliance, "link", "bluefin", "b-6")
    assert confirm(client, merging, "merge").status_code == 303
    with transaction(runtime.sessions) as session:
        persons = Persons(session, runtime.settings.pairwise_key.get_secret_value().encode())
        survivor = persons.of_account(alliance.platform["id"], "r-6")
        assert [a.reader for a in AccessLog(session).of_person(survivor)] == [
            alliance.brand_a["name"]
        ]
