"""The dispatcher as a background task of the app: started by the lifespan, stopped
cleanly at shutdown (the run in progress finishes its round; nothing is cut mid-write).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gateway.events.delivery import Dispatcher
from gateway.runtime import Runtime

log = logging.getLogger("accord.events")


class BackgroundDispatch:
    def __init__(self, dispatcher: Dispatcher, interval: float) -> None:
        self.dispatcher = dispatcher
        self.interval = interval
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="accord-events")

    async def stop(self) -> None:
        self._stop.set()
        self.dispatcher.stopping = True  # a run in progress ends after its round
        if self._task is not None:
            await self._task
        await asyncio.to_thread(self.dispatcher.close)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.dispatcher.run_once)
            except Exception as exc:  # the loop outlives a bad run; the rows stay queued
                # The class name only: a driver message could quote a URL or a row.
                log.warning("SET dispatch failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval)


def start(rt: Runtime) -> BackgroundDispatch | None:
    """Start pushing SETs every ``ACCORD_EVENTS_INTERVAL`` seconds (0: not at all)."""
    interval = rt.settings.events_interval
    if interval <= 0:
        return None
    background = BackgroundDispatch(Dispatcher(rt), interval)
    background.start()
    return background
