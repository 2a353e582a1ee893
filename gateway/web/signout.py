"""The browser's route of RP-initiated logout: ask when the request could be forged,
end the session, clear its cookie, and go back to the client or say it is done."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Error
from fastapi import APIRouter, Request
from sqlmodel import Session
from starlette.responses import RedirectResponse, Response

from gateway.errors import GatewayError
from gateway.oauth import http
from gateway.oauth.authorize import Failure
from gateway.oauth.http import FormRequest
from gateway.oauth.logout import Back, Confirm, Logout, SignedOut
from gateway.oauth.sessions import SESSION_COOKIE
from gateway.runtime import Runtime
from gateway.web import pages
from gateway.web.routes import browser_of, in_transaction, render, secure


def router() -> APIRouter:
    web = APIRouter(tags=["sign-in pages"])

    @web.get("/logout", summary="End session (OIDC RP-Initiated Logout 1.0)", response_model=None)
    @web.post(
        "/logout",
        summary="End session (form post, or the confirmation form)",
        operation_id="logout_post",
        response_model=None,
    )
    async def logout(request: Request) -> Response:
        rt: Runtime = request.app.state.runtime
        browser, _ = browser_of(request)
        session = request.cookies.get(SESSION_COOKIE)
        try:
            form = await http.read(request, rt.settings.issuer)
        except GatewayError as error:
            failure = Failure(400, "invalid_request", error.detail or "")
            return render(request, rt, failure, browser)
        fields = form.payload.data
        confirmed = request.method == "POST" and fields.pop("confirm", None) == "yes"
        secret = rt.settings.secret_key.get_secret_value().encode()
        if confirmed and not pages.csrf_ok(secret, browser, fields.pop("csrf", None)):
            failure = Failure(403, "access_denied", "the form is stale: reload the page")
            return render(request, rt, failure, browser)
        outcome = await in_transaction(rt, lambda db: _logout(db, rt, form, session, confirmed))
        if isinstance(outcome, Failure):
            return render(request, rt, outcome, browser)
        if isinstance(outcome, Confirm):
            return pages.render(
                request,
                "logout.html",
                client=outcome.client,
                parameters=outcome.parameters,
                csrf=pages.csrf_token(secret, browser),
            )
        response: Response
        if isinstance(outcome, Back):
            response = RedirectResponse(outcome.url, 303, headers={"Cache-Control": "no-store"})
        else:
            response = pages.render(request, "signed_out.html")
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=secure(rt))
        return response

    return web


def _logout(
    db: Session, rt: Runtime, form: FormRequest, session: str | None, confirmed: bool
) -> Confirm | Back | SignedOut | Failure:
    try:
        return Logout(db, rt).run(form, session, confirmed=confirmed)
    except OAuth2Error as error:  # never redirected (RP-Initiated Logout 1.0 §4)
        return Failure(400, error.error, error.get_error_description() or error.error)
