"""Time streaming a long answer into Slack: rendering and Web API calls per answer.

Streams an answer of ``--chars`` characters in ``--deltas`` pieces, ``--delay`` seconds
apart (a model's pace), through the Slack adapter's delivery (paced edits with
``chat.update``) into the loopback fake Slack. Reports wall and CPU time, how many Slack
calls it made, and the time to render the final reply. The edit pace is ``--interval``
seconds per message (production: 1.5).

    .venv/bin/python -m bench.slack_stream_bench [--chars N] [--deltas N] [--delay S]
        [--interval S]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator

from adapters.slack.app import build_client
from adapters.slack.delivery import Delivery, SlackOptions, Target
from adapters.slack.render import render_reply
from bench.common import machine
from bot.reply import Delta, Reply, ReplyEvent
from tests.fakes.fake_slack import FakeSlack


async def _events(text: str, deltas: int, delay: float) -> AsyncIterator[ReplyEvent]:
    size = max(1, len(text) // deltas)
    for at in range(0, len(text), size):
        yield Delta(text[at : at + size])
        await asyncio.sleep(delay)
    yield Reply(
        text=text, footer="openai · m · 1 in / 1 out tokens · $0.01", tone="answer", private=False
    )


async def main(chars: int, deltas: int, delay: float, interval: float) -> None:
    paragraph = "A sentence of a long answer, about sixty characters long. " * 10
    text = "\n\n".join([paragraph.strip()] * (chars // len(paragraph) + 1))[:chars]
    async with FakeSlack() as fake:
        client = build_client(fake.api_url, "xoxb-bench")
        target = Target(channel="C1", user="U1", team="T1", private=False)
        delivery = Delivery(client, target, SlackOptions(interval=interval, native_streaming=False))
        start, cpu = time.perf_counter(), time.process_time()
        await delivery.run(_events(text, deltas, delay))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        calls = len(fake.calls)
        messages = len(fake.messages["C1"])
    start = time.perf_counter()
    for _ in range(20):
        render_reply(Reply(text=text))
    render_ms = (time.perf_counter() - start) / 20 * 1000
    print(f"machine: {machine()}")
    print(f"{chars:,} characters in {deltas:,} deltas {delay}s apart, edit interval {interval}s")
    print(f"streamed in {elapsed:.2f} s ({cpu:.2f} s CPU, fake Slack included)")
    print(f"{calls} Slack calls into {messages} messages")
    print(f"final render: {render_ms:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=34_000)
    parser.add_argument("--deltas", type=int, default=2_000)
    parser.add_argument("--delay", type=float, default=0.002)
    parser.add_argument("--interval", type=float, default=0.25)
    args = parser.parse_args()
    asyncio.run(main(args.chars, args.deltas, args.delay, args.interval))
