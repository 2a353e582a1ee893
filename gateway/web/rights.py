"""What the person takes away from, or asks of, the consent center: the signed receipt
of each consent event, a copy of their data, and erasure.

- A receipt is the one the recipient gets (``receipt_path`` in ``consent/rights.py``),
  served as a download and only for the signed-in person's own records.
- *Export my data* is a request like one a platform relays (PIPL Art. 45; GDPR
  Arts. 15, 20), with ``requested_by`` empty: it is answered by the same processing,
  within 30 days, and once completed the document downloads from here.
- *Erase my identity* asks for confirmation on a page of its own, then is carried out
  at once (PIPL Art. 47; GDPR Art. 17), like removing the last linked account: the
  person has proved who they are and confirmed, and waiting would only keep data they
  asked to be rid of. Every recipient is told in the same transaction.

Without a session every page is a 403 page; another person's record, receipt or export
does not exist (404). Every form carries the browser's CSRF token.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from sqlmodel import Session
from starlette.responses import RedirectResponse, Response

from consent.rights import RequestKind, RightsRequest
from gateway.consents import receipting
from gateway.consents.service import Consents
from gateway.db import utcnow
from gateway.errors import NotFound
from gateway.oauth.authorize import Authorization, Failure
from gateway.oauth.sessions import SESSION_COOKIE
from gateway.rights.service import Rights
from gateway.runtime import Runtime
from gateway.web import pages
from gateway.web.center import CENTER, signed_in, then_center
from gateway.web.routes import browser_of, in_transaction, one, render, submitted, with_cookies

MAX_SEQ = 10_000  # as the recipients' receipt route


def _person(session: Session, rt: Runtime, request: Request) -> str:
    return signed_in(Authorization(session, rt), request).person_id


def _receipt(session: Session, rt: Runtime, request: Request, record_id: str, seq: str) -> str:
    person = _person(session, rt, request)
    consents = Consents(session, rt)
    history = consents.record(record_id)
    if history.record.person_id != person:
        raise NotFound("no such consent of yours")  # another person's does not exist
    if not seq.isdigit() or int(seq) > MAX_SEQ:
        raise NotFound("no such consent event")
    # The same receipt the recipient is served: issued as to the record's recipient.
    return receipting.issue(consents, record_id, int(seq), consents.member(history.record.to.id))


def _attachment(filename: str) -> dict[str, str]:
    return {
        **pages.PAGE_HEADERS,
        "Content-Disposition": f'attachment; filename="{filename}"',
    }


def router() -> APIRouter:
    web = APIRouter(tags=["consent center"])

    @web.get(
        CENTER + "/receipts/{record_id}/{seq}",
        summary="Download the signed receipt of one of the person's consent events",
        response_model=None,
    )
    async def receipt(request: Request, record_id: str, seq: str) -> Response:
        rt: Runtime = request.app.state.runtime
        browser, _ = browser_of(request)
        token = await in_transaction(rt, lambda s: _receipt(s, rt, request, record_id, seq))
        if isinstance(token, Failure):
            return render(request, rt, token, browser)
        name = f"consent-receipt-{_file_safe(record_id)}-{int(seq)}.jwt"
        return Response(token, media_type="application/jwt", headers=_attachment(name))

    @web.get(
        CENTER + "/exports/{request_id}",
        summary="Download a completed export of the person's data",
        response_model=None,
    )
    async def export(request: Request, request_id: str) -> Response:
        rt: Runtime = request.app.state.runtime
        browser, _ = browser_of(request)
        document = await in_transaction(
            rt,
            lambda s: Rights(s, rt).person_export(request_id, _person(s, rt, request)),
        )
        if isinstance(document, Failure):
            return render(request, rt, document, browser)
        body = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)
        name = f"accord-export-{_file_safe(request_id)}.json"
        return Response(body, media_type="application/json", headers=_attachment(name))

    @web.post(CENTER + "/export", summary="Ask for a copy of one's data", response_model=None)
    async def ask_export(request: Request) -> Response:
        rt, browser, fields = await submitted(request)
        if isinstance(fields, Failure):
            return render(request, rt, fields, browser)

        def step(session: Session) -> RightsRequest:
            person = _person(session, rt, request)
            return Rights(session, rt).submit(person, None, RequestKind.export)

        return await then_center(request, rt, browser, step)

    _erasure(web)
    return web


def _erasure(web: APIRouter) -> None:
    @web.get(CENTER + "/erase", summary="Confirm erasing one's identity", response_model=None)
    async def confirm(request: Request) -> Response:
        rt: Runtime = request.app.state.runtime
        browser, new = browser_of(request)
        found = await in_transaction(rt, lambda s: _person(s, rt, request))
        if isinstance(found, Failure):
            return render(request, rt, found, browser)
        secret = rt.settings.secret_key.get_secret_value().encode()
        page = pages.render(request, "erase_confirm.html", csrf=pages.csrf_token(secret, browser))
        return with_cookies(page, rt, browser, new)

    @web.post(CENTER + "/erase", summary="Erase one's identity, at once", response_model=None)
    async def erase(request: Request) -> Response:
        rt, browser, fields = await submitted(request)
        if isinstance(fields, Failure):
            return render(request, rt, fields, browser)
        if one(fields, "decision") != "erase":
            return RedirectResponse(rt.settings.issuer + CENTER, 303)

        def step(session: Session) -> RightsRequest:
            person = _person(session, rt, request)
            return Rights(session, rt).erase_now(person, None, utcnow())

        done = await in_transaction(rt, step)
        if isinstance(done, Failure):
            return render(request, rt, done, browser)
        response = pages.render(request, "erased.html", asked=done)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
        return response


def _file_safe(value: str) -> str:
    """A value fit for a download's file name (ids are uuids; anything else is dropped)."""
    return "".join(c for c in value if c.isalnum() or c == "-")[:64]
