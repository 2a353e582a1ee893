"""The dispatcher as a background task of the app: started by the lifespan, stopped
cleanly at shutdown (the run in progress finishes its round; nothing is cut mid-write).
"""

from __future__ import annotations

import asyncio
import logging

from gateway.events.delivery import Dispatcher
from gateway.periodic import Periodic
from gateway.runtime import Runtime

log = logging.getLogger("accord.events")


class BackgroundDispatch:
    def __init__(self, dispatcher: Dispatcher, interval: float) -> None:
        self.dispatcher = dispatcher
        # A failed run leaves its rows queued for the next.
        self._job = Periodic("SET dispatch", interval, dispatcher.run_once, log)

    def start(self) -> None:
        self._job.start()

    async def stop(self) -> None:
        self.dispatcher.stopping = True  # a run in progress ends after its round
        await self._job.stop()
        await asyncio.to_thread(self.dispatcher.close)


def start(rt: Runtime) -> BackgroundDispatch | None:
    """Start pushing SETs every ``ACCORD_EVENTS_INTERVAL`` seconds (0: not at all)."""
    interval = rt.settings.events_interval
    if interval <= 0:
        return None
    background = BackgroundDispatch(Dispatcher(rt), interval)
    background.start()
    return background
