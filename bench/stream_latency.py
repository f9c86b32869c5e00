"""Streaming: time from the first token leaving the fake provider to the first update
that shows it reaching the fake Slack or Discord API.

The fake OpenAI writes the first text event, notes the time, then paces the rest of the
answer like a model (``--gap`` seconds a token), so the first update can only have come
from the first token. The fake Slack / Discord note when a call carrying that text
arrives. Everything runs in this process on one clock (``time.perf_counter``), with
production edit pacing (Slack 1.5 s, Discord 1.2 s: the first edit is never held back).

Paths measured:

- Slack ``/ask`` in a channel: a placeholder is posted at once; the first token arrives as
  a ``chat.update`` of it.
- Slack mention: answered in its thread with Slack's streaming API; the first token arrives
  in ``chat.startStream``.
- Discord ``/ask``: the interaction is deferred; the first token arrives as a ``PATCH`` of
  the original response.

One ask at a time (``--asks``), then ``--concurrent`` asks at once.

    .venv/bin/python -m bench.stream_latency [--asks 50] [--concurrent 50] [--gap 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import SecretStr
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from adapters.discord import WORKSPACE, DiscordAdapter, Pacing
from adapters.slack import SlackAdapter, SlackOptions
from bench.common import load_average, machine, make_engine, percentiles
from bot.config import DiscordSettings, SlackSettings
from bot.context import BotContext
from bot.dispatch import Dispatcher
from byok.engine import Engine
from byok.service import BYOKService
from byok.types import UserRef
from tests.fakes.discord_events import ALICE, DiscordEvents
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.fake_openrouter import FakeOpenRouter
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.fake_xai import FakeXAI
from tests.fakes.loopback import RECORDED
from tests.fakes.plugin import FakeProviders

TEAM = "T111"
FIRST = "Hello"  # the first token of the fake's answer: "Hello from the fake."
_ASK_ID = re.compile(r"\[ask (\d+)\]")


class PacedOpenAI(FakeOpenAI):
    """Streams at a model's pace and notes when each ask's first token left."""

    def __init__(self, gap: float) -> None:
        super().__init__()
        self.gap = gap
        self.first_token: dict[int, float] = {}

    async def respond_sse(
        self,
        request: web.Request,
        events: Sequence[bytes],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> web.StreamResponse:
        asked = json.dumps(request[RECORDED].json()["messages"])
        found = _ASK_ID.search(asked)
        ask = int(found.group(1)) if found else -1
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for index, event in enumerate(events):
            await response.write(event)
            if index == self.events_before_text:
                self.first_token[ask] = time.perf_counter()
            if index >= self.events_before_text and index < len(events) - self.end_events:
                await asyncio.sleep(self.gap)
        await response.write_eof()
        return response


class TimedSlack(FakeSlack):
    """Notes when the first call showing the first token arrives, per channel."""

    def __init__(self) -> None:
        super().__init__()
        self.first_update: dict[str, float] = {}

    def _seen(self, channel: str, args: dict[str, Any]) -> None:
        if channel not in self.first_update and FIRST in json.dumps(args):
            self.first_update[channel] = time.perf_counter()

    def m_chat_update(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        self._seen(args["channel"], args)
        return super().m_chat_update(args, token)

    def m_chat_postMessage(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        self._seen(args["channel"], args)
        return super().m_chat_postMessage(args, token)

    def m_chat_startStream(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        self._seen(args["channel"], args)
        return super().m_chat_startStream(args, token)

    def m_chat_appendStream(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        self._seen(args["channel"], args)
        return super().m_chat_appendStream(args, token)


class TimedDiscord(FakeDiscord):
    """Notes when the first edit showing the first token arrives, per interaction."""

    def __init__(self, token: str) -> None:
        super().__init__(token=token)
        self.first_update: dict[str, float] = {}

    def _edit(
        self,
        message: dict[str, Any],
        body: dict[str, Any],
        files: list[tuple[str, bytes]],
        *,
        created: bool = False,
    ) -> None:
        interaction = (message.get("interaction_metadata") or {}).get("id")
        if interaction and interaction not in self.first_update and FIRST in str(body):
            self.first_update[interaction] = time.perf_counter()
        super()._edit(message, body, files, created=created)


Ask = Callable[[int], Awaitable[str]]  # ask number -> the key its update is recorded under


class SlackPaths:
    def __init__(self, engine: Engine, fake: TimedSlack) -> None:
        self.fake = fake
        self.secret = secrets.token_hex(16)
        settings = SlackSettings(
            enabled=True,
            mode="http",
            bot_token=SecretStr("xoxb-" + secrets.token_hex(12)),
            signing_secret=SecretStr(self.secret),
            api_url=fake.api_url,
        )
        self.adapter = SlackAdapter(
            Dispatcher(BotContext(engine)),
            settings,
            options=SlackOptions(),  # production pacing
            process_before_response=True,
        )

    async def _dispatch(self, body: str, content_type: str) -> None:
        stamp = str(int(time.time()))
        signature = SignatureVerifier(self.secret).generate_signature(timestamp=stamp, body=body)
        assert signature is not None
        headers: dict[str, str | Sequence[str]] = {
            "content-type": content_type,
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": signature,
        }
        response = await self.adapter.app.async_dispatch(
            AsyncBoltRequest(body=body, headers=headers)
        )
        assert response.status == 200, response.body

    async def command(self, n: int) -> str:
        channel = f"C{n:05d}"
        await self._dispatch(
            urlencode(
                {
                    "team_id": TEAM,
                    "channel_id": channel,
                    "channel_name": "general",
                    "user_id": "U00001",
                    "user_name": "alice",
                    "command": "/ask",
                    "text": f"[ask {n}] What is the capital of France?",
                    "api_app_id": "A111",
                    "response_url": self.fake.response_url(),
                    "trigger_id": f"{n}.1.abc",
                }
            ),
            "application/x-www-form-urlencoded",
        )
        return channel

    async def mention(self, n: int) -> str:
        channel = f"M{n:05d}"
        event = {
            "type": "app_mention",
            "user": "U00001",
            "text": f"<@{self.fake.bot_user_id}> [ask {n}] What is the capital of France?",
            "ts": f"1700000100.{n:06d}",
            "channel": channel,
            "event_ts": f"1700000100.{n:06d}",
        }
        body = {
            "type": "event_callback",
            "team_id": TEAM,
            "api_app_id": "A111",
            "event_id": f"Ev{n}",
            "event_time": 1,
            "event": event,
        }
        await self._dispatch(json.dumps(body), "application/json")
        return channel


class DiscordPath:
    def __init__(self, engine: Engine, fake: TimedDiscord) -> None:
        self.fake = fake
        self.events = DiscordEvents(fake)
        settings = DiscordSettings(
            enabled=True,
            token=SecretStr(fake.token),
            api_base=fake.api_base,
            gateway_url=fake.gateway_url,
        )
        self.adapter = DiscordAdapter(Dispatcher(BotContext(engine)), settings, pacing=Pacing())

    async def start(self) -> None:
        await self.adapter.start(connect=False, ready_within=30)
        self.adapter.client._connection.parse_guild_create(self.events.guild())

    async def ask(self, n: int) -> str:
        prompt = f"[ask {n}] What is the capital of France?"
        payload = self.events.command("ask", self.events.options(prompt=prompt))
        self.adapter.client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
        await asyncio.wait_for(self.adapter.inflight.finished(int(payload["id"])), 60)
        return str(payload["id"])


async def measure(
    ask: Ask,
    settle: Callable[[], Awaitable[None]],
    provider: PacedOpenAI,
    updates: dict[str, float],
    first: int,
    count: int,
    concurrent: bool,
) -> list[float]:
    numbers = range(first, first + count)
    if concurrent:
        keys = await asyncio.gather(*(ask(n) for n in numbers))
        await settle()
    else:
        keys = []
        for n in numbers:
            keys.append(await ask(n))
            await settle()
    return [updates[key] - provider.first_token[n] for n, key in zip(numbers, keys, strict=True)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asks", type=int, default=50)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--gap", type=float, default=0.05)
    args = parser.parse_args()
    load_before = load_average()
    openai = PacedOpenAI(args.gap)
    others = [FakeAnthropic(), FakeGemini(), FakeXAI(), FakeOpenRouter()]
    for fake in (openai, *others):
        await fake.start()
    fakes = FakeProviders([openai, *others])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = await make_engine(f"sqlite+aiosqlite:///{tmp}/bench.db", fakes)
        await BYOKService(engine, UserRef("slack", TEAM, "U00001")).add_key(
            "openai", openai.valid_key
        )
        await BYOKService(engine, UserRef("discord", WORKSPACE, ALICE["id"])).add_key(
            "openai", openai.valid_key
        )
        async with TimedSlack() as slack_api, TimedDiscord("fake-" + secrets.token_hex(8)) as dc:
            slack = SlackPaths(engine, slack_api)
            discord = DiscordPath(engine, dc)
            await discord.start()
            paths: list[tuple[str, Ask, Callable[[], Awaitable[None]], dict[str, float]]] = [
                ("Slack `/ask` (chat.update)", slack.command, slack.adapter.drain, slack_api.first_update),
                ("Slack mention (chat.startStream)", slack.mention, slack.adapter.drain, slack_api.first_update),
                ("Discord `/ask` (PATCH @original)", discord.ask, discord.adapter.inflight.idle, dc.first_update),
            ]  # fmt: skip
            first = 0
            for name, ask, settle, updates in paths:
                await measure(ask, settle, openai, updates, first, 5, False)  # warm up
                first += 5
                sequential = await measure(ask, settle, openai, updates, first, args.asks, False)
                first += args.asks
                burst = await measure(ask, settle, openai, updates, first, args.concurrent, True)
                first += args.concurrent
                s50, s99 = percentiles(sequential)
                b50, b99 = percentiles(burst)
                rows.append(
                    f"| {name} | {s50 / 1000:.2f} / {s99 / 1000:.2f} | "
                    f"{b50 / 1000:.2f} / {b99 / 1000:.2f} |"
                )
            await slack.adapter.stop(grace_s=10)
            await discord.adapter.stop(grace_s=10)
        await engine.aclose()
    for fake in (openai, *others):
        await fake.stop()
    print(f"machine: {machine()} (before: {load_before})")
    print(f"fake model pace: one token every {args.gap * 1000:.0f} ms after the first\n")
    print(
        f"| path | first token → first update, one ask at a time: p50 / p99 ms "
        f"({args.asks} asks) | {args.concurrent} asks at once: p50 / p99 ms |"
    )
    print("|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
