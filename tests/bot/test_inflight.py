"""The one supervisor of work in flight, with real tasks: counted, drained, cancelled."""

from __future__ import annotations

import asyncio

from bot.inflight import Cancelled, InFlightWork

#: Long enough that a unit blocked on a gate is still running when a short grace ends.
SHORT = 0.05
#: A bound on waits that should end at once; a failing test fails rather than hangs.
BOUND = 5.0


async def _until(gate: asyncio.Event, done: list[str], name: str) -> None:
    await gate.wait()
    done.append(name)


async def test_idle_with_nothing_running_returns_at_once() -> None:
    work = InFlightWork()
    assert work.active == 0
    assert await work.wait_idle(0) is True
    assert await work.wait_idle() is True
    await asyncio.wait_for(work.outlast(), BOUND)
    assert await work.cancel_rest(0) == Cancelled(cancelled=0, still_running=0)


async def test_started_and_tracked_units_are_counted_until_they_end() -> None:
    work = InFlightWork()
    gate = asyncio.Event()
    done: list[str] = []
    started = work.start(_until(gate, done, "started"))
    inside = asyncio.Event()

    async def tracked() -> None:
        with work.track():
            inside.set()
            await _until(gate, done, "tracked")

    outside = asyncio.create_task(tracked())
    await asyncio.wait_for(inside.wait(), BOUND)
    assert work.active == 2  # the started one counts before its first step too

    gate.set()
    await asyncio.gather(started, outside)
    assert await work.wait_idle(BOUND) is True
    assert work.active == 0
    assert sorted(done) == ["started", "tracked"]


async def test_work_that_finishes_within_the_grace_is_waited_for() -> None:
    work = InFlightWork()
    gate = asyncio.Event()
    done: list[str] = []
    task = work.start(_until(gate, done, "answer"))
    draining = asyncio.create_task(work.wait_idle(BOUND))
    await asyncio.sleep(0)
    assert not draining.done()

    gate.set()
    assert await draining is True
    assert done == ["answer"] and task.done() and not task.cancelled()


async def test_after_the_grace_the_rest_is_cancelled_and_may_finish_its_bookkeeping() -> None:
    work = InFlightWork()
    never = asyncio.Event()
    booked: list[str] = []

    async def answer(name: str) -> None:
        try:
            await never.wait()
        except asyncio.CancelledError:
            booked.append(name)  # an attempt recorded as cancelled
            raise

    tasks = [work.start(answer("a")), work.start(answer("b"))]
    assert await work.wait_idle(SHORT) is False
    assert work.active == 2

    assert await work.cancel_rest(BOUND) == Cancelled(cancelled=2, still_running=0)
    assert sorted(booked) == ["a", "b"]
    assert all(task.cancelled() for task in tasks)
    assert work.active == 0


async def test_work_that_will_not_stop_is_reported_as_still_running() -> None:
    work = InFlightWork()
    release = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()  # its cleanup outlasts the wait

    task = work.start(stubborn())
    await asyncio.sleep(0)
    assert await work.cancel_rest(SHORT) == Cancelled(cancelled=1, still_running=1)
    assert work.active == 1

    release.set()
    await asyncio.wait_for(task, BOUND)
    assert work.active == 0


async def test_a_task_running_several_tracked_units_is_cancelled_once() -> None:
    work = InFlightWork()
    inside = asyncio.Event()

    async def nested() -> None:
        with work.track(), work.track():
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(nested())
    await asyncio.wait_for(inside.wait(), BOUND)
    assert work.active == 2
    assert await work.cancel_rest(BOUND) == Cancelled(cancelled=1, still_running=0)
    assert task.cancelled()


async def test_work_started_during_the_drain_is_waited_for_too() -> None:
    work = InFlightWork()
    first, second = asyncio.Event(), asyncio.Event()
    done: list[str] = []

    async def spawning() -> None:
        await first.wait()
        work.start(_until(second, done, "follow-up"))  # e.g. an App Home refresh
        done.append("first")

    spawner = work.start(spawning())
    draining = asyncio.create_task(work.wait_idle(BOUND))
    await asyncio.sleep(0)  # the drain has begun with one unit running
    first.set()
    await spawner
    assert not (await asyncio.wait({draining}, timeout=SHORT))[0]
    assert done == ["first"] and work.active == 1  # the follow-up runs

    second.set()
    assert await draining is True
    assert done == ["first", "follow-up"]


async def test_outlast_waits_for_the_work_running_now_not_for_later_work() -> None:
    work = InFlightWork()
    gate, later_gate = asyncio.Event(), asyncio.Event()
    done: list[str] = []
    work.start(_until(gate, done, "now"))
    outlasting = asyncio.create_task(work.outlast())
    await asyncio.sleep(0)
    work.start(_until(later_gate, done, "later"))

    gate.set()
    await asyncio.wait_for(outlasting, BOUND)
    assert done == ["now"] and work.active == 1
    later_gate.set()
    assert await work.wait_idle(BOUND) is True


async def test_finished_awaits_the_unit_tracked_under_a_key_even_before_it_starts() -> None:
    work = InFlightWork(remember=2)
    gate = asyncio.Event()

    async def handler(key: int) -> None:
        with work.track(key):
            await gate.wait()

    waiting = asyncio.create_task(work.finished(7))  # asked before the handler runs
    task = asyncio.create_task(handler(7))
    await asyncio.sleep(0)
    assert not waiting.done()
    gate.set()
    await asyncio.wait_for(waiting, BOUND)
    await task

    for key in (8, 9, 10):  # past ``remember``: old keys are forgotten once finished
        await handler(key)
    await asyncio.wait_for(work.finished(10), BOUND)
