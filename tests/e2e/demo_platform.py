"""A member platform's login page, built only on the SDK: it shows a form, "signs in"
whoever types a user name (the platform's own authentication is not the point here),
and answers the gateway's login or link challenge through the SDK. It also receives
the SETs pushed to it, and serves a relying party's callback page."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from sdk import AsyncPlatformClient, SecurityEvent, set_receiver

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{name}</title></head>
<body><main><h1>{name}</h1>
<form method="post" action="/login">
<input type="hidden" name="challenge" value="{challenge}">
<input type="hidden" name="kind" value="{kind}">
<label for="user">User name at {name}</label>
<input id="user" name="user" autocomplete="username">
<button type="submit">Sign in to {name}</button>
</form></main></body></html>"""


def platform_app(
    name: str, client: AsyncPlatformClient, *, receiver: dict[str, Any] | None = None
) -> tuple[FastAPI, list[SecurityEvent]]:
    """The app, and the list the SETs it receives are appended to."""
    app = FastAPI()
    received: list[SecurityEvent] = []

    @app.get("/login", response_class=HTMLResponse)
    async def login(login_challenge: str = "", link_challenge: str = "") -> str:
        kind = "link" if link_challenge else "login"
        challenge = link_challenge or login_challenge
        return PAGE.format(name=html.escape(name), challenge=html.escape(challenge), kind=kind)

    @app.post("/login")
    async def signed_in(request: Request) -> RedirectResponse:
        form = dict(parse_qsl((await request.body()).decode()))
        challenge, kind, user = form["challenge"], form["kind"], form["user"]
        if kind == "link":
            back = await client.accept_link(challenge, user, amr=["pwd"])
        else:
            back = await client.accept_login(challenge, user, amr=["pwd"], acr="1")
        return RedirectResponse(back, status_code=303)

    @app.get("/cb", response_class=HTMLResponse)
    async def callback(request: Request) -> str:
        return (
            f"<!doctype html><title>back</title><p id='back'>{html.escape(request.url.query)}</p>"
        )

    if receiver is not None:
        app.mount("/events", set_receiver(received.append, **receiver))
    return app, received


def brand_app(receiver: dict[str, Any]) -> tuple[FastAPI, list[SecurityEvent]]:
    """A brand's site: its OAuth callback page, and its SET receiver."""
    app = FastAPI()
    received: list[SecurityEvent] = []

    @app.get("/cb", response_class=HTMLResponse)
    async def callback(request: Request) -> str:
        got = "code" in request.query_params
        return f"<!doctype html><title>back</title><p id='back'>{'signed in' if got else 'no'}</p>"

    app.mount("/events", set_receiver(received.append, **receiver))
    return app, received
