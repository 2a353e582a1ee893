"""The provider's HTTP endpoints: token, introspection, revocation, userinfo and
discovery.

Each route reads the OAuth request at the edge, then hands it to a provider built on
the request's transaction, in a thread. The requests that write nothing and that the
worker can answer from memory never get here: the express lane
(:mod:`gateway.oauth.express`) answers them first.

An OAuth error response commits like a success: what a failed request revoked (a reused
code's family, say) must stay revoked.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gateway.db import transaction
from gateway.edge import PlainRoute, RuntimeDep, runtime
from gateway.errors import InvalidRequest
from gateway.keys import ALGORITHMS
from gateway.members.auth import ASSERTION_ALGORITHMS
from gateway.oauth import http, scopes
from gateway.oauth.clients import AUTH_METHODS, CONFIDENTIAL_METHODS
from gateway.oauth.exchange import GRANT_TYPE
from gateway.oauth.express import answer
from gateway.oauth.http import FormRequest
from gateway.oauth.server import Provider
from gateway.oauth.userinfo import UserInfo, bearer
from gateway.runtime import Runtime


def _form(*names: str) -> dict[str, Any]:
    """OpenAPI for a form body (the handlers read it themselves, to refuse repeats)."""
    properties = {name: {"type": "string", "maxLength": http.MAX_VALUE} for name in names}
    return {
        "requestBody": {
            "required": True,
            "content": {http.FORM: {"schema": {"type": "object", "properties": properties}}},
        }
    }


CLIENT_AUTH = ("client_id", "client_secret", "client_assertion_type", "client_assertion")


def _run(rt: Runtime, form: FormRequest, action: str) -> Response:
    with transaction(rt.sessions) as session:
        return answer(Provider(session, rt), form, action)


# path -> (what the provider does, summary, form fields besides client authentication)
ENDPOINTS = {
    "/token": (
        "token",
        "Token endpoint (RFC 6749 §3.2)",
        (
            "grant_type",
            "code",
            "redirect_uri",
            "code_verifier",
            "refresh_token",
            "scope",
            "subject_token",
            "subject_token_type",
            "requested_token_type",
            "audience",
        ),
    ),
    "/introspect": (
        "introspection",
        "Token introspection (RFC 7662)",
        ("token", "token_type_hint"),
    ),
    "/revoke": ("revocation", "Token revocation (RFC 7009)", ("token", "token_type_hint")),
    "/par": (
        "pushed_authorization",
        "Pushed authorization request (RFC 9126)",
        (
            "response_type",
            "redirect_uri",
            "scope",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "prompt",
            "max_age",
        ),
    ),
}


def _mount(api: APIRouter, path: str, action: str, summary: str, fields: tuple[str, ...]) -> None:
    async def endpoint(request: Request) -> Response:
        rt = runtime(request)
        form = await http.read(request, rt.settings.issuer)
        return await run_in_threadpool(_run, rt, form, action)

    api.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        summary=summary,
        operation_id=action,
        openapi_extra=_form(*fields, *CLIENT_AUTH),
        response_model=None,
        route_class_override=PlainRoute,  # the busiest routes: nothing to solve
    )


def router() -> APIRouter:
    api = APIRouter(tags=["openid provider"])
    for path, (action, summary, fields) in ENDPOINTS.items():
        _mount(api, path, action, summary, fields)

    @api.get("/userinfo", summary="UserInfo endpoint (OIDC Core §5.3)", response_model=None)
    @api.post(
        "/userinfo",
        summary="UserInfo endpoint, token in the form body (RFC 6750 §2.2)",
        operation_id="userinfo_post",
        response_model=None,
    )
    async def userinfo(request: Request, rt: RuntimeDep) -> Response:
        form_token = None
        if request.method == "POST":
            form = await http.read(request, rt.settings.issuer)
            form_token = form.payload.data.get("access_token")
        elif request.url.query:
            raise InvalidRequest("send the access token in the Authorization header")
        token = bearer(request.headers.get("authorization"), form_token)
        claims = await run_in_threadpool(_userinfo, rt, token)
        return JSONResponse(claims, headers=http.NO_STORE)

    @api.get("/.well-known/openid-configuration", summary="OpenID Provider metadata")
    @api.get(
        "/.well-known/oauth-authorization-server",
        summary="Authorization server metadata (RFC 8414)",
    )
    def configuration(rt: RuntimeDep, response: Response) -> dict[str, Any]:
        response.headers["Cache-Control"] = "public, max-age=300"
        return metadata(rt)

    return api


def _userinfo(rt: Runtime, token: str) -> dict[str, Any]:
    with transaction(rt.sessions) as session:
        return UserInfo(Provider(session, rt)).claims(token)


def metadata(rt: Runtime) -> dict[str, Any]:
    """What the provider supports, and nothing it does not (OIDC Discovery §3, RFC 8414)."""
    issuer = rt.settings.issuer
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "require_pushed_authorization_requests": False,  # per client (RFC 9126 §6)
        "introspection_endpoint": f"{issuer}/introspect",
        "revocation_endpoint": f"{issuer}/revoke",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "end_session_endpoint": f"{issuer}/logout",
        "scopes_supported": scopes.supported(rt.standard),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            GRANT_TYPE,
        ],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": list(ALGORITHMS),
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "sid",
            "at_hash",
            "platform_user_id",
        ],
        "authorization_response_iss_parameter_supported": True,
        "prompt_values_supported": ["none", "login", "consent"],
    }
