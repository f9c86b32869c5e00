"""The edit throttle: one per message, at most one edit per interval, newest text wins.

A fake clock whose ``sleep`` advances it stands in for time, so these tests check the
pacing exactly and take no time; the end-to-end tests stream through the fake Discord.
"""

from __future__ import annotations

import asyncio
import itertools

import discord

from adapters.discord.render import Outgoing
from adapters.discord.streaming import LiveMessage, Pacing


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class RecordingHandle:
    """A message that records when (on the fake clock) it was edited, and to what."""

    def __init__(self, clock: FakeClock, fail_with: Exception | None = None) -> None:
        self.clock = clock
        self.edits: list[tuple[float, str | None]] = []
        self.fail_with = fail_with

    async def edit(self, out: Outgoing) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.edits.append((self.clock(), out.content))
        await asyncio.sleep(0)

    async def delete(self) -> None:
        raise AssertionError("not expected")


async def test_edits_are_spaced_by_the_interval_and_coalesced() -> None:
    clock = FakeClock()
    handle = RecordingHandle(clock)
    live = LiveMessage(handle, Outgoing("…"), Pacing(1.2, clock, clock.sleep))
    text = ""
    for word in ["one", "two", "three", "four", "five", "six", "seven", "eight"]:
        text += word + " "
        live.show(Outgoing(text))
        await asyncio.sleep(0)
        clock.now += 0.3  # tokens arrive every 0.3 s
    await live.settle(Outgoing(text + "(done)"))
    times = [t for t, _ in handle.edits]
    assert all(b - a >= 1.2 - 1e-9 for a, b in itertools.pairwise(times))
    assert len(handle.edits) < 8  # far fewer edits than tokens
    assert handle.edits[-1][1] == text + "(done)"


async def test_each_message_has_its_own_throttle() -> None:
    clock = FakeClock()
    first, second = RecordingHandle(clock), RecordingHandle(clock)
    pacing = Pacing(1.2, clock, clock.sleep)
    a = LiveMessage(first, Outgoing("a"), pacing)
    b = LiveMessage(second, Outgoing("b"), pacing)
    clock.now += 1.2
    a.show(Outgoing("a2"))
    b.show(Outgoing("b2"))
    await a.settle(Outgoing("a2"))
    await b.settle(Outgoing("b2"))
    assert first.edits == [(101.2, "a2")]
    assert second.edits == [(101.2, "b2")]  # not delayed behind the other message


async def test_an_unchanged_view_is_not_sent_again() -> None:
    clock = FakeClock()
    handle = RecordingHandle(clock)
    live = LiveMessage(handle, Outgoing("same"), Pacing(0, clock, clock.sleep))
    await live.settle(Outgoing("same"))
    assert handle.edits == []


async def test_a_deleted_message_stops_being_edited() -> None:
    clock = FakeClock()
    gone = discord.NotFound(_Response(404), {"message": "Unknown Message", "code": 10008})
    handle = RecordingHandle(clock, fail_with=gone)
    live = LiveMessage(handle, Outgoing("x"), Pacing(0, clock, clock.sleep))
    await live.settle(Outgoing("y"))
    assert live.gone
    live.show(Outgoing("z"))  # ignored, no task, no error
    await live.close()


class _Response:
    """What discord.HTTPException reads from an aiohttp response."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.reason = "Not Found"


class GatedClock(FakeClock):
    """A fake clock whose pacing sleeps last until the test opens the gate (for good)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.sleeping = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeping.set()
        await self.gate.wait()
        self.now += seconds


class GatedHandle(RecordingHandle):
    """A message whose edits stay in flight until the test lets them land."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.land = asyncio.Event()
        self.in_flight = asyncio.Event()

    async def edit(self, out: Outgoing) -> None:
        self.in_flight.set()
        await self.land.wait()
        self.in_flight.clear()
        self.edits.append((self.clock(), out.content))


async def test_a_view_back_to_what_is_shown_withdraws_the_waiting_edit() -> None:
    clock = GatedClock()
    handle = RecordingHandle(clock)
    live = LiveMessage(handle, Outgoing("shown"), Pacing(1.2, clock, clock.sleep))
    live.show(Outgoing("newer"))
    await clock.sleeping.wait()  # the edit waits out the pacing interval
    live.show(Outgoing("shown"))
    clock.gate.set()
    assert await live.settle(Outgoing("shown"))
    assert handle.edits == []


async def test_a_view_equal_to_the_edit_in_flight_is_not_sent_twice() -> None:
    clock = GatedClock()
    handle = GatedHandle(clock)
    live = LiveMessage(handle, Outgoing("v1"), Pacing(1.2, clock, clock.sleep))
    live.show(Outgoing("v2"))
    await clock.sleeping.wait()
    clock.gate.set()
    await handle.in_flight.wait()
    live.show(Outgoing("v2"))  # the same text again while that edit is on its way
    handle.land.set()
    assert await live.settle(Outgoing("v2"))
    assert handle.edits == [(101.2, "v2")]
