"""Streaming into Slack step by step, with a scripted answer, against the fake Slack."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

from adapters.slack.app import build_client
from adapters.slack.delivery import Delivery, SlackOptions, Target
from adapters.slack.streaming import EditBudget
from bot.reply import Delta, Reply, ReplyEvent, Status
from tests.fakes.fake_slack import FakeSlack

Step = ReplyEvent | Callable[[], Awaitable[None]]


async def script(steps: list[Step]) -> AsyncIterator[ReplyEvent]:
    """Yields the events; a callable step is awaited in between (waiting for Slack)."""
    for step in steps:
        if callable(step):
            await step()
        else:
            yield step


def delivery(
    fake: FakeSlack,
    channel: str,
    *,
    thread_ts: str | None = None,
    budget: EditBudget | None = None,
    **options: object,
) -> Delivery:
    client = build_client(fake.api_url, "xoxb-" + secrets.token_hex(8))
    target = Target(channel=channel, user="U111", team="T111", private=False, thread_ts=thread_ts)
    settings = SlackOptions(**{"interval": 0.0, **options})  # type: ignore[arg-type]
    return Delivery(client, target, settings, budget=budget)


def shows(fake: FakeSlack, channel: str, text: str) -> Callable[[], Awaitable[None]]:
    async def wait() -> None:
        await fake.wait_for(lambda: any(text in t for t in fake.texts(channel)))

    return wait


FINAL = Reply(
    text="one two three",
    footer="openai · m · 1 in / 3 out tokens · $0.01",
    tone="answer",
    private=False,
)


async def test_each_delta_is_shown_as_it_arrives(fake_slack: FakeSlack) -> None:
    steps: list[Step] = [
        Status("Thinking…"),
        shows(fake_slack, "C1", "Thinking…"),
        Delta("one "),
        shows(fake_slack, "C1", "one"),
        Delta("two "),
        shows(fake_slack, "C1", "one two"),
        Delta("three"),
        FINAL,
    ]

    reply = await delivery(fake_slack, "C1", native_streaming=False).run(script(steps))

    assert reply == FINAL
    (post,) = fake_slack.calls_to("chat.postMessage")
    assert "Thinking…" in json.dumps(post.args["blocks"], ensure_ascii=False)
    updates = [
        json.dumps(c.args["blocks"], ensure_ascii=False) for c in fake_slack.calls_to("chat.update")
    ]
    assert "one" in updates[0] and "two" not in updates[0] and ":writing_hand:" in updates[0]
    assert "one two three" in updates[-1] and "openai · m" in updates[-1]
    assert ":writing_hand:" not in updates[-1]


async def test_a_thread_reply_streams_with_the_chat_stream_api(fake_slack: FakeSlack) -> None:
    def streamed(text: str) -> Callable[[], Awaitable[None]]:
        async def wait() -> None:
            await fake_slack.wait_for(
                lambda: any(
                    text in (m.get("streamed") or "") for m in fake_slack.messages.get("C2", [])
                )
            )

        return wait

    steps: list[Step] = [
        Delta("one "),
        streamed("one"),
        Delta("two "),
        streamed("two"),
        Delta("three"),
        FINAL,
    ]

    await delivery(fake_slack, "C2", thread_ts="1.1").run(script(steps))

    assert [c.method for c in fake_slack.calls if c.method.startswith("chat.")] == [
        "chat.startStream",
        "chat.appendStream",
        "chat.appendStream",
        "chat.stopStream",
    ]
    (message,) = fake_slack.messages["C2"]
    assert message["streamed"] == "one two three"
    assert message["blocks"][-1]["elements"][0]["text"].startswith("openai · m")


async def test_each_message_has_its_own_pace(fake_slack: FakeSlack) -> None:
    """A slow-paced answer never holds another answer back."""
    first_posted = shows(fake_slack, "CA", "a1")
    both_running = asyncio.Event()

    async def release() -> None:
        await both_running.wait()

    async def second_posted() -> None:
        await shows(fake_slack, "CB", "b1")()
        both_running.set()

    a = delivery(fake_slack, "CA", native_streaming=False, interval=60.0)
    b = delivery(fake_slack, "CB", native_streaming=False, interval=60.0)
    reply_a = Reply(text="a1 a2", private=False, tone="answer")
    reply_b = Reply(text="b1 b2", private=False, tone="answer")
    await asyncio.wait_for(
        asyncio.gather(
            a.run(script([Delta("a1 "), first_posted, release, Delta("a2"), reply_a])),
            b.run(script([Delta("b1 "), second_posted, Delta("b2"), reply_b])),
        ),
        timeout=5,
    )

    assert len(fake_slack.calls_to("chat.postMessage")) == 2
    # Within the 60 s pace only the final edit of each message was sent.
    assert sorted(c.args["channel"] for c in fake_slack.calls_to("chat.update")) == ["CA", "CB"]
    assert fake_slack.texts("CA") == ["a1 a2"] and fake_slack.texts("CB") == ["b1 b2"]


def fixed_clock() -> Callable[[], float]:
    """A clock that stands still: the budget refills only when a test says so."""
    return lambda: 1000.0


async def test_answers_streaming_at_once_share_one_edit_budget(fake_slack: FakeSlack) -> None:
    """Interim edits of both answers come out of one budget; both finals go through."""
    budget = EditBudget(per_minute=45, burst=2, clock=fixed_clock())
    a_ready, b_ready = asyncio.Event(), asyncio.Event()

    async def wait_a() -> None:
        await a_ready.wait()

    async def wait_b() -> None:
        await b_ready.wait()

    async def set_a() -> None:
        a_ready.set()

    async def set_b() -> None:
        b_ready.set()

    a = delivery(fake_slack, "CA", native_streaming=False, budget=budget)
    b = delivery(fake_slack, "CB", native_streaming=False, budget=budget)
    reply_a = Reply(text="a1 a2 a3", private=False, tone="answer")
    reply_b = Reply(text="b1 b2 b3", private=False, tone="answer")
    await asyncio.wait_for(
        asyncio.gather(
            # a1 is posted, a2 is an edit (the first token), then b takes the second.
            a.run(
                script(
                    [
                        Delta("a1 "),
                        shows(fake_slack, "CA", "a1"),
                        Delta("a2 "),
                        shows(fake_slack, "CA", "a2"),
                        set_a,
                        wait_b,
                        Delta("a3"),
                        reply_a,
                    ]
                )
            ),
            b.run(
                script(
                    [
                        wait_a,
                        Delta("b1 "),
                        shows(fake_slack, "CB", "b1"),
                        Delta("b2 "),
                        shows(fake_slack, "CB", "b2"),
                        set_b,
                        Delta("b3"),
                        reply_b,
                    ]
                )
            ),
        ),
        timeout=5,
    )

    updates = fake_slack.calls_to("chat.update")
    interim = [c for c in updates if ":writing_hand:" in json.dumps(c.args["blocks"])]
    final = [c for c in updates if c not in interim]
    # a3 and b3 found no token: they were never edited in alone, only with the finals.
    assert [c.args["channel"] for c in interim] == ["CA", "CB"]
    assert sorted(c.args["channel"] for c in final) == ["CA", "CB"]
    assert fake_slack.texts("CA") == ["a1 a2 a3"] and fake_slack.texts("CB") == ["b1 b2 b3"]
    # The finals took their tokens in debt, which holds later interim edits back.
    assert budget.level == -2
    assert budget.wait_s() == 3 * 60 / 45


async def test_an_edit_budget_refills_to_its_burst_and_repays_debt() -> None:
    now = [0.0]
    budget = EditBudget(per_minute=60, burst=3, clock=lambda: now[0])
    assert [await budget.try_take() for _ in range(4)] == [True, True, True, False]
    await budget.spend()  # a final edit: never refused, in debt
    assert budget.level == -1 and budget.wait_s() == 2
    now[0] += 2
    assert await budget.try_take()
    now[0] += 3600
    assert budget.level == 3  # a quiet hour saves no more than the burst
    for _ in range(10):
        await budget.spend()
    assert budget.level == -3  # debt is bounded: interim edits resume within 4 s
    await budget.hold(30)
    assert budget.wait_s() == 30


async def test_a_rate_limited_interim_edit_is_not_retried(fake_slack: FakeSlack) -> None:
    """A 429 on an interim edit holds the budget instead of sleeping with the pacer locked."""
    budget = EditBudget(per_minute=45, burst=10, clock=fixed_clock())

    async def limit_edits() -> None:
        fake_slack.rate_limit("chat.update", retry_after="30")

    async def refused() -> None:
        await fake_slack.wait_for(lambda: fake_slack.calls_to("chat.update"))

    steps: list[Step] = [
        Delta("one "),
        shows(fake_slack, "C1", "one"),
        limit_edits,
        Delta("two "),
        refused,
        Delta("three"),
        FINAL,
    ]
    reply = await asyncio.wait_for(
        delivery(fake_slack, "C1", native_streaming=False, budget=budget).run(script(steps)),
        timeout=5,
    )

    assert reply == FINAL
    # The refused interim edit (not retried), then the final edit.
    refused_edit, final = fake_slack.calls_to("chat.update")
    assert refused_edit.status == 429 and final.status == 200
    assert "one two three" in json.dumps(final.args["blocks"])
    assert budget.wait_s() >= 29  # interim edits of this workspace wait out Retry-After
