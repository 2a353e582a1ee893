"""The demo brand, built only on the SDK: "Sign in with Accord" (the code flow with PKCE
and PAR, through the SDK's relying-party operations), the person's unified view for
``marketing.brand_view``, a sandbox chart of a differentially private count, and the
SETs it receives.

Pages (element ids a browser test can rely on):

- ``/``: ``#sign-in-with-accord`` (signed out); signed in, ``#sub``, ``#view-link``,
  ``#sandbox-link``, ``#sign-out``.
- ``/auth/start`` → the gateway; ``/auth/callback``: back from it (``#signin-error``
  when the answer is refused or not ours).
- ``/view``: ``#view`` (one ``tr`` per category, ``data-category``), ``#view-sources``
  (each platform that sent values, ``li.source``), or ``#view-refused`` when the gateway
  has no view for the brand (consent withdrawn or never given); ``#view-refreshing``
  while the page reloads itself after a sign-in.
- ``/sandbox?dimension=…&epsilon=…`` (``examples/audience.py``): ``#sandbox-form``
  (``#dimension``, ``#epsilon``, ``#run-query``), ``#sandbox-chart`` (SVG, one ``g.bar``
  per group), ``#epsilon-charged``, ``#budget-remaining``, ``#budget-cap``,
  ``#sandbox-groups``; ``#sandbox-refused`` when the budget says no, ``#sandbox-error``
  for a dimension or ε not offered.
- ``/events``: the SETs received (``#events``, ``tr.event``), reloading every 3 s.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from examples.audience import sandbox_routes
from examples.cast import BRAND_ACCENT, BRAND_TAGLINE
from examples.credentials import Credentials, Listing, directory
from examples.inbox import Inbox, Stream
from examples.member_app import EVENTS_PATH, member_app, mount_receiver
from examples.pages import Frame, csrf_ok, csrf_token, e, form, page, table
from examples.serving import main
from sdk import (
    AccordError,
    AsyncBrandClient,
    AuthorizationRefusedError,
    AuthorizationRequest,
    StandardDocument,
    View,
)

PURPOSE = "marketing.brand_view"
SCOPE = f"openid {PURPOSE}"
EVENTS_REFRESH = 3  # seconds: the events page reloads itself, so new SETs show
SESSION_TTL = 8 * 3600.0
PENDING_TTL = 600.0  # a sign-in must come back within this
MAX_PENDING = 1_000
MAX_SESSIONS = 10_000
REFRESH_FOR = 30.0  # seconds after a sign-in the view page reloads itself
REFRESH_EVERY = 2  # seconds


@dataclass
class _Session:
    sub: str
    started: float  # monotonic


class Brand:
    def __init__(self, credentials: Credentials, members: Sequence[Listing]) -> None:
        self.credentials = credentials
        self.client = AsyncBrandClient(credentials.issuer, auth=credentials.auth())
        self.cookie = f"{credentials.slug}_session"  # cookies do not tell ports apart
        self.pending_cookie = f"{credentials.slug}_signin"
        self.secret = secrets.token_bytes(32)
        self.sessions: dict[str, _Session] = {}
        self.pending: dict[str, tuple[AuthorizationRequest, float]] = {}
        self.inbox = Inbox()
        self.stream = Stream(self.client, credentials.base_url + EVENTS_PATH)
        self.platforms = {m.client_id: m.name for m in members if m.kind == "platform"}
        self.standard: StandardDocument | None = None
        others = [(m.base_url + "/", m.name) for m in members if m.slug != credentials.slug]
        self.frame = Frame(
            credentials.name,
            BRAND_ACCENT,
            BRAND_TAGLINE,
            [
                ("/", "Home"),
                ("/view", "Your profile"),
                ("/sandbox", "Audience sandbox"),
                ("/events", "Security events"),
                (f"{credentials.issuer}/center", "Accord consent center"),
                *others,
            ],
        )

    def session_of(self, request: Request) -> tuple[str, _Session] | None:
        token = request.cookies.get(self.cookie, "")
        found = self.sessions.get(token)
        if found is None or time.monotonic() - found.started > SESSION_TTL:
            self.sessions.pop(token, None)
            return None
        return token, found

    def open_session(self, sub: str) -> str:
        while len(self.sessions) >= MAX_SESSIONS:  # the oldest go first
            self.sessions.pop(next(iter(self.sessions)))
        token = secrets.token_urlsafe(32)
        self.sessions[token] = _Session(sub, time.monotonic())
        return token

    def remember(self, request: AuthorizationRequest) -> str:
        now = time.monotonic()
        if len(self.pending) >= MAX_PENDING:
            self.pending = {k: v for k, v in self.pending.items() if now - v[1] < PENDING_TTL}
            while len(self.pending) >= MAX_PENDING:
                self.pending.pop(next(iter(self.pending)))
        token = secrets.token_urlsafe(32)
        self.pending[token] = (request, now)
        return token

    def title(self, key: str) -> str:
        if self.standard is not None:
            with suppress(KeyError):
                return self.standard.category(key).title.en
        return key

    async def load_standard(self) -> None:
        while self.standard is None:
            try:
                self.standard = await self.client.data_standard()
            except AccordError:
                await asyncio.sleep(2.0)


def create_app(credentials: Credentials, members: Sequence[Listing] = ()) -> FastAPI:
    brand = Brand(credentials, members)

    app = member_app(credentials, brand.client, [brand.stream.keep_trying, brand.load_standard])
    app.state.brand = brand
    mount_receiver(app, credentials, brand.client, brand.stream, brand.inbox.add)
    _sign_in_routes(app, brand)
    _view_routes(app, brand)
    sandbox_routes(app, brand)
    return app


def _signed_out_body(brand: Brand, note: str = "") -> str:
    return (
        f"<h1>Welcome to {e(brand.credentials.name)}</h1>{note}"
        "<p>Sign in with your Accord identity: you sign in through a platform you already"
        " use, and Aurora sees only a pseudonym of its own, plus what you choose to share.</p>"
        '<p><a id="sign-in-with-accord" class="button" href="/auth/start">Sign in with'
        " Accord</a></p>"
    )


def _sign_in_routes(app: FastAPI, brand: Brand) -> None:
    frame, credentials = brand.frame, brand.credentials
    callback = credentials.base_url + "/auth/callback"

    def failed(status: int, message: str) -> Response:
        note = f'<p id="signin-error" class="error" role="alert">{e(message)}</p>'
        return page(frame, "Sign-in failed", _signed_out_body(brand, note), status=status)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        ready = brand.stream.ready.is_set()
        body = {
            "status": "ok" if ready else "starting",
            "kind": "brand",
            "name": credentials.name,
            "stream": "ready" if ready else brand.stream.problem,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/")
    async def home(request: Request) -> Response:
        signed = brand.session_of(request)
        if signed is None:
            return page(frame, "Welcome", _signed_out_body(brand))
        token, session = signed
        csrf = e(csrf_token(brand.secret, token))
        body = (
            f"<h1>Welcome back to {e(credentials.name)}</h1>"
            f'<p>You are signed in. Your pseudonym here: <code id="sub">{e(session.sub)}</code>'
            " (no other brand or platform sees it).</p>"
            '<ul><li><a id="view-link" href="/view">What you share with us</a></li>'
            '<li><a id="sandbox-link" href="/sandbox">Our audience sandbox</a></li></ul>'
            f'<form method="post" action="/signout"><input type="hidden" name="csrf"'
            f' value="{csrf}"><button id="sign-out" class="secondary" type="submit">Sign out'
            "</button></form>"
        )
        return page(frame, "Welcome", body)

    @app.get("/auth/start")
    async def start() -> Response:
        try:
            request = await brand.client.start_sign_in(callback, scope=SCOPE, pushed=True)
        except AccordError:
            return failed(502, "The Accord gateway did not answer. Please try again.")
        response = RedirectResponse(request.url, status_code=303)
        response.set_cookie(
            brand.pending_cookie,
            brand.remember(request),
            max_age=int(PENDING_TTL),
            httponly=True,
            samesite="lax",
            path="/auth",
        )
        return response

    @app.get("/auth/callback")
    async def finish(request: Request) -> Response:
        token = request.cookies.get(brand.pending_cookie, "")
        pending = brand.pending.pop(token, None)
        if pending is None or time.monotonic() - pending[1] > PENDING_TTL:
            return failed(400, "This sign-in was not started here, or it took too long.")
        try:
            signed_in = await brand.client.finish_sign_in(str(request.url), pending[0])
        except AuthorizationRefusedError as refused:
            reason = "You did not allow the sign-in." if refused.code == "access_denied" else ""
            return failed(403, reason or f"Accord refused the sign-in ({refused.code}).")
        except AccordError as exc:
            return failed(400, f"The sign-in could not be completed: {exc}"[:300])
        session_token = brand.open_session(signed_in.sub)
        response = RedirectResponse("/view", status_code=303)
        response.delete_cookie(brand.pending_cookie, path="/auth")
        response.set_cookie(brand.cookie, session_token, httponly=True, samesite="lax", path="/")
        return response

    @app.post("/signout")
    async def signout(request: Request) -> Response:
        fields = await form(request) or {}
        signed = brand.session_of(request)
        response = RedirectResponse("/", status_code=303)
        if signed is not None and csrf_ok(brand.secret, signed[0], fields.get("csrf")):
            brand.sessions.pop(signed[0], None)
            response.delete_cookie(brand.cookie, path="/")
        return response

    @app.get("/events")
    async def events() -> Response:
        status = brand.stream.problem or "receiving: the gateway pushes SETs here"
        body = (
            "<h1>Security events</h1>"
            f"<p>SETs the gateway pushed to {e(credentials.name)} (newest first): consents"
            " given and withdrawn, sign-outs, erasure requests.</p>"
            f'<p id="stream-status" class="muted">Stream: {e(status)}. This page reloads every'
            f" {EVENTS_REFRESH} s.</p>" + brand.inbox.html()
        )
        return page(frame, "Security events", body, refresh=EVENTS_REFRESH)


# --- the unified view ----------------------------------------------------------------------


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _view_body(brand: Brand, view: View) -> str:
    rows, sources = [], {}
    for key, attribute in sorted(view.attributes.items()):
        provenance = "".join(
            f'<li class="provenance"><span class="platform">'
            f"{e(brand.platforms.get(s.platform, s.platform))}</span>: {e(_shown(s.value))}</li>"
            for s in attribute.sources or []
        )
        for source in attribute.sources or []:
            sources[source.platform] = brand.platforms.get(source.platform, source.platform)
        rows.append(
            f'<tr data-category="{e(key)}"><th scope="row">{e(brand.title(key))}'
            f'<br><code>{e(key)}</code></th><td class="value">{e(_shown(attribute.value))}</td>'
            f'<td class="merge">{e(attribute.merge)}</td><td><ul>{provenance}</ul></td></tr>'
        )
    waiting = len(set(view.consented) - set(view.attributes))
    listed = "".join(f'<li class="source">{e(name)}</li>' for name in sorted(sources.values()))
    return (
        f"<h1>What you share with {e(brand.credentials.name)}</h1>"
        f"<p>Your unified view for <code>{e(view.purpose)}</code>, merged by Accord across"
        " the platforms you linked; exactly the categories you consented to, and only"
        " those a platform has sent. You can withdraw this consent in the Accord consent"
        " center at any time.</p>"
        f'<section aria-labelledby="sources-title"><h2 id="sources-title">From</h2>'
        f'<ul id="view-sources">{listed or "<li>No platform has sent values yet.</li>"}</ul>'
        + (
            ""
            if listed
            else '<p class="muted">Platforms send them within seconds of a sign-in or a link'
            " through them; “Send my profile to Accord now” on a platform's home page sends"
            " them at once.</p>"
        )
        + "</section>"
        + table("view", ["Category", "Value", "Merge", "Per platform"], rows)
        + f'<p class="muted">{len(view.consented)} categories consented; {waiting} without a'
        " value from any platform.</p>"
    )


def _view_routes(app: FastAPI, brand: Brand) -> None:
    frame = brand.frame

    @app.get("/view")
    async def view_page(request: Request) -> Response:
        signed = brand.session_of(request)
        if signed is None:
            note = '<p id="view-signed-out" class="notice">Sign in to see your profile.</p>'
            return page(frame, "Your profile", _signed_out_body(brand, note), status=401)
        session = signed[1]
        try:
            view = await brand.client.view(session.sub, PURPOSE)
        except AccordError:
            body = '<p id="view-error" class="error">The Accord gateway did not answer.</p>'
            return page(frame, "Your profile", body, status=502)
        if view is None:
            body = (
                f"<h1>What you share with {e(brand.credentials.name)}</h1>"
                '<p id="view-refused" class="notice" role="status">Accord gives us no view of'
                " your profile: your consent to share it with us is not in force (you"
                " withdrew it, or never gave it), so we see nothing but your pseudonym.</p>"
                '<p>To share again, <a href="/auth/start">sign in with Accord</a> and allow'
                " it; the platforms send your values again when you next sign in through"
                " them, or press “Send my profile to Accord now” on their home page.</p>"
            )
            return page(frame, "Your profile", body)
        fresh = time.monotonic() - session.started < REFRESH_FOR
        body = _view_body(brand, view)
        if fresh:
            body += (
                '<p id="view-refreshing" class="muted">The platforms send their values'
                " within seconds of your consent: this page reloads itself for half a"
                " minute after you sign in.</p>"
            )
        return page(frame, "Your profile", body, refresh=REFRESH_EVERY if fresh else None)


def build(credentials: Credentials) -> FastAPI:
    """The brand's app (``python -m examples.brand FILE``)."""
    return create_app(credentials, directory(credentials.folder))


if __name__ == "__main__":
    raise SystemExit(main("brand", build))
