"""A background job of the app: one piece of work run in a thread every few seconds,
from the lifespan's start until its end.

A failed run is logged (the exception's class only: a driver's message could quote a URL
or a row) and the loop goes on; a failure repeated run after run is logged once, until a
run succeeds again. Stopping lets the run in progress finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable


class Periodic:
    def __init__(
        self, name: str, interval: float, work: Callable[[], object], log: logging.Logger
    ) -> None:
        self.name = name
        self.interval = interval
        self.work = work
        self.log = log
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"accord-{self.name}")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.work)
                failing = False
            except Exception as exc:  # the loop outlives a bad run
                if not failing:
                    self.log.warning("%s failed: %s", self.name, type(exc).__name__)
                failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval)
