"""The consent center's pages: consents by recipient with their titles and receipts, the
history of ended ones, the access log, and export and erasure asked by the person; every
bad step refused (no session, another person's ids, unknown ids, no or forged CSRF)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from consent.journal import Evidence
from consent.records import Actor
from consent.rights import EXPORT_FORMAT
from gateway.consents.service import Consents, Terms
from gateway.consents.upkeep import sequence_log
from gateway.db import transaction, utcnow
from gateway.events import types
from gateway.identity.models import Person
from gateway.members.models import Member
from gateway.rights.models import RightsRequestRow
from gateway.runtime import Runtime
from gateway.views.access_log import AccessLog, What
from gateway.web.pages import TEXT
from sdk import verify_receipt
from tests.gateway.alliance import Alliance
from tests.gateway.identity.test_links import center_sign_in, sets
from tests.gateway.oauth.flow import RelyingParty, hidden, register_rp, signed_in
from tests.gateway.oauth.test_client_tokens import platform_auth
from tests.gateway.oauth.test_token_exchange import swap

CONTENT = ["user.demographic.city_tier", "user.device.type"]
RECEIPT = re.compile(r'href="/center/receipts/([^/"]+)/(\d+)"')
EXPORT_LINK = re.compile(r'href="/center/exports/([^"]+)"')


@pytest.fixture
def rp(client: TestClient, alliance: Alliance) -> RelyingParty:
    return register_rp(client, alliance, "Nimbus Tea", "nimbus.example")


@pytest.fixture
def stranger(app: FastAPI, alliance: Alliance) -> Iterator[TestClient]:
    """Another browser, signed in to the center as another person."""
    with TestClient(app, base_url=alliance.issuer) as other:
        center_sign_in(other, alliance, "redleaf", "u-2")
        yield other


def person(runtime: Runtime, alliance: Alliance, account: str) -> str:
    with transaction(runtime.sessions) as session:
        return Consents(session, runtime).persons.of_account(alliance.platform["id"], account)


def give_content(runtime: Runtime, alliance: Alliance, account: str) -> str:
    """The platform's own consent for content personalisation; the record id."""
    with transaction(runtime.sessions) as session:
        consents = Consents(session, runtime)
        who = consents.persons.of_account(alliance.platform["id"], account, create=True)
        platform = session.get(Member, alliance.platform["id"])
        assert platform is not None
        terms = Terms("personalize.content", frozenset(CONTENT), "redleaf-privacy", 1)
        history = consents.give(who, platform, terms, Evidence(Actor.person, "platform_ui"))
        return history.record.record_id


def section(html: str, name: str) -> str:
    return html.split(f'aria-labelledby="{name}"')[1].split("</section>", maxsplit=1)[0]


def csrf(client: TestClient) -> str:
    return hidden(client.get("/center").text)["csrf"]


