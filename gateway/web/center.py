"""The consent center's routes, and the browser's return from a platform's sign-in.

The person signs in through any platform their identity has an account at (a login
challenge, as at ``/authorize``), then sees their linked accounts and their consents.
Linking runs a link challenge at the other platform and asks for confirmation on a page
of ours; withdrawing a consent is one button, as easy as giving it. Every form carries
the browser's CSRF token; every step runs in one transaction.
"""

from __future__ import annotations

from typing import Any

from authlib.common.urls import add_params_to_uri
from fastapi import APIRouter, Request
from sqlmodel import Session
from starlette.responses import RedirectResponse, Response

from consent.journal import Evidence
from consent.records import Actor, ConsentState, History
from gateway.consents.service import Consents
from gateway.db import utcnow
from gateway.errors import Conflict, Forbidden, InvalidRequest, NotFound
from gateway.identity.challenges import ChallengeKind
from gateway.identity.links import Linked, Links, Proposal
from gateway.identity.models import LoginChallenge
from gateway.members.models import Member, MemberKind
from gateway.oauth.authorize import Authorization, Failure, Outcome
from gateway.oauth.sessions import SESSION_COOKIE, SignedIn
from gateway.runtime import Runtime
from gateway.web import pages
from gateway.web.overview import overview
from gateway.web.routes import (
    browser_of,
    in_transaction,
    one,
    render,
    submitted,
    with_cookies,
)

CENTER = "/center"


def _evidence(request: Request) -> Evidence:
    agent = (request.headers.get("user-agent") or "")[:200] or None
    return Evidence(Actor.person, "consent_center", user_agent=agent)


def signed_in(flow: Authorization, request: Request) -> SignedIn:
    """The browser's sign-in to the consent center; Forbidden (a 403 page) without one."""
    current = flow.sessions.current(request.cookies.get(SESSION_COOKIE))
    if current is None:
        raise Forbidden("sign in to the consent center first")
    return current


def _platform(flow: Authorization, platform_id: str) -> Member:
    platform = flow.session.get(Member, platform_id) if platform_id else None
    if platform is None or platform.kind != MemberKind.platform or not platform.login_url:
        raise InvalidRequest("choose one of the member platforms listed")
    return platform


def _to_platform(flow: Authorization, request: Request, kind: ChallengeKind, pid: str) -> str:
    browser, _ = browser_of(request)
    platform = _platform(flow, pid)
    context: dict[str, Any] = {"center": True}
    if kind is ChallengeKind.link:
        context["session"] = signed_in(flow, request).id
    opened = flow.challenges.open(kind, platform, browser, context=context)
    parameter = "link_challenge" if kind is ChallengeKind.link else "login_challenge"
    return str(add_params_to_uri(platform.login_url or "", [(parameter, opened.challenge)]))


def _returned(
    session: Session, rt: Runtime, request: Request, verifier: str
) -> tuple[Outcome | Proposal | str, str | None]:
    """Complete the challenge and go on with what started it: an authorization request,
    a sign-in to the consent center, or a link."""
    browser, _ = browser_of(request)
    flow = Authorization(session, rt)
    challenge: LoginChallenge = flow.challenges.complete(verifier, browser)
    if challenge.kind == ChallengeKind.link:
        if challenge.error is not None:
            return CENTER, None
        return Links(session, rt).propose(challenge, signed_in(flow, request), browser), None
    if not challenge.context.get("center"):
        return flow.returned(challenge, browser)
    if challenge.error is not None or challenge.account_id is None:
        return Failure(
            403, challenge.error or "access_denied", "the platform did not sign you in"
        ), None
    handle, _ = flow.open_session(challenge, challenge.account_id)
    return CENTER, handle


def _page(session: Session, rt: Runtime, request: Request) -> dict[str, Any]:
    flow = Authorization(session, rt)
    current = flow.sessions.current(request.cookies.get(SESSION_COOKIE))
    if current is None:
        return {"signed": False, "platforms": flow.platforms()}
    lang = pages.language(request)
    return {"signed": True, "view": overview(session, rt, current.person_id, lang)}


