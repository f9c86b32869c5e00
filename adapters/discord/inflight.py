"""Handlers at work: a graceful stop waits for them, and each one can be awaited by id.

discord.py runs every interaction and message handler in its own task; the adapter
wraps each in :meth:`Inflight.track` with the event's id (interaction or message), so
``stop()`` can let in-flight answers finish and a caller (a test, a health check) can
await one event being fully handled without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator

__all__ = ["Inflight"]


class Inflight:
    def __init__(self, remember: int = 1000) -> None:
        self._remember = remember
        self._done: OrderedDict[int, asyncio.Event] = OrderedDict()
        self._active = 0
        self._running: set[int] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def active(self) -> int:
        return self._active

    def _event(self, key: int) -> asyncio.Event:
        event = self._done.get(key)
        if event is None:
            event = self._done[key] = asyncio.Event()
            while len(self._done) > self._remember:
                oldest = next(iter(self._done))
                if not self._done[oldest].is_set():
                    break  # never forget an event someone may still be waiting for
                self._done.popitem(last=False)
        return event

    @contextlib.asynccontextmanager
    async def track(self, key: int) -> AsyncIterator[None]:
        self._active += 1
        self._running.add(key)
        self._idle.clear()
        try:
            yield
        finally:
            self._active -= 1
            self._running.discard(key)
            self._event(key).set()
            if self._active == 0:
                self._idle.set()

    async def finished(self, key: int) -> None:
        """Return once the handler of event ``key`` has finished (or already had)."""
        await self._event(key).wait()

    async def outlast(self) -> None:
        """Return once every handler running now has finished (later ones are not waited for)."""
        for key in list(self._running):
            await self._event(key).wait()

    async def idle(self) -> None:
        """Return once no handler is running."""
        await self._idle.wait()
