"""Account links through the consent center: link, refusal on conflict, merge with both
proofs, unlink, relink, and erasure on the last unlink."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.events import types
from gateway.events.models import SecurityEvent
from gateway.runtime import Runtime
from sdk import PrivateKeyJWT
from tests.gateway.alliance import Alliance
from tests.gateway.oauth.flow import (
    Attempt,
    RelyingParty,
    approve,
    exchange,
    hidden,
    query,
    register_rp,
)
from tests.gateway.oauth.test_client_tokens import platform_auth
from tests.gateway.oauth.test_code_flow import id_claims


def keyed_auth(alliance: Alliance) -> dict[str, str]:
    signer = PrivateKeyJWT(alliance.keyed_platform["client_id"], alliance.keyed_platform_key)
    return {"Authorization": "Bearer " + signer.assertion(alliance.issuer)}


def platforms(alliance: Alliance) -> dict[str, tuple[dict[str, Any], Any]]:
    return {
        "redleaf": (alliance.platform, lambda: platform_auth(alliance)),
        "bluefin": (alliance.keyed_platform, lambda: keyed_auth(alliance)),
    }


def through(client: TestClient, alliance: Alliance, action: str, which: str, account: str) -> Any:
    """POST a center form naming a platform, sign in there, and come back."""
    center = client.get("/center")
    platform, auth = platforms(alliance)[which]
    went = client.post(
        f"/center/{action}",
        data={"csrf": hidden(center.text)["csrf"], "platform": platform["id"]},
        follow_redirects=False,
    )
    assert went.status_code == 303, went.text
    params = query(went.headers["location"])
    kind = "link" if action == "link" else "login"
    answered = client.post(
        f"/v1/challenges/{kind}/accept",
        json={"challenge": params[f"{kind}_challenge"], "account_id": account},
        headers=auth(),
    )
    assert answered.status_code == 200, answered.text
    back = answered.json()["redirect_to"].removeprefix(alliance.issuer)
    return client.get(back, follow_redirects=False)


def center_sign_in(client: TestClient, alliance: Alliance, which: str, account: str) -> None:
    back = through(client, alliance, "signin", which, account)
    assert back.status_code == 303 and back.headers["location"].endswith("/center")


def confirm(client: TestClient, page: Any, decision: str) -> Any:
    assert page.status_code == 200, page.text
    form = {**hidden(page.text), "decision": decision}
    return client.post("/center/link/confirm", data=form, follow_redirects=False)


def linked(client: TestClient) -> list[str]:
    page = client.get("/center").text
    section = page.split('id="accounts"')[1].split("</ul>")[0]
    return [name for name in ("Redleaf Social Shop", "Bluefin Live") if name in section]


def sets(runtime: Runtime, event_type: str) -> list[SecurityEvent]:
    with Session(runtime.engine) as session:
        rows = session.exec(select(SecurityEvent).where(SecurityEvent.event_type == event_type))
        return list(rows)


def rp_sub(app: FastAPI, alliance: Alliance, rp: RelyingParty, which: str, account: str) -> str:
    """The rp's sub for whoever signs in through ``which`` as ``account`` (a new browser)."""
    with TestClient(app, base_url=alliance.issuer) as browser:
        attempt = Attempt(rp)
        chooser = browser.get("/authorize", params=attempt.params())
        platform, auth = platforms(alliance)[which]
        chose = browser.post(
            "/signin/choose",
            data={**hidden(chooser.text), "platform": platform["id"]},
            follow_redirects=False,
        )
        challenge = query(chose.headers["location"])["login_challenge"]
        answered = browser.post(
            "/v1/challenges/login/accept",
            json={"challenge": challenge, "account_id": account},
            headers=auth(),
        )
        assert answered.status_code == 200, answered.text
        back = answered.json()["redirect_to"].removeprefix(alliance.issuer)
        page = browser.get(back, follow_redirects=False)
        assert page.status_code in (200, 303), page.text
        if page.status_code == 200:
            page = approve(browser, page.text)
        assert page.status_code == 303, page.text
        code = query(page.headers["location"])["code"]
        tokens = exchange(browser, attempt, code).json()
    return str(id_claims(_runtime(app), tokens["id_token"], rp.client_id)["sub"])


def _runtime(app: FastAPI) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


@pytest.fixture
def rp(client: TestClient, alliance: Alliance) -> RelyingParty:
    return register_rp(client, alliance, "Nimbus Tea", "nimbus.example")