def router() -> APIRouter:
    web = APIRouter(tags=["consent center"])

    @web.get("/signin/return", summary="Back from the platform's sign-in", response_model=None)
    async def returned(request: Request, verifier: str = "") -> Response:
        rt: Runtime = request.app.state.runtime
        browser, _ = browser_of(request)
        if not 0 < len(verifier) <= 128:
            failure = Failure(400, "invalid_request", "no sign-in to complete")
            return render(request, rt, failure, browser)
        result = await in_transaction(rt, lambda s: _returned(s, rt, request, verifier))
        if isinstance(result, Failure):
            return render(request, rt, result, browser)
        outcome, session = result
        response: Response
        if isinstance(outcome, str):
            response = RedirectResponse(rt.settings.issuer + outcome, 303)
        elif isinstance(outcome, Proposal):
            response = _confirm_page(request, rt, browser, outcome)
        else:
            response = render(request, rt, outcome, browser)
        return with_cookies(response, rt, browser, False, session)

    @web.get(CENTER, summary="The consent center", response_model=None)
    async def center(request: Request) -> Response:
        rt: Runtime = request.app.state.runtime
        browser, new = browser_of(request)
        found = await in_transaction(rt, lambda s: _page(s, rt, request))
        if isinstance(found, Failure):
            return render(request, rt, found, browser)
        secret = rt.settings.secret_key.get_secret_value().encode()
        page = pages.render(request, "center.html", csrf=pages.csrf_token(secret, browser), **found)
        return with_cookies(page, rt, browser, new)

    @web.post(CENTER + "/signin", summary="Sign in to the consent center", response_model=None)
    async def signin(request: Request) -> Response:
        return await _go(request, ChallengeKind.login)

    @web.post(CENTER + "/link", summary="Link another platform account", response_model=None)
    async def link(request: Request) -> Response:
        return await _go(request, ChallengeKind.link)

    @web.post(CENTER + "/link/confirm", summary="Confirm a link or merge", response_model=None)
    async def confirm(request: Request) -> Response:
        rt, browser, fields = await submitted(request)
        if isinstance(fields, Failure):
            return render(request, rt, fields, browser)
        decision = one(fields, "decision")
        if decision not in {"link", "merge"}:
            return RedirectResponse(rt.settings.issuer + CENTER, 303)
        evidence = _evidence(request)

        def step(session: Session) -> Linked:
            flow = Authorization(session, rt)
            return Links(session, rt).confirm(
                one(fields, "handle"),
                browser,
                signed_in(flow, request),
                evidence,
                merge=decision == "merge",
            )

        return await then_center(request, rt, browser, step)

    @web.post(CENTER + "/unlink", summary="Unlink a platform account", response_model=None)
    async def unlink(request: Request) -> Response:
        rt, browser, fields = await submitted(request)
        if isinstance(fields, Failure):
            return render(request, rt, fields, browser)
        evidence = _evidence(request)

        def step(session: Session) -> bool:
            signed = signed_in(Authorization(session, rt), request)
            return Links(session, rt).unlink(signed.person_id, one(fields, "platform"), evidence)

        erased = await in_transaction(rt, step)
        if isinstance(erased, Failure):
            return render(request, rt, erased, browser)
        if erased:
            response = pages.render(request, "erased.html")
            response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
            return response
        return RedirectResponse(rt.settings.issuer + CENTER, 303)

    _withdrawal(web)
    return web


def _withdrawal(web: APIRouter) -> None:
    @web.post(CENTER + "/withdraw", summary="Withdraw a consent", response_model=None)
    async def withdraw(request: Request) -> Response:
        rt, browser, fields = await submitted(request)
        if isinstance(fields, Failure):
            return render(request, rt, fields, browser)
        evidence = _evidence(request)

        def step(session: Session) -> History:
            signed = signed_in(Authorization(session, rt), request)
            consents = Consents(session, rt)
            record_id = one(fields, "record")
            mine = {h.record.record_id: h for h in consents.of_person(signed.person_id)}
            if record_id not in mine:
                raise NotFound("no such consent of yours")
            if mine[record_id].state_at(utcnow()) is not ConsentState.given:
                raise Conflict("this consent is no longer in force")  # e.g. a second click
            return consents.withdraw(record_id, evidence)

        return await then_center(request, rt, browser, step)


async def _go(request: Request, kind: ChallengeKind) -> Response:
    rt, browser, fields = await submitted(request)
    if isinstance(fields, Failure):
        return render(request, rt, fields, browser)
    platform = one(fields, "platform")
    url = await in_transaction(
        rt, lambda s: _to_platform(Authorization(s, rt), request, kind, platform)
    )
    if isinstance(url, Failure):
        return render(request, rt, url, browser)
    return RedirectResponse(url, 303, headers={"Cache-Control": "no-store"})


async def then_center(request: Request, rt: Runtime, browser: str, step: Any) -> Response:
    """Run a form's step in a transaction, then back to the center (or the error page)."""
    done = await in_transaction(rt, step)
    if isinstance(done, Failure):
        return render(request, rt, done, browser)
    return RedirectResponse(rt.settings.issuer + CENTER, 303)


def _confirm_page(request: Request, rt: Runtime, browser: str, proposal: Proposal) -> Response:
    if proposal.already:
        return RedirectResponse(rt.settings.issuer + CENTER, 303)
    secret = rt.settings.secret_key.get_secret_value().encode()
    return pages.render(
        request,
        "link_confirm.html",
        proposal=proposal,
        csrf=pages.csrf_token(secret, browser),
    )
