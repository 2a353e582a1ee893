"""A demo member platform, built only on the SDK: its own login page and demo users,
the login page the gateway sends people to (``/accord/login`` with a ``login_challenge``
or a ``link_challenge``), attribute pushes, and the SETs it receives.

Pages (element ids a browser test can rely on):

- ``/``: signed out, the login form (``#login-form``, ``#user``, ``#password``,
  ``#sign-in``) with the demo users (``#demo-users``, ``#demo-password``); signed in,
  the user (``#user-name``), their profile here (``#profile``), the Accord section
  (``#accord``, ``#open-consent-center``), ``#push-attributes``/``#push-result`` and
  ``#sign-out``.
- ``/accord/login`` (``examples/challenges.py``): the challenge's page, headed
  ``#challenge-title``: the login form, or (already signed in here) ``#confirm-form``
  with ``#continue``, ``#use-another-account``; ``#cancel`` on both; ``#challenge-error``
  when the challenge is missing, unknown, expired or used.
- ``/events``: the SETs received (``#events``, one ``tr.event`` each, newest first),
  ``#stream-status``; the page reloads itself every 3 s.
- ``POST /accord/events``: the SET receiver (``sdk.set_receiver``), the URL registered
  as the platform's events endpoint.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from examples.cast import PASSWORD, PLATFORMS, DemoUser, PlatformCast
from examples.challenges import challenge_routes
from examples.credentials import Credentials, CredentialsError, Listing, directory
from examples.inbox import Inbox, Stream, short_type
from examples.login import demo_users, login_form
from examples.login import error as error_html
from examples.member_app import EVENTS_PATH, member_app, mount_receiver
from examples.pages import Frame, csrf_ok, csrf_token, e, form, local_path, page, table
from examples.pusher import Outcome, Pusher
from examples.serving import main
from sdk import (
    AsyncPlatformClient,
    SecurityEvent,
)

SESSION_TTL = 8 * 3600.0
MAX_SESSIONS = 10_000
EVENTS_REFRESH = 3  # seconds: the events page reloads itself, so new SETs show
WATCHED_EVENTS = {"identity/link-added", "consent/granted", "consent/scope-changed"}
DROPPED = {
    "not_linked": "this account is not linked to an Accord identity yet",
    "not_consented": "no consent of yours to a brand needs them yet",
    "expired": "observed too long ago",
    "stale": "a newer observation is already kept",
    "derived": "computed by the gateway itself",
}


@dataclass
class _Session:
    username: str
    expires: float


class Platform:
    """One platform app's state: its client of the gateway, sessions, SETs, pushes."""

    def __init__(self, credentials: Credentials, cast: PlatformCast, members: Sequence[Listing]):
        self.credentials = credentials
        self.cast = cast
        self.issuer = credentials.issuer
        self.client = AsyncPlatformClient(credentials.issuer, auth=credentials.auth())
        self.cookie = f"{credentials.slug}_session"  # cookies do not tell ports apart
        self.secret = secrets.token_bytes(32)
        self.sessions: dict[str, _Session] = {}
        self.inbox = Inbox()
        self.stream = Stream(self.client, credentials.base_url + EVENTS_PATH)
        self.pusher = Pusher(self.client, {u.account_id: u for u in cast.users})
        others = [(m.base_url + "/", m.name) for m in members if m.slug != credentials.slug]
        self.frame = Frame(
            credentials.name,
            cast.look.accent,
            cast.look.tagline,
            [
                ("/", "Home"),
                ("/events", "Security events"),
                (f"{self.issuer}/center", "Accord consent center"),
                *others,
            ],
        )

    # --- sessions ---------------------------------------------------------------------

    def user_of(self, request: Request) -> tuple[str, DemoUser] | None:
        token = request.cookies.get(self.cookie, "")
        found = self.sessions.get(token)
        if found is None or found.expires < time.monotonic():
            self.sessions.pop(token, None)
            return None
        user = self.cast.user(found.username)
        return (token, user) if user is not None else None

    def sign_in(self, response: Response, user: DemoUser) -> None:
        if len(self.sessions) >= MAX_SESSIONS:
            now = time.monotonic()
            self.sessions = {k: v for k, v in self.sessions.items() if v.expires > now}
            while len(self.sessions) >= MAX_SESSIONS:  # the oldest go first
                self.sessions.pop(next(iter(self.sessions)))
        token = secrets.token_urlsafe(32)
        self.sessions[token] = _Session(user.username, time.monotonic() + SESSION_TTL)
        response.set_cookie(self.cookie, token, httponly=True, samesite="lax", path="/")

    def sign_out(self, request: Request, response: Response) -> None:
        self.sessions.pop(request.cookies.get(self.cookie, ""), None)
        response.delete_cookie(self.cookie, path="/")

    def check_password(self, username: str, password: str) -> DemoUser | None:
        user = self.cast.user(username.strip().lower())
        # Compared in constant time, and for unknown users too: the answer does not say
        # which of the two was wrong.
        matches = secrets.compare_digest(password.encode(), PASSWORD.encode())
        return user if user is not None and matches else None

    # --- SETs -------------------------------------------------------------------------

    def on_event(self, event: SecurityEvent) -> None:
        self.inbox.add(event)
        account = event.payload.get("platform_user_id")
        if short_type(event.event_type) in WATCHED_EVENTS and isinstance(account, str):
            self.pusher.watch(account)  # a link or a consent: the gateway may keep more now

    def label(self, event: SecurityEvent) -> str:
        account = event.payload.get("platform_user_id")
        user = self.cast.by_account(account) if isinstance(account, str) else None
        return f"user {user.username}" if user else ""