def test_a_linked_account_signs_in_as_the_same_person(
    client: TestClient, app: FastAPI, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    center_sign_in(client, alliance, "redleaf", "r-1")
    assert linked(client) == ["Redleaf Social Shop"]
    page = through(client, alliance, "link", "bluefin", "b-1")
    assert "Link" in page.text and "Bluefin Live" in page.text
    assert linked(client) == ["Redleaf Social Shop"]  # nothing linked before confirming
    done = confirm(client, page, "link")
    assert done.status_code == 303, done.text
    assert linked(client) == ["Redleaf Social Shop", "Bluefin Live"]

    (added,) = sets(runtime, types.IDENTITY_LINK_ADDED)
    assert added.recipient_id == alliance.keyed_platform["id"]
    assert added.claims["events"][types.IDENTITY_LINK_ADDED]["platform_user_id"] == "b-1"
    assert "identity.linking" in client.get("/center").text  # a consent, in the log

    # One brand, one sub, whichever linked platform the person signs in through.
    assert rp_sub(app, alliance, rp, "redleaf", "r-1") == rp_sub(
        app, alliance, rp, "bluefin", "b-1"
    )


def test_an_account_of_another_person_moves_only_by_a_confirmed_merge(
    client: TestClient, app: FastAPI, alliance: Alliance, rp: RelyingParty
) -> None:
    theirs = rp_sub(app, alliance, rp, "bluefin", "b-2")  # b-2 is someone already
    center_sign_in(client, alliance, "redleaf", "r-2")
    ours = rp_sub(app, alliance, rp, "redleaf", "r-2")
    assert ours != theirs

    refused = confirm(client, through(client, alliance, "link", "bluefin", "b-2"), "link")
    assert refused.status_code == 409, refused.text  # never moved by a plain link
    assert linked(client) == ["Redleaf Social Shop"]
    assert rp_sub(app, alliance, rp, "bluefin", "b-2") == theirs

    page = through(client, alliance, "link", "bluefin", "b-2")
    assert "another Accord identity" in page.text and 'value="merge"' in page.text
    merged = confirm(client, page, "merge")
    assert merged.status_code == 303, merged.text
    assert linked(client) == ["Redleaf Social Shop", "Bluefin Live"]
    assert rp_sub(app, alliance, rp, "bluefin", "b-2") == ours


def test_unlink_relink_and_erasure_on_the_last_unlink(
    client: TestClient, app: FastAPI, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    center_sign_in(client, alliance, "bluefin", "b-3")
    linking = through(client, alliance, "link", "redleaf", "r-3")
    assert confirm(client, linking, "link").status_code == 303
    ours = rp_sub(app, alliance, rp, "redleaf", "r-3")
    csrf = hidden(client.get("/center").text)["csrf"]
    unlinked = client.post(
        "/center/unlink",
        data={"csrf": csrf, "platform": alliance.keyed_platform["id"]},
        follow_redirects=False,
    )
    assert unlinked.status_code == 303, unlinked.text
    (removed,) = sets(runtime, types.IDENTITY_LINK_REMOVED)
    assert removed.recipient_id == alliance.keyed_platform["id"]
    # The session came through the unlinked account: it ended with it.
    assert "center/signin" in client.get("/center").text
    assert rp_sub(app, alliance, rp, "bluefin", "b-3") != ours  # b-3 is someone new now

    center_sign_in(client, alliance, "redleaf", "r-3")
    assert linked(client) == ["Redleaf Social Shop"]
    page = through(client, alliance, "link", "bluefin", "b-3")  # relink: a merge now
    assert confirm(client, page, "merge").status_code == 303
    assert rp_sub(app, alliance, rp, "bluefin", "b-3") == ours

    for platform in (alliance.keyed_platform, alliance.platform):  # signed in via redleaf
        csrf = hidden(client.get("/center").text).get("csrf", "")
        last = client.post("/center/unlink", data={"csrf": csrf, "platform": platform["id"]})
        assert last.status_code in (200, 303), last.text
    assert "erased" in last.text.lower()
    assert sets(runtime, types.ERASURE_REQUESTED)
    assert rp_sub(app, alliance, rp, "redleaf", "r-3") != ours  # a new person from scratch


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("no-csrf", id="confirm-without-csrf"),
        pytest.param("replayed", id="confirm-replayed"),
        pytest.param("other-browser", id="confirm-from-another-browser"),
        pytest.param("forged-handle", id="confirm-forged-handle"),
        pytest.param("signed-out", id="link-without-a-session"),
    ],
)
def test_a_bad_link_step_links_nothing(
    client: TestClient, app: FastAPI, alliance: Alliance, how: str
) -> None:
    center_sign_in(client, alliance, "redleaf", "r-4")
    if how == "signed-out":
        with TestClient(app, base_url=alliance.issuer) as stranger:
            csrf = hidden(stranger.get("/center").text)["csrf"]
            response = stranger.post(
                "/center/link",
                data={"csrf": csrf, "platform": alliance.keyed_platform["id"]},
            )
        assert response.status_code == 403
        return
    page = through(client, alliance, "link", "bluefin", "b-4")
    form = {**hidden(page.text), "decision": "link"}
    if how == "no-csrf":
        form.pop("csrf")
        expected = 403
    elif how == "replayed":
        assert client.post("/center/link/confirm", data=form).status_code == 200
        client.post(
            "/center/unlink", data={"csrf": form["csrf"], "platform": alliance.keyed_platform["id"]}
        )
        expected = 404
    elif how == "other-browser":
        with TestClient(app, base_url=alliance.issuer) as other:
            other.cookies.set("accord_session", client.cookies["accord_session"])
            response = other.post("/center/link/confirm", data=form)
        assert response.status_code == 403 and linked(client) == ["Redleaf Social Shop"]
        return
    else:
        form["handle"] = "forged"
        expected = 404
    response = client.post("/center/link/confirm", data=form)
    assert response.status_code == expected, response.text
    assert linked(client) == ["Redleaf Social Shop"]