def signed_in_person(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> dict[str, Any]:
    """u-1 signed in to Nimbus Tea through Redleaf, with Redleaf's own consent too, and
    signed in to the center; the token response from Nimbus Tea."""
    tokens = signed_in(client, alliance, rp, account="u-1")
    give_content(runtime, alliance, "u-1")
    center_sign_in(client, alliance, "redleaf", "u-1")
    return tokens


def requested(client: TestClient, alliance: Alliance) -> list[dict[str, Any]]:
    listing = client.get("/v1/admin/rights/requests", headers=alliance.operator)
    assert listing.status_code == 200, listing.text
    rows: list[dict[str, Any]] = listing.json()["requests"]
    return rows


def process(client: TestClient, alliance: Alliance) -> None:
    done = client.post("/v1/admin/rights/process", headers=alliance.operator)
    assert done.status_code == 200, done.text


# --- consents by recipient and purpose --------------------------------------------------


def test_consents_are_grouped_by_recipient_with_titles_contact_and_validity(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    signed_in_person(client, alliance, runtime, rp)
    page = client.get("/center")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    consents = section(page.text, "consents")
    # One group per recipient, by name, each with its contact (PIPL Art. 23).
    groups = re.findall(r'<h3 id="recipient-\d+">([^<]+)</h3>', consents)
    assert groups == ["Nimbus Tea", "Redleaf Social Shop"]
    nimbus, redleaf = consents.split("<h3")[1:]
    assert "Chen Jing" in nimbus and "mailto:privacy@aurora.example" in nimbus
    assert "Li Wei, DPO" in redleaf
    # Purposes and categories by their titles in the data standard, keys alongside.
    assert "Sign in with Accord" in nimbus and "<code>identity.sso</code>" in nimbus
    assert "Pseudonymous identifier" in nimbus
    purpose = runtime.standard.purposes["personalize.content"].title.en
    assert purpose in redleaf
    for key in CONTENT:
        assert runtime.standard.categories[key].title.en in redleaf
    validity = runtime.standard.purposes["identity.sso"].validity_days
    until = (datetime.now(UTC) + timedelta(days=validity)).date()
    (shown,) = re.findall(r"Valid until <time datetime=\"[^\"]+\">([\d-]+)</time>", nimbus)
    assert abs((datetime.fromisoformat(shown).date() - until).days) <= 1
    # The one-click withdrawal, labelled for screen readers.
    assert 'aria-label="Withdraw identity.sso Nimbus Tea"' in nimbus
    assert 'aria-label="Withdraw personalize.content Redleaf Social Shop"' in redleaf
    assert "<script" not in page.text
    assert section(page.text, "history").count("<li>") == 0


def test_the_center_speaks_chinese(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    signed_in_person(client, alliance, runtime, rp)
    page = client.get("/center", params={"lang": "zh"}).text
    assert '<html lang="zh-CN">' in page
    assert runtime.standard.purposes["identity.sso"].title.zh in page
    assert runtime.standard.categories["user.account.pseudonymous_id"].title.zh in page
    for key in ("valid_through", "access_log", "your_requests", "export_ask", "erase_ask"):
        assert TEXT["zh"][key] in page
    erase = client.get("/center/erase", params={"lang": "zh"}).text
    assert TEXT["zh"]["title_erase"] in erase and TEXT["zh"]["erase_confirm"] in erase


def test_every_text_is_in_both_languages() -> None:
    assert set(TEXT["en"]) == set(TEXT["zh"])
    assert all(value.strip() for texts in TEXT.values() for value in texts.values())


def test_a_withdrawn_consent_moves_to_the_history_without_a_button(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    signed_in_person(client, alliance, runtime, rp)
    page = client.get("/center").text
    record = re.search(
        r'name="record" value="([^"]+)" aria-label="Withdraw identity.sso Nimbus Tea"', page
    )
    assert record is not None
    form = {"csrf": hidden(page)["csrf"], "record": record.group(1)}
    done = client.post("/center/withdraw", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    page = client.get("/center").text
    assert "Nimbus Tea" not in section(page, "consents")
    history = section(page, "history")
    assert "Nimbus Tea" in history and "Withdrawn on" in history
    assert "<button" not in history and "<form" not in history
    # Both events of the record have a receipt: given and withdrawn.
    assert (record.group(1), "0") in RECEIPT.findall(history)
    assert (record.group(1), "1") in RECEIPT.findall(history)
    again = client.post("/center/withdraw", data=form)  # a second click, a stale page
    assert again.status_code == 409 and "no longer in force" in again.text


# --- receipts -------------------------------------------------------------------------------


def test_a_receipt_downloads_as_the_signed_receipt_of_ones_own_event(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    signed_in_person(client, alliance, runtime, rp)
    links = RECEIPT.findall(section(client.get("/center").text, "consents"))
    assert len(links) == 2  # one per event: each consent in force was given once
    sequence_log(runtime)
    jwks = client.get("/.well-known/jwks.json").json()
    key = client.get("/.well-known/consent-log").json()["verifier_key"]
    for record_id, seq in links:
        response = client.get(f"/center/receipts/{record_id}/{seq}")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/jwt")
        disposition = response.headers["content-disposition"]
        assert disposition == f'attachment; filename="consent-receipt-{record_id}-{seq}.jwt"'
        verified = verify_receipt(response.text, jwks=jwks, log_verifier_key=key)
        assert verified.event_type == "given" and verified.state == "given"
        assert verified.receipt_id.endswith(f".{seq}")
    # The recipient (here the platform) is served a receipt of the same event.
    redleaf = section(client.get("/center").text, "consents").split("<h3")[2]
    ((record_id, _),) = RECEIPT.findall(redleaf)
    mine = verify_receipt(
        client.get(f"/center/receipts/{record_id}/0").text, jwks=jwks, log_verifier_key=key
    )
    served = client.get(f"/v1/consents/{record_id}/receipts/0", headers=platform_auth(alliance))
    assert served.status_code == 200, served.text
    theirs = verify_receipt(served.text, jwks=jwks, log_verifier_key=key)
    assert (theirs.receipt_id, theirs.principal, theirs.log_index) == (
        mine.receipt_id,
        mine.principal,
        mine.log_index,
    )


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("no-session", id="no-session-403"),
        pytest.param("another-person", id="another-persons-record-404"),
        pytest.param("unknown-record", id="unknown-record-404"),
        pytest.param("unknown-event", id="event-out-of-range-404"),
        pytest.param("not-a-number", id="event-not-a-number-404"),
    ],
)
def test_a_bad_receipt_request_is_refused(
    client: TestClient,
    app: FastAPI,
    alliance: Alliance,
    runtime: Runtime,
    rp: RelyingParty,
    stranger: TestClient,
    case: str,
) -> None:
    signed_in_person(client, alliance, runtime, rp)
    record_id, _ = RECEIPT.findall(client.get("/center").text)[0]
    path, asker, status = f"/center/receipts/{record_id}/0", client, 404
    if case == "no-session":
        with TestClient(app, base_url=alliance.issuer) as nobody:
            response = nobody.get(path)
        assert response.status_code == 403 and "sign in" in response.text
        assert "application/jwt" not in response.headers["content-type"]
        return
    if case == "another-person":
        asker = stranger
    elif case == "unknown-record":
        path = "/center/receipts/00000000-0000-0000-0000-000000000000/0"
    elif case == "unknown-event":
        path = f"/center/receipts/{record_id}/7"
    else:
        path = f"/center/receipts/{record_id}/first"
    response = asker.get(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "content-disposition" not in response.headers


# --- the access log ---------------------------------------------------------------------------


def test_the_access_log_shows_who_read_what_and_when(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    tokens = signed_in_person(client, alliance, runtime, rp)
    assert "No member has read your data" in section(client.get("/center").text, "access")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 200

    target = register_rp(client, alliance, "Zephyr Shoes", "zephyr.example")
    signed_in(client, alliance, target, account="u-1")  # sign-in consent to the target
    assert swap(client, rp, tokens["access_token"], target.client_id).status_code == 200

    access = section(client.get("/center").text, "access")
    rows = re.findall(r"<tr>(.*?)</tr>", access, flags=re.S)[1:]  # below the header
    assert len(rows) == 2
    latest, first = rows
    assert "Zephyr Shoes" in latest and "Received your sign-in from another member" in latest
    assert "Nimbus Tea" in first and "Read your sign-in identity" in first
    assert "Sign in with Accord" in first and "Pseudonymous identifier" in first
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", first)
    assert '<th scope="col">When</th>' in access


def test_a_brands_view_is_named_in_the_access_log(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    signed_in_person(client, alliance, runtime, rp)
    with transaction(runtime.sessions) as session:
        AccessLog(session).record(
            person(runtime, alliance, "u-1"),
            alliance.brand_a["id"],
            purpose="marketing.brand_view",
            categories=["user.interest.beauty"],
            what=What.view,
            at=utcnow(),
        )
    access = section(client.get("/center").text, "access")
    assert "Read your profile across your linked platforms" in access
    assert alliance.brand_a["name"] in access


def test_a_platform_reading_userinfo_is_logged_with_its_own_user_id(
    client: TestClient, alliance: Alliance, runtime: Runtime
) -> None:
    platform = RelyingParty(
        alliance.platform["client_id"],
        alliance.platform_secret,
        alliance.platform["redirect_uris"][0],
        alliance.platform["name"],
    )
    tokens = signed_in(client, alliance, platform, account="u-1")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).json()["platform_user_id"] == "u-1"
    with Session(runtime.engine) as session:
        (read,) = AccessLog(session).of_person(person(runtime, alliance, "u-1"))
    assert read.reader == "Redleaf Social Shop" and read.what == "userinfo"
    assert read.purpose == "identity.sso"
    assert read.categories == ("user.account.platform_account", "user.account.pseudonymous_id")


def test_a_refused_read_is_not_logged(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    tokens = signed_in_person(client, alliance, runtime, rp)
    page = client.get("/center").text
    record = re.search(r'name="record" value="([^"]+)" aria-label="Withdraw identity.sso', page)
    assert record is not None
    client.post("/center/withdraw", data={"csrf": hidden(page)["csrf"], "record": record.group(1)})
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 401  # consent withdrawn
    with Session(runtime.engine) as session:
        assert AccessLog(session).of_person(person(runtime, alliance, "u-1")) == []


# --- export ----------------------------------------------------------------------------------


def test_an_export_asked_in_the_center_is_answered_and_downloads(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    tokens = signed_in_person(client, alliance, runtime, rp)
    client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    asked = client.post("/center/export", data={"csrf": csrf(client)}, follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"].endswith("/center")
    again = client.post("/center/export", data={"csrf": csrf(client)}, follow_redirects=False)
    assert again.status_code == 303
    (row,) = requested(client, alliance)  # asking again does not restart the clock
    assert row["kind"] == "export" and row["requested_by"] is None
    assert row["state"] == "received" and row["days_left"] == 30

    requests = section(client.get("/center").text, "requests")
    assert "Copy of my data" in requests and "this consent center" in requests
    assert "Received, being processed" in requests
    received, due = row["received_at"][:10], row["due_at"][:10]
    assert f">{received}</time>" in requests and f">{due}</time>" in requests
    assert not EXPORT_LINK.search(requests)
    early = client.get(f"/center/exports/{row['request_id']}")
    assert early.status_code == 409 and "not ready" in early.text
    assert "content-disposition" not in early.headers

    process(client, alliance)
    requests = section(client.get("/center").text, "requests")
    assert "Completed" in requests
    assert EXPORT_LINK.findall(requests) == [row["request_id"]]
    response = client.get(f"/center/exports/{row['request_id']}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    disposition = f'attachment; filename="accord-export-{row["request_id"]}.json"'
    assert response.headers["content-disposition"] == disposition
    document = json.loads(response.text)
    assert document["format"] == EXPORT_FORMAT
    assert {c["purpose"] for c in document["consents"]} == {
        "identity.sso",
        "personalize.content",
    }
    assert [(a["reader"], a["what"]) for a in document["access_log"]] == [
        ("Nimbus Tea", "userinfo")
    ]
    assert person(runtime, alliance, "u-1") not in response.text


def test_a_request_a_platform_relayed_is_listed_too(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    signed_in_person(client, alliance, runtime, rp)
    relayed = client.post(
        "/v1/rights/requests",
        json={"account_id": "u-1", "kind": "export"},
        headers=platform_auth(alliance),
    )
    assert relayed.status_code == 202, relayed.text
    requests = section(client.get("/center").text, "requests")
    assert "Redleaf Social Shop" in requests and "Copy of my data" in requests
    process(client, alliance)
    request_id = relayed.json()["request_id"]
    # It is the person's own data: they may download it too.
    mine = client.get(f"/center/exports/{request_id}")
    assert mine.status_code == 200, mine.text
    relayer = client.get(
        f"/v1/rights/requests/{request_id}/export", headers=platform_auth(alliance)
    )
    assert relayer.status_code == 200 and relayer.json() == json.loads(mine.text)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("no-session", id="no-session-403"),
        pytest.param("another-person", id="another-persons-export-404"),
        pytest.param("unknown", id="unknown-request-404"),
        pytest.param("erasure", id="a-request-without-export-404"),
        pytest.param("refused", id="refused-export-409"),
    ],
)
def test_a_bad_export_download_is_refused(
    client: TestClient,
    app: FastAPI,
    alliance: Alliance,
    runtime: Runtime,
    rp: RelyingParty,
    stranger: TestClient,
    case: str,
) -> None:
    signed_in_person(client, alliance, runtime, rp)
    client.post("/center/export", data={"csrf": csrf(client)})
    (row,) = requested(client, alliance)
    if case == "refused":
        refused = client.post(
            f"/v1/admin/rights/requests/{row['request_id']}/refuse",
            json={"reason": "identity could not be confirmed"},
            headers=alliance.operator,
        )
        assert refused.status_code == 200, refused.text
        assert "identity could not be confirmed" in section(client.get("/center").text, "requests")
    else:
        process(client, alliance)
    path, asker, status = f"/center/exports/{row['request_id']}", client, 404
    if case == "no-session":
        with TestClient(app, base_url=alliance.issuer) as nobody:
            response = nobody.get(path)
        assert response.status_code == 403 and "sign in" in response.text
        return
    if case == "another-person":
        asker = stranger
    elif case == "unknown":
        path = "/center/exports/00000000-0000-0000-0000-000000000000"
    elif case == "erasure":
        erasure = client.post(
            "/v1/rights/requests",
            json={"account_id": "u-1", "kind": "erasure"},
            headers=platform_auth(alliance),
        )
        path = f"/center/exports/{erasure.json()['request_id']}"
    else:
        status = 409
    response = asker.get(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "content-disposition" not in response.headers


@pytest.mark.parametrize(
    "form",
    [
        pytest.param({}, id="no-csrf"),
        pytest.param({"csrf": "forged"}, id="forged-csrf"),
    ],
)
def test_an_export_is_asked_only_with_the_pages_csrf_token(
    client: TestClient,
    alliance: Alliance,
    runtime: Runtime,
    rp: RelyingParty,
    form: dict[str, str],
) -> None:
    signed_in_person(client, alliance, runtime, rp)
    response = client.post("/center/export", data=form)
    assert response.status_code == 403, response.text
    assert requested(client, alliance) == []


def test_an_export_needs_a_session(client: TestClient, alliance: Alliance) -> None:
    response = client.post("/center/export", data={"csrf": csrf(client)})
    assert response.status_code == 403 and "sign in" in response.text
    assert requested(client, alliance) == []


# --- erasure ---------------------------------------------------------------------------------


def test_erasure_is_confirmed_on_a_page_then_carried_out_at_once(
    client: TestClient, alliance: Alliance, runtime: Runtime, rp: RelyingParty
) -> None:
    signed_in_person(client, alliance, runtime, rp)
    who = person(runtime, alliance, "u-1")
    page = client.get("/center/erase")
    assert page.status_code == 200 and "Erase your Accord identity?" in page.text
    form = hidden(page.text)
    assert set(form) == {"csrf"} and 'action="/center/erase"' in page.text

    kept = client.post("/center/erase", data={**form, "decision": "cancel"}, follow_redirects=False)
    assert kept.status_code == 303 and kept.headers["location"].endswith("/center")
    assert requested(client, alliance) == []

    erased = client.post("/center/erase", data={**form, "decision": "erase"})
    assert erased.status_code == 200, erased.text
    assert "erased" in erased.text and 'role="status"' in erased.text
    (row,) = requested(client, alliance)
    assert row["kind"] == "erasure" and row["state"] == "completed"
    assert row["requested_by"] is None and row["request_id"] in erased.text
    assert row["received_at"] <= row["completed_at"]  # received, then carried out
    with Session(runtime.engine) as session:
        assert session.get(Person, who) is None
        kept_row = session.get(RightsRequestRow, row["request_id"])
        assert kept_row is not None and kept_row.person_id is None
    told = {s.recipient_id for s in sets(runtime, types.ERASURE_REQUESTED)}
    assert told == {alliance.platform["id"], _member_id(runtime, rp.client_id)}
    assert "accord_session" not in client.cookies  # signed out with it
    assert "/center/signin" in client.get("/center").text


def _member_id(runtime: Runtime, client_id: str) -> str:
    with Session(runtime.engine) as session:
        return session.exec(select(Member.id).where(Member.client_id == client_id)).one()


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("page-no-session", id="confirmation-page-without-session-403"),
        pytest.param("no-session", id="erase-without-session-403"),
        pytest.param("no-csrf", id="erase-without-csrf-403"),
        pytest.param("forged-csrf", id="erase-with-forged-csrf-403"),
    ],
)
def test_a_bad_erasure_erases_nothing(
    client: TestClient,
    app: FastAPI,
    alliance: Alliance,
    runtime: Runtime,
    rp: RelyingParty,
    case: str,
) -> None:
    signed_in_person(client, alliance, runtime, rp)
    token = csrf(client)
    if case.endswith("no-session"):
        with TestClient(app, base_url=alliance.issuer) as nobody:
            if case == "page-no-session":
                response = nobody.get("/center/erase")
            else:
                nobody.cookies.set("accord_browser", client.cookies["accord_browser"])
                response = nobody.post("/center/erase", data={"csrf": token, "decision": "erase"})
        assert response.status_code == 403 and "sign in" in response.text
    else:
        form = {"decision": "erase"} if case == "no-csrf" else {"csrf": "x", "decision": "erase"}
        response = client.post("/center/erase", data=form)
        assert response.status_code == 403, response.text
    assert requested(client, alliance) == []
    with Session(runtime.engine) as session:
        assert session.get(Person, person(runtime, alliance, "u-1")) is not None