# --- pieces of pages ----------------------------------------------------------------------


def _outcome(outcome: Outcome | None) -> str:
    if outcome is None:
        return '<p id="push-result" class="muted">Nothing sent to Accord yet in this run.</p>'
    when = outcome.at.isoformat(timespec="seconds")
    if outcome.error:
        text = f"Sending failed at {when}: {outcome.error}"
    else:
        text = f"Sent {outcome.sent} values at {when}: {outcome.stored} kept by Accord"
        reasons = [
            f"{count} not kept ({DROPPED.get(reason, reason)})"
            for reason, count in sorted(outcome.dropped.items())
        ]
        text += "; " + "; ".join(reasons) + "." if reasons else "."
    return f'<p id="push-result" class="notice">{e(text)}</p>'


def _value(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


# --- the app -----------------------------------------------------------------------------


def create_app(
    credentials: Credentials, cast: PlatformCast, members: Sequence[Listing] = ()
) -> FastAPI:
    platform = Platform(credentials, cast, members)

    app = member_app(
        credentials, platform.client, [platform.stream.keep_trying, platform.pusher.run]
    )
    app.state.platform = platform
    mount_receiver(app, credentials, platform.client, platform.stream, platform.on_event)
    frame = platform.frame

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        ready = platform.stream.ready.is_set()
        body = {
            "status": "ok" if ready else "starting",
            "kind": "platform",
            "name": credentials.name,
            "users": [u.username for u in cast.users],
            "password": PASSWORD,
            "stream": "ready" if ready else platform.stream.problem,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/")
    async def home(request: Request) -> Response:
        signed = platform.user_of(request)
        if signed is None:
            body = (
                f"<h1>Sign in to {e(credentials.name)}</h1>"
                + login_form(credentials.name, "/login")
                + demo_users(cast)
            )
            return page(frame, "Sign in", body)
        token, user = signed
        return page(frame, user.display_name, _home(platform, token, user))

    @app.post("/login")
    async def login(request: Request) -> Response:
        fields = await form(request)
        if fields is None:
            return page(frame, "Sign in", error_html("The form could not be read."), status=400)
        user = platform.check_password(fields.get("user", ""), fields.get("password", ""))
        if user is None:
            body = (
                f"<h1>Sign in to {e(credentials.name)}</h1>"
                + error_html("Wrong user name or password.")
                + login_form(credentials.name, "/login", username=fields.get("user", "")[:64])
                + demo_users(cast)
            )
            return page(frame, "Sign in", body, status=401)
        response = RedirectResponse(local_path(fields.get("next")), status_code=303)
        platform.sign_in(response, user)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        fields = await form(request) or {}
        signed = platform.user_of(request)
        response = RedirectResponse("/", status_code=303)
        if signed is not None and csrf_ok(platform.secret, signed[0], fields.get("csrf")):
            platform.sign_out(request, response)
        return response

    @app.post("/push")
    async def push(request: Request) -> Response:
        fields = await form(request) or {}
        signed = platform.user_of(request)
        if signed is None or not csrf_ok(platform.secret, signed[0], fields.get("csrf")):
            return page(frame, "Not signed in", error_html("Sign in first."), status=403)
        outcome = await platform.pusher.push(signed[1].account_id)
        if not outcome.kept_whole:
            platform.pusher.watch(signed[1].account_id)
        return RedirectResponse("/#push-result", status_code=303)

    @app.get("/events")
    async def events() -> Response:
        status = platform.stream.problem or "receiving: the gateway pushes SETs here"
        body = (
            "<h1>Security events</h1>"
            f"<p>SETs the gateway pushed to {e(credentials.name)} (newest first), each"
            " verified against the gateway's keys.</p>"
            f'<p id="stream-status" class="muted">Stream: {e(status)}. This page reloads every'
            f" {EVENTS_REFRESH} s.</p>" + platform.inbox.html(platform.label)
        )
        return page(frame, "Security events", body, refresh=EVENTS_REFRESH)

    challenge_routes(app, platform)
    return app


def _home(platform: Platform, token: str, user: DemoUser) -> str:
    name, issuer = platform.credentials.name, platform.issuer
    csrf = e(csrf_token(platform.secret, token))
    rows = [
        f'<tr data-category="{e(k)}"><th scope="row"><code>{e(k)}</code></th>'
        f"<td>{e(_value(v))}</td></tr>"
        for k, v in sorted(user.attributes.items())
    ]
    watching = (
        '<p id="push-watching" class="muted">Accord does not keep all of these yet: this'
        " platform sends them again for a few minutes, until a consent of yours to a brand"
        " lets the gateway keep them.</p>"
        if user.account_id in platform.pusher.watching()
        else ""
    )
    return (
        f'<h1>Hello, <span id="user-name">{e(user.display_name)}</span></h1>'
        f'<p class="muted">Signed in to {e(name)} as <code>{e(user.username)}</code>'
        f' (user id <code id="account-id">{e(user.account_id)}</code>).</p>'
        '<section id="accord" aria-labelledby="accord-title">'
        '<h2 id="accord-title">Accord</h2>'
        f"<p>{e(name)} is a member of the Accord alliance: sign in once, link your accounts"
        " at the alliance's platforms, and decide which brand sees what, in one place.</p>"
        "<ul><li><strong>Sign in to the consent center</strong>: open it and choose"
        f" “{e(name)}”. You are signed in here already, so you only confirm.</li>"
        "<li><strong>Link account</strong>: in the consent center, under “Link another"
        " platform”, choose another platform and sign in there; your accounts then"
        " count as one person for the brands you allow.</li></ul>"
        f'<p><a id="open-consent-center" class="button" href="{e(issuer)}/center">'
        "Open the Accord consent center</a></p></section>"
        '<section aria-labelledby="profile-title"><h2 id="profile-title">Your profile here</h2>'
        f"<p>What {e(name)} knows of you, in the alliance's data standard. Accord keeps a"
        " value only while a consent of yours to a brand needs it.</p>"
        + table("profile", ["Category", "Value"], rows)
        + '<form method="post" action="/push">'
        f'<input type="hidden" name="csrf" value="{csrf}">'
        '<button id="push-attributes" type="submit">Send my profile to Accord now</button>'
        "</form>" + _outcome(platform.pusher.last.get(user.account_id)) + watching + "</section>"
        '<form method="post" action="/logout">'
        f'<input type="hidden" name="csrf" value="{csrf}">'
        '<p><button id="sign-out" class="secondary" type="submit">Sign out</button></p></form>'
    )


def build(credentials: Credentials) -> FastAPI:
    """The app for one platform's credentials (``python -m examples.platform FILE``)."""
    cast = PLATFORMS.get(credentials.slug)
    if cast is None:
        raise CredentialsError(f"no demo platform is called {credentials.slug!r}")
    return create_app(credentials, cast, directory(credentials.folder))


if __name__ == "__main__":
    raise SystemExit(main("platform", build))
