"""The browser's routes of sign-in: ``/authorize``, the platform chooser, the return from
the platform, and the consent screen. Each one reads the request, runs one step of
:class:`gateway.oauth.authorize.Authorization` in a transaction, and renders or
redirects; an error never leaves as a stack trace, and a page error is a page."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from gateway.db import transaction
from gateway.errors import Forbidden, GatewayError, InvalidRequest, entry_for
from gateway.oauth import http
from gateway.oauth.authorize import (
    Authorization,
    Chooser,
    ConsentScreen,
    Failure,
    Outcome,
    Redirect,
)
from gateway.oauth.sessions import BROWSER_COOKIE, BROWSER_LIFETIME, SESSION_COOKIE
from gateway.runtime import Runtime
from gateway.web import pages

T = TypeVar("T")
MAX_FORM_FIELDS = 60


def _in_transaction(rt: Runtime, step: Callable[[Session], T]) -> T:
    with transaction(rt.sessions) as session:
        return step(session)


async def in_transaction(rt: Runtime, step: Callable[[Session], T]) -> T | Failure:
    """Run one step in a transaction off the event loop; a gateway error as a Failure."""
    try:
        return await run_in_threadpool(_in_transaction, rt, step)
    except GatewayError as error:
        entry = entry_for(error)
        return Failure(entry.status, entry.code, error.detail or entry.title)


async def _run(rt: Runtime, step: Callable[[Authorization], T]) -> T | Failure:
    return await in_transaction(rt, lambda session: step(Authorization(session, rt)))


def browser_of(request: Request) -> tuple[str, bool]:
    """The browser's id from its cookie, or a new one (and whether it is new)."""
    value = request.cookies.get(BROWSER_COOKIE, "")
    if 20 <= len(value) <= 64:
        return value, False
    return secrets.token_urlsafe(32), True


def secure(rt: Runtime) -> bool:
    return rt.settings.issuer.startswith("https://")


def render(request: Request, rt: Runtime, outcome: Outcome | Failure, browser: str) -> Response:
    secret = rt.settings.secret_key.get_secret_value().encode()
    response: Response
    if isinstance(outcome, Redirect):
        response = RedirectResponse(
            outcome.url, status_code=303, headers={"Cache-Control": "no-store"}
        )
    elif isinstance(outcome, Chooser):
        response = pages.render(
            request,
            "chooser.html",
            handle=outcome.handle,
            client=outcome.client,
            platforms=outcome.platforms,
            csrf=pages.csrf_token(secret, browser),
        )
    elif isinstance(outcome, ConsentScreen):
        lang = pages.language(request)
        titles = {
            key: getattr(category.title, lang) for key, category in rt.standard.categories.items()
        }
        response = pages.render(
            request,
            "consent.html",
            handle=outcome.handle,
            client=outcome.client,
            items=outcome.items,
            titles=titles,
            csrf=pages.csrf_token(secret, browser),
        )
    else:
        response = pages.render(
            request,
            "error.html",
            status=outcome.status,
            error=outcome.error,
            description=outcome.description,
        )
    return response


def with_cookies(
    response: Response, rt: Runtime, browser: str, new_browser: bool, session: str | None = None
) -> Response:
    https = secure(rt)
    if new_browser:
        response.set_cookie(
            BROWSER_COOKIE,
            browser,
            max_age=int(BROWSER_LIFETIME.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=https,
        )
    if session is not None:
        response.set_cookie(
            SESSION_COOKIE,
            session,
            max_age=rt.settings.session_ttl,
            httponly=True,
            samesite="lax",
            secure=https,
        )
    return response


async def _form(request: Request, rt: Runtime, browser: str) -> dict[str, list[str]]:
    """A page's form, its CSRF token checked against the browser cookie."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != http.FORM:
        raise Forbidden("submit the page's form")
    try:
        pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise InvalidRequest("the form is not UTF-8") from None
    if len(pairs) > MAX_FORM_FIELDS or any(len(v) > http.MAX_VALUE for _, v in pairs):
        raise InvalidRequest("the form is too large")
    fields: dict[str, list[str]] = {}
    for key, value in pairs:
        fields.setdefault(key, []).append(value)
    secret = rt.settings.secret_key.get_secret_value().encode()
    if not pages.csrf_ok(secret, browser, one(fields, "csrf")):
        raise Forbidden("the form is stale or was not sent from this browser: reload the page")
    return fields


async def submitted(request: Request) -> tuple[Runtime, str, dict[str, list[str]] | Failure]:
    """A page's form as posted by this browser, or why it is refused."""
    rt: Runtime = request.app.state.runtime
    browser, _ = browser_of(request)
    try:
        return rt, browser, await _form(request, rt, browser)
    except GatewayError as error:
        return rt, browser, Failure(403, "access_denied", error.detail or "")


def one(fields: dict[str, list[str]], name: str) -> str:
    return (fields.get(name) or [""])[0]


def router() -> APIRouter:
    web = APIRouter(tags=["sign-in pages"], include_in_schema=True)

    @web.get("/authorize", summary="Authorization endpoint", response_model=None)
    @web.post(
        "/authorize",
        summary="Authorization endpoint (form post)",
        operation_id="authorize_post",
        response_model=None,
    )
    async def authorize(request: Request) -> Response:
        rt: Runtime = request.app.state.runtime
        browser, new = browser_of(request)
        session = request.cookies.get(SESSION_COOKIE)
        try:
            form = await http.read(request, rt.settings.issuer)
        except GatewayError as error:
            outcome: Outcome | Failure = Failure(400, "invalid_request", error.detail or "")
        else:
            outcome = await _run(rt, lambda flow: flow.begin(form, browser, session))
        return with_cookies(render(request, rt, outcome, browser), rt, browser, new)

    @web.post("/signin/choose", summary="The sign-in chooser's form", response_model=None)
    async def choose(request: Request) -> Response:
        rt, browser, fields = await submitted(request)
        if isinstance(fields, Failure):
            return render(request, rt, fields, browser)
        handle, platform = one(fields, "interaction"), one(fields, "platform")
        outcome = await _run(rt, lambda flow: flow.choose(handle, browser, platform))
        return render(request, rt, outcome, browser)

    @web.post("/consent", summary="The consent screen's form", response_model=None)
    async def consent(request: Request) -> Response:
        rt, browser, fields = await submitted(request)
        if isinstance(fields, Failure):
            return render(request, rt, fields, browser)
        handle, approve = one(fields, "interaction"), one(fields, "decision") == "approve"
        chosen = set(fields.get("scope", []))
        session = request.cookies.get(SESSION_COOKIE)
        agent = request.headers.get("user-agent")
        outcome = await _run(
            rt,
            lambda flow: flow.decide(
                handle, browser, session, approve=approve, chosen=chosen, user_agent=agent
            ),
        )
        return render(request, rt, outcome, browser)

    return web
