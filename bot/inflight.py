"""Work in flight: what a graceful stop waits for, and cancels once the grace is over.

Each part of the bot that starts work a stop must account for holds one
:class:`InFlightWork`: the dispatcher (each command), the Discord adapter (each event
handler discord.py runs in its own task) and the Slack runtime (each job it runs after
acknowledging Slack). A unit of work is either a task it starts (:meth:`~InFlightWork.start`)
or the current task for the span of a ``with`` block (:meth:`~InFlightWork.track`).

A stop then waits for :meth:`~InFlightWork.wait_idle` within its grace period (work
started in the meantime is waited for too) and :meth:`~InFlightWork.cancel_rest` cancels
what is left, letting each cancelled task finish its bookkeeping, and says how many did
not stop. :meth:`~InFlightWork.outlast` waits for the work running now only (a shard
closing after its answers), and :meth:`~InFlightWork.finished` for the unit tracked under
a key (an event's id), so a test or a health check never needs to sleep.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Coroutine, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Cancelled", "InFlightWork"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Cancelled:
    """What :meth:`InFlightWork.cancel_rest` did."""

    #: Tasks cancelled (a task running several units counts once).
    cancelled: int
    #: Units still running when the wait was over: they did not stop.
    still_running: int


class _Unit:
    """One unit of work: the task running it (None outside a task) and when it ended."""

    __slots__ = ("done", "key", "task")

    def __init__(self, key: Hashable | None, task: asyncio.Task[Any] | None) -> None:
        self.key = key
        self.task = task
        self.done = asyncio.Event()


class InFlightWork:
    """The units of work running now: counted, awaited until idle, cancelled at the end.

    ``remember`` bounds how many finished keys :meth:`finished` still knows.
    """

    def __init__(self, *, remember: int = 1000) -> None:
        self._units: set[_Unit] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._remember = remember
        self._finished: OrderedDict[Hashable, asyncio.Event] = OrderedDict()

    @property
    def active(self) -> int:
        """How many units are running now."""
        return len(self._units)

    def start(self, work: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Run ``work`` in a task of its own, in flight from now until the task is done."""
        task = asyncio.create_task(work, name=name)
        unit = self._begin(None, task)
        task.add_done_callback(lambda _: self._end(unit))
        return task

    @contextmanager
    def track(self, key: Hashable | None = None) -> Iterator[None]:
        """The current task's work inside the block is in flight (and cancellable).

        With ``key`` (an event's id), :meth:`finished` can await the block's end.
        """
        unit = self._begin(key, asyncio.current_task())
        try:
            yield
        finally:
            self._end(unit)

    async def wait_idle(self, grace_s: float | None = None) -> bool:
        """Return once nothing runs, work started meanwhile included; False if ``grace_s`` ran out.

        ``None`` waits as long as it takes.
        """
        try:
            async with asyncio.timeout(grace_s):
                while self._units:
                    await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def outlast(self) -> None:
        """Return once every unit running now has ended (later ones are not waited for)."""
        for unit in list(self._units):
            await unit.done.wait()

    async def finished(self, key: Hashable) -> None:
        """Return once the unit tracked under ``key`` has ended (or already had)."""
        await self._finished_event(key).wait()

    async def cancel_rest(self, wait_s: float | None = None) -> Cancelled:
        """Cancel the tasks of every unit running now and wait up to ``wait_s`` for them to end.

        Cancelling lets each one finish its bookkeeping (an attempt in progress is recorded
        as cancelled). ``None`` waits as long as it takes.
        """
        units = list(self._units)
        tasks = {u.task for u in units if u.task is not None and not u.task.done()}
        for task in tasks:
            task.cancel()
        try:
            async with asyncio.timeout(wait_s):
                for unit in units:
                    await unit.done.wait()
        except TimeoutError:
            pass
        return Cancelled(len(tasks), sum(not unit.done.is_set() for unit in units))

    def _begin(self, key: Hashable | None, task: asyncio.Task[Any] | None) -> _Unit:
        unit = _Unit(key, task)
        self._units.add(unit)
        self._idle.clear()
        return unit

    def _end(self, unit: _Unit) -> None:
        self._units.discard(unit)
        unit.done.set()
        if unit.key is not None:
            self._finished_event(unit.key).set()
        if not self._units:
            self._idle.set()

    def _finished_event(self, key: Hashable) -> asyncio.Event:
        event = self._finished.get(key)
        if event is None:
            event = self._finished[key] = asyncio.Event()
            while len(self._finished) > self._remember:
                oldest = next(iter(self._finished))
                if not self._finished[oldest].is_set():
                    break  # never forget a key someone may still be waiting for
                self._finished.popitem(last=False)
        return event
