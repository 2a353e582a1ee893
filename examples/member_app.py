"""What every demo member's app has: background work (its SET stream's set-up, ...) that
runs for the app's lifetime and its SDK client closed after, and the SET receiver at
the exact events URL the member registered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route

from examples.credentials import Credentials
from examples.inbox import Stream
from sdk import AsyncBrandClient, AsyncPlatformClient, SecurityEvent, set_receiver

EVENTS_PATH = "/accord/events"


def member_app(
    credentials: Credentials,
    client: AsyncBrandClient | AsyncPlatformClient,
    work: Sequence[Callable[[], Coroutine[Any, Any, None]]],
) -> FastAPI:
    """The app, running ``work`` while it serves and closing ``client`` when it stops."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(start()) for start in work]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task
            await client.aclose()

    return FastAPI(title=credentials.name, lifespan=lifespan, docs_url=None, redoc_url=None)


def mount_receiver(
    app: FastAPI,
    credentials: Credentials,
    client: AsyncBrandClient | AsyncPlatformClient,
    stream: Stream,
    on_event: Callable[[SecurityEvent], Any],
) -> None:
    """The SET receiver at the exact registered URL, without the trailing slash a mount
    would redirect to (the gateway never follows a redirect with a SET)."""
    receiver = set_receiver(
        on_event,
        issuer=credentials.issuer,
        audience=credentials.client_id,
        jwks_provider=client.jwks,
        authorization=stream.authorization,
    )
    app.router.routes.append(Route(EVENTS_PATH, receiver, methods=["POST"]))
