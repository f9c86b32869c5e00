"""An adapter that stops showing a reply early closes the handler's events (Slack's
Delivery and Discord's AnswerStream do, when a post fails): the provider streams under it
stop there and then, and every usage row is finished before the close returns, not
later when the garbage collector gets to the abandoned generators."""

from __future__ import annotations

import asyncio

import pytest

from bot.reply import Delta, Part, collect
from tests.bot.conftest import Chat
from tests.fakes.loopback import Fault
from tests.ops.harness import poll

THREE = ("openai", "anthropic", "google")


@pytest.fixture
async def three(chat: Chat) -> Chat:
    for provider in THREE:
        await chat.add_key(provider)
    return chat


@pytest.mark.parametrize(
    "line", ["/ask --provider google Tell me a story", "/ask --compare Tell me a story"]
)
async def test_closing_the_events_mid_answer_finishes_every_row(three: Chat, line: str) -> None:
    rig = three.rig
    for provider in THREE:
        rig.fakes[provider].inject(Fault.stall(after=1))  # one piece, then nothing more
    events = three.dispatcher.run(three.invocation(line))
    async for event in events:
        if isinstance(event, Delta) or (isinstance(event, Part) and isinstance(event.event, Delta)):
            break
    await events.aclose()  # type: ignore[attr-defined]
    # Read at once: no loop iteration for a finalizer to close what was left open.
    await rig.engine.ledger.flush()
    rows = await rig.usage_rows()
    assert rows and all(r["outcome"] == "cancelled" for r in rows), [
        (r["provider"], r["outcome"]) for r in rows
    ]


async def test_cancelling_a_summary_mid_way_finishes_its_row(three: Chat) -> None:
    """As an adapter's stop does (``InFlightWork.cancel_rest``): the part being asked is
    cancelled and its row finished before the cancelled command returns."""
    rig = three.rig
    rig.fakes["openai"].inject(Fault.stall())  # the request is held
    line = "/summarize --provider openai Alice: We ship Friday. Bob: I will update the docs."
    command = asyncio.create_task(collect(three.dispatcher.run(three.invocation(line))))
    await poll(lambda: bool(rig.fakes["openai"].requests_to("chat/completions")), "the request")
    command.cancel()
    with pytest.raises(asyncio.CancelledError):
        await command
    await rig.engine.ledger.flush()
    rows = await rig.usage_rows()
    assert [r["outcome"] for r in rows] == ["cancelled"]
