"""``create_app(settings)``: the gateway as an ASGI application. No globals."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.routing import Route

from gateway import changes, discovery, errors, health, openapi
from gateway.admission import Admission, size_thread_limiter
from gateway.consents import api as consents_api
from gateway.consents import log_api
from gateway.consents import upkeep as consents_upkeep
from gateway.events import api as events_api
from gateway.events import background as events_background
from gateway.identity import challenge_api
from gateway.limits import BodyLimit, HeadLimit
from gateway.members import api as members_api
from gateway.oauth import api as oauth_api
from gateway.oauth.express import ExpressLane
from gateway.observability import logs
from gateway.observability.requests import RequestTelemetry
from gateway.observability.tracing import Tracing
from gateway.operator import api as operator_api
from gateway.ratelimit.guard import RateLimits
from gateway.rights import api as rights_api
from gateway.runtime import Runtime
from gateway.sandbox import api as sandbox_api
from gateway.serving import settle_heap
from gateway.settings import Settings, load_settings
from gateway.standard import api as standard_api
from gateway.training import api as training_api
from gateway.views import api as views_api
from gateway.views.ingest import AttributeRules
from gateway.web import center, rights, signout
from gateway.web import routes as web_routes

VERSION = "0.1.0"


def mount(app: FastAPI, *routers: APIRouter) -> None:
    """Add each router's routes to the app's own list, in order.

    FastAPI (0.138) keeps an included router as one lazy entry: every request then
    walks each included router and builds the matched route's handler anew, some 0.3
    ms a request here. A router's routes already carry its prefix, tags and
    dependencies, so one with nothing else to merge (no start-up or shut-down handlers,
    no routers of its own) is added route by route, as if declared on the app; any
    other is included the usual way."""
    for router in routers:
        plain = all(isinstance(route, Route) for route in router.routes)
        if plain and not router.on_startup and not router.on_shutdown:
            app.router.routes.extend(router.routes)
        else:
            app.include_router(router)


def create_app(
    settings: Settings, *, runtime: Runtime | None = None, tracing: Tracing | None = None
) -> FastAPI:
    rt = runtime or Runtime.build(settings)
    traced = tracing or Tracing.configured(settings, os.environ)
    rt.keys.active()  # a signing key exists (and is in the JWKS) before the first request

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        size_thread_limiter(settings.max_concurrent_requests)  # this loop's, before requests
        dispatch = events_background.start(rt)  # pushes SETs until shutdown
        upkeep = consents_upkeep.start(rt)  # sequences the consent log, expires consents
        poller = changes.start(rt.changes, rt.engine, settings.change_poll)
        yield
        if poller is not None:
            await poller.stop()
        if upkeep is not None:
            await upkeep.stop()
        if dispatch is not None:
            await dispatch.stop()
        await rt.limits.limiter.aclose()  # its connections belong to this event loop
        if runtime is None:  # we built it, we close it
            rt.close()
        if tracing is None and traced is not None:
            traced.shutdown()  # exports the spans still queued

    app = FastAPI(
        title="Accord gateway",
        version=VERSION,
        summary="Identity federation and consent gateway for a social e-commerce alliance",
        lifespan=lifespan,
    )
    app.state.runtime = rt
    app.state.rendered_standard = standard_api.Rendered(rt.standard)
    app.state.attribute_rules = AttributeRules(rt.standard)
    errors.install(app)
    openapi.install(app)
    mount(
        app,
        oauth_api.router(),  # first: the token endpoint is matched soonest
        health.router,
        discovery.router,
        web_routes.router(),
        signout.router(),
        center.router(),
        rights.router(),
        standard_api.router,
        members_api.router(),
        events_api.well_known,
        events_api.router(),
        consents_api.member_router(),
        consents_api.operator_router(),
        consents_api.public_router(),
        log_api.router,
        rights_api.member_router(),
        rights_api.operator_router(),
        challenge_api.router(),
        operator_api.router(),
        views_api.router(),
        sandbox_api.router(),
        sandbox_api.operator_router(),
        training_api.router(),
        training_api.operator_router(),
    )
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        wider={
            views_api.ATTRIBUTES_PATH: settings.max_attribute_bytes,
            training_api.MODELS_PATH: settings.max_model_bytes,
        },
    )
    # Past the express lane (which needs no thread), before anything that takes one.
    app.add_middleware(Admission, limit=settings.max_concurrent_requests, wait=settings.queue_wait)
    # In front of the framework: what it answers from memory never enters it.
    app.add_middleware(ExpressLane, runtime=rt, max_bytes=settings.max_body_bytes)
    # Counted before the express lane answers anything.
    app.add_middleware(RateLimits, limits=rt.limits, max_bytes=settings.max_body_bytes)
    app.add_middleware(HeadLimit)  # first of the limits: a head too large is refused unparsed
    # Outermost: every answer, refusals and the express lane's included, is timed, logged
    # and carries a request id.
    app.add_middleware(
        RequestTelemetry, metrics=rt.metrics, access_log=settings.access_log, tracing=traced
    )
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory gateway.app:create_app_from_env`` (several workers).
    A serving process: its logging becomes the gateway's (redacted, with request ids)."""
    settings = load_settings()
    logs.install_for(settings)
    app = create_app(settings)
    settle_heap()  # what start-up built lives as long as the worker
    return app
