"""``/accord/login``: the page the gateway sends a person to with a ``login_challenge``
or a ``link_challenge``. It shows the platform's login form (or, when the person is
signed in at the platform already, asks them to confirm), and answers the challenge
through the SDK (``accept_login``, ``accept_link`` or ``reject_login``), sending the
browser back to the gateway. The challenge itself is checked by the gateway
(``describe_challenge``) before anything is shown.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from examples.cast import DemoUser
from examples.login import demo_users, login_form
from examples.login import error as error_html
from examples.pages import csrf_ok, csrf_token, e, form, page
from sdk import AccordError, BadRequestError, ConflictError, GoneError, NotFoundError

if TYPE_CHECKING:
    from examples.platform import Platform

CHALLENGE = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")  # the gateway's own bound on a challenge


def _refusal(exc: AccordError) -> tuple[int, str]:
    if isinstance(exc, GoneError):
        return 410, "This request has expired (they last a few minutes). Please start again."
    if isinstance(exc, ConflictError):
        return 409, "This request was already answered. Please start again."
    if isinstance(exc, NotFoundError | BadRequestError):
        return 400, "This request is not one this platform can answer. Please start again."
    return 502, "The Accord gateway did not answer as expected. Please try again."


class Refused(Exception):
    """A challenge page cannot go on: the status and what to tell the person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Challenges:
    """``/accord/login``: where the gateway sends a person with a login or link challenge."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.name = platform.credentials.name

    def problem(self, refused: Refused) -> Response:
        body = (
            "<h1>Cannot continue</h1>"
            f'<p id="challenge-error" class="error" role="alert">{e(refused.message)}</p>'
            f'<p><a href="{e(self.platform.issuer)}/center">Back to the Accord consent'
            " center</a></p>"
        )
        return page(self.platform.frame, "Cannot continue", body, status=refused.status)

    async def intro(self, challenge: str, kind: str) -> str:
        """What the person is doing, from the gateway (which also checks the challenge)."""
        try:
            info = await self.platform.client.describe_challenge(challenge)
        except AccordError as exc:
            raise Refused(*_refusal(exc)) from None
        if info.state != "pending" or info.kind != kind:
            raise Refused(409, "This request was already answered. Please start again.")
        name = e(self.name)
        if kind == "link":
            return (
                f'<h1 id="challenge-title">Link your {name} account</h1><p>Sign in to {name}'
                " to link this account"
                " to your Accord identity. The consent center asks you to confirm the link"
                " afterwards.</p>"
            )
        client = (info.client or {}).get("name")
        heading = f"Sign in to {client} with Accord" if client else "Sign in with Accord"
        return (
            f'<h1 id="challenge-title">{e(heading)}</h1><p>Accord asks {name} who you are.'
            f" {name} vouches for you; your password stays here.</p>"
        )

    def login_body(self, intro: str, challenge: str, kind: str, error: str = "") -> str:
        hidden = {"challenge": challenge, "kind": kind}
        return (
            intro
            + (error_html(error) if error else "")
            + login_form(self.name, "/accord/login", hidden=hidden, cancel=True)
            + demo_users(self.platform.cast)
        )

    def confirm_body(
        self, intro: str, challenge: str, kind: str, token: str, user: DemoUser
    ) -> str:
        csrf = csrf_token(self.platform.secret, token)
        fields = "".join(
            f'<input type="hidden" name="{k}" value="{e(v)}">'
            for k, v in {"challenge": challenge, "kind": kind, "csrf": csrf}.items()
        )
        return (
            intro + f'<p id="signed-in-as">You are signed in to {e(self.name)} as <strong>'
            f"{e(user.username)}</strong> ({e(user.display_name)}).</p>"
            f'<form id="confirm-form" method="post" action="/accord/login">{fields}'
            '<button id="continue" type="submit" name="decision" value="continue">Continue as'
            f" {e(user.username)}</button> "
            '<button id="use-another-account" class="secondary" type="submit" name="decision"'
            ' value="switch">Use another account</button> '
            '<button id="cancel" class="secondary" type="submit" name="decision"'
            ' value="cancel">Cancel</button></form>'
        )

    async def show(self, request: Request, login_challenge: str, link_challenge: str) -> Response:
        if bool(login_challenge) == bool(link_challenge):
            raise Refused(400, "Open this page from Accord: it needs one sign-in request.")
        kind = "link" if link_challenge else "login"
        challenge = link_challenge or login_challenge
        if not CHALLENGE.match(challenge):
            raise Refused(400, "This request is not one this platform can answer.")
        intro = await self.intro(challenge, kind)
        signed = self.platform.user_of(request)
        body = (
            self.login_body(intro, challenge, kind)
            if signed is None
            else self.confirm_body(intro, challenge, kind, *signed)
        )
        return page(self.platform.frame, "Accord", body)

    async def answer(self, request: Request) -> Response:
        fields = await form(request) or {}
        challenge, kind = fields.get("challenge", ""), fields.get("kind", "")
        if not CHALLENGE.match(challenge) or kind not in {"login", "link"}:
            raise Refused(400, "Open this page from Accord: it needs one sign-in request.")
        decision = fields.get("decision", "signin")
        client = self.platform.client
        if decision == "cancel":
            back = await _call(
                client.reject_login(
                    challenge, error="access_denied", description="cancelled at the platform"
                )
            )
            return self.back(back)
        if decision == "switch":  # signed in as someone else here: sign out, ask again
            body = self.login_body(await self.intro(challenge, kind), challenge, kind)
            response = page(self.platform.frame, "Accord", body)
            self.platform.sign_out(request, response)
            return response
        if decision == "continue":
            signed = self.platform.user_of(request)
            if signed is None or not csrf_ok(self.platform.secret, signed[0], fields.get("csrf")):
                raise Refused(403, "Your session here has ended. Please start again.")
            user, fresh = signed[1], False
        else:
            found = self.platform.check_password(fields.get("user", ""), fields.get("password", ""))
            if found is None:
                intro = await self.intro(challenge, kind)
                body = self.login_body(intro, challenge, kind, "Wrong user name or password.")
                return page(self.platform.frame, "Accord", body, status=401)
            user, fresh = found, True
        if kind == "link":
            back = await _call(client.accept_link(challenge, user.account_id, amr=["pwd"]))
        else:
            back = await _call(
                client.accept_login(
                    challenge, user.account_id, acr="urn:accord:acr:pwd", amr=["pwd"]
                )
            )
        self.platform.pusher.watch(user.account_id)  # linked soon: the gateway may keep more
        going = self.back(back)
        if fresh:
            self.platform.sign_in(going, user)  # signed in here too, as on any login page
        return going

    def back(self, url: str) -> Response:
        # The URL comes from the gateway through the SDK; still, send the browser only there.
        if not url.startswith(self.platform.issuer + "/"):
            raise Refused(502, "The Accord gateway answered with an unexpected address.")
        return RedirectResponse(url, status_code=303)


async def _call(answer: Awaitable[str]) -> str:
    try:
        return await answer
    except AccordError as exc:
        raise Refused(*_refusal(exc)) from None


def challenge_routes(app: FastAPI, platform: Platform) -> None:
    challenges = Challenges(platform)

    @app.get("/accord/login")
    async def challenge_page(
        request: Request, login_challenge: str = "", link_challenge: str = ""
    ) -> Response:
        try:
            return await challenges.show(request, login_challenge, link_challenge)
        except Refused as refused:
            return challenges.problem(refused)

    @app.post("/accord/login")
    async def answer(request: Request) -> Response:
        try:
            return await challenges.answer(request)
        except Refused as refused:
            return challenges.problem(refused)
