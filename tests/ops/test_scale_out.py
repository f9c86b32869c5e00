"""Three identical ``byok-bot run`` processes on one PostgreSQL act as one bot.

The fake Discord shards as Discord does (a guild's events reach the sessions of shard
``(guild_id >> 22) % count``, DMs shard 0, every session of a shard gets them) and the
test is Slack's load balancer, sending each request to one instance and Slack's retries
of an event to another. Every question is unique, so "answered once" is checked where it
would cost money: the provider saw each question exactly once, and each user saw one
answer. One instance is killed with SIGKILL half-way; the others take its shards over
within the lease bound and the second half is answered once too.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from adapters.discord.identify_gate import IDENTIFY_INTERVAL_S
from byok.db import Database
from byok.db.tables import User
from tests.fakes.discord_events import ALICE, BOB, DiscordEvents
from tests.fakes.llm_script import Reply
from tests.ops.conftest import Deployment, GatedOpenAI, discord_user, slack_user
from tests.ops.harness import BotProcess, poll, scrape
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.postgres

SHARDS = 4
LEASE_S = 6.0
#: Discord's identify limit: one session start per bucket (shard % 2 here) every 5 s.
IDENTIFY_BUCKETS = 2
#: A dead instance's leases run out after LEASE_S; the others look every LEASE_S / 3,
#: then connect its shards, a bucket's second one an identify interval after its first.
TAKEOVER_BOUND_S = LEASE_S + LEASE_S / 3 + IDENTIFY_INTERVAL_S + 5.0
ASKS_PER_MINUTE = 12  # the per-user request limit, shared by the instances
SLACK_USERS = ("U100", "U200", "U300")
LIMITED = "U300"  # a monthly limit that fits a few answers only
#: gpt-5.6-terra: 1,000 output tokens cost $0.012, so $0.05 holds 4 answers at most.
LIMIT = Decimal("0.05")
MAX_TOKENS = 1000
ANSWER = "Hello from the fake."
_ids = itertools.count(1)


def _limit(user: str) -> Decimal | None:
    return LIMIT if user == LIMITED else None


def _question(label: str) -> str:
    return f"Question {label} #{next(_ids)}?"


class Traffic:
    """Sends questions over every surface and remembers them, to check each answer once."""

    def __init__(self, deployment: Deployment, guilds: list[DiscordEvents]) -> None:
        self.deployment = deployment
        self.guilds = guilds
        self.questions: list[str] = []
        self.interactions: list[dict[str, Any]] = []
        self.mentions: list[tuple[DiscordEvents, dict[str, Any]]] = []
        self.dms: list[dict[str, Any]] = []
        self.slack: list[tuple[str, str]] = []  # (channel, question)
        self.key_forms = 0  # keys submitted through a form: each checked once

    async def discord_round(self) -> None:
        fake = self.deployment.discord
        for guild in self.guilds:
            asked = _question(f"slash {guild.guild_id}")
            payload = guild.command("ask", guild.options(prompt=asked))
            self.questions.append(asked)
            self.interactions.append(payload)
            await fake.dispatch("INTERACTION_CREATE", payload)
            mentioned = _question(f"mention {guild.guild_id}")
            message = guild.message(mentioned, mention=True, user=BOB)
            self.questions.append(mentioned)
            self.mentions.append((guild, message))
            await fake.dispatch("MESSAGE_CREATE", message)
        direct = _question("dm")
        message = self.guilds[0].message(direct, dm=True)
        self.questions.append(direct)
        self.dms.append(message)
        await fake.dispatch("MESSAGE_CREATE", message)

    async def key_form_round(self, bots: list[BotProcess], user: dict[str, Any]) -> None:
        """``/byok add`` and its modal on Discord (in a guild of the last shard), and the
        key form on Slack: every form's key is checked with the provider once."""
        fake, guild = self.deployment.discord, self.guilds[-1]
        key = self.deployment.fakes.key("anthropic")
        opened = guild.command("byok", [guild.sub("add", provider="anthropic")], user=user)
        await fake.dispatch("INTERACTION_CREATE", opened)
        await poll(lambda: fake.interaction(opened["id"]).callbacks, "the key modal")
        modal = fake.interaction(opened["id"]).callbacks[0]["data"]
        submit = guild.modal_submit(modal, {"API key": key}, user=user)
        await fake.dispatch("INTERACTION_CREATE", submit)
        self.key_forms += 1
        await poll(lambda: fake.responses(submit["id"]), "the modal's answer")
        sender = self.deployment.sender
        await sender.key_form(bots[-1], "anthropic", key, user=SLACK_USERS[0])
        self.key_forms += 1

    def key_checks(self) -> int:
        return len(self.deployment.fakes["anthropic"].requests_to("/v1/models"))

    async def slack_round(self, bots: list[BotProcess]) -> None:
        sender = self.deployment.sender
        for index, user in enumerate(SLACK_USERS[:2]):
            asked = _question(f"slack command {user}")
            bot = bots[index % len(bots)]
            assert await sender.command(bot, "/ask", asked, user=user) == 200
            self.questions.append(asked)
            mentioned = _question(f"slack mention {user}")
            channel = f"C{index}00"
            event = {
                "type": "app_mention",
                "user": user,
                "text": f"<@U0BOT> {mentioned}",
                "channel": channel,
                "ts": f"{time.time():.6f}",
                "event_ts": f"{time.time():.6f}",
            }
            event_id = f"Ev{next(_ids):08d}"
            assert await sender.event(bot, event, event_id=event_id) == 200
            # Slack did not hear the ack in time and retries, through the load balancer
            # to another instance: still one answer.
            other = bots[(index + 1) % len(bots)]
            assert await sender.event(other, event, event_id=event_id, retry=1) == 200
            self.questions.append(mentioned)
            self.slack.append((channel, mentioned))

    def provider_saw(self) -> Counter[str]:
        seen: Counter[str] = Counter()
        for request in self.deployment.fakes["openai"].requests_to("/chat/completions"):
            body = json.dumps(request.json())
            for question in self.questions:
                if question in body:
                    seen[question] += 1
        return seen

    def all_answered(self) -> bool:
        fake = self.deployment.discord
        for payload in self.interactions:
            if ANSWER not in json.dumps(fake.responses(payload["id"])):
                return False
        for guild, message in self.mentions:
            if not _replies_to(fake.from_bot(guild.channel_id), message["id"]):
                return False
        for message in self.dms:
            if not _replies_to(fake.from_bot(message["channel_id"]), message["id"]):
                return False
        slack = self.deployment.slack
        return all(
            any(question in json.dumps(m) or ANSWER in json.dumps(m)
                for m in slack.messages.get(channel, []))
            for channel, question in self.slack
        )  # fmt: skip

    def answered_once(self) -> None:
        seen = self.provider_saw()
        assert {q: seen[q] for q in self.questions} == dict.fromkeys(self.questions, 1)
        fake = self.deployment.discord
        for payload in self.interactions:
            callbacks = fake.requests_to(f"/interactions/{payload['id']}/")
            assert len([r for r in callbacks if r.path.endswith("/callback")]) == 1
        for guild, message in self.mentions:
            assert len(_replies_to(fake.from_bot(guild.channel_id), message["id"])) == 1
        for message in self.dms:
            assert len(_replies_to(fake.from_bot(message["channel_id"]), message["id"])) == 1


def _slack_texts(deployment: Deployment, text: str) -> int:
    """Messages, ephemeral messages and response_url answers whose text holds ``text``."""
    fake = deployment.slack
    shown = [*itertools.chain(*fake.messages.values()), *fake.ephemeral, *fake.responses]
    return sum(text in json.dumps(message.get("text", "")) for message in shown)


async def _user_ref(deployment: Deployment, slack_id: str) -> int:
    database = Database(deployment.database_url)
    try:
        async with database.session() as session:
            found = await session.scalar(select(User.id).where(User.user_id == slack_id))
            assert found is not None
            return int(found)
    finally:
        await database.dispose()


def _replies_to(messages: list[dict[str, Any]], message_id: str) -> list[dict[str, Any]]:
    return [
        m for m in messages if (m.get("message_reference") or {}).get("message_id") == message_id
    ]


async def _shards_of(bot: BotProcess) -> list[int]:
    """The shards connected here (a shard leased but still connecting makes /readyz 503)."""
    _, body = await bot.readyz()
    shards: list[int] = body["instance"]["discord"]["shards_held"]
    return shards


async def test_three_instances_answer_everything_once_and_take_over_a_killed_ones_shards(
    deployment: Deployment, postgres_server: PostgresServer
) -> None:
    deployment.database_url = postgres_server.create_database()
    fake = deployment.discord
    fake.recommended_shards = SHARDS  # [discord] shard_count = 0: Discord's recommendation
    fake.max_concurrency = IDENTIFY_BUCKETS
    fake.identify_interval_s = IDENTIFY_INTERVAL_S  # three instances start at once
    guilds = [DiscordEvents(fake, guild_id=fake.guild_for_shard(s, SHARDS)) for s in range(SHARDS)]
    for guild in guilds:
        fake.add_guild(guild.guild())
    sections = deployment.settings(discord=True)
    sections["discord"]["shard_lease_s"] = LEASE_S
    sections["limits"]["requests_per_minute"] = ASKS_PER_MINUTE
    config = deployment.write(sections)  # one configuration for all three
    await deployment.seed(
        [
            (discord_user(ALICE["id"]), "openai", None),
            (discord_user(BOB["id"]), "openai", None),
            *((slack_user(u), "openai", _limit(u)) for u in SLACK_USERS),
        ],
        config,
    )
    bots = [await deployment.start(config, ready=False) for _ in range(3)]
    await asyncio.gather(*(bot.ready() for bot in bots))

    # Every shard connected once, shared 2/1/1, and each instance says what it holds.
    await poll(lambda: fake.connected_shards() == dict.fromkeys(range(SHARDS), 1), "all shards")
    held = [await _shards_of(bot) for bot in bots]
    assert sorted(s for shards in held for s in shards) == list(range(SHARDS))
    assert sorted(len(shards) for shards in held) == [1, 1, 2]
    for bot, shards in zip(bots, held, strict=True):
        assert bot.has("instances: ")  # the start-up line: instances and shards seen
        _, body = await bot.readyz()
        assert body["instance"]["discord"]["shard_count"] == SHARDS
        metrics = await scrape(bot)
        assert metrics.value("byok_instances_live") == 3
        assert metrics.value("byok_discord_shard_count") == SHARDS
        held_here = metrics.labels("byok_discord_shard_held")
        assert sorted(int(labels["shard"]) for labels in held_here) == shards
    assert len(fake.requests_to("/gateway/bot")) >= 1

    traffic = Traffic(deployment, guilds)
    await traffic.discord_round()
    await traffic.slack_round(bots)
    await traffic.key_form_round(bots, ALICE)
    await poll(traffic.all_answered, "every question of the first round answered")

    # SIGKILL the instance holding shard 0 (DMs) and another: no goodbye, leases stay.
    victim = next(bot for bot, shards in zip(bots, held, strict=True) if 0 in shards)
    victim_shards = held[bots.index(victim)]
    killed_at = time.monotonic()
    await victim.kill()  # SIGKILL
    survivors = [bot for bot in bots if bot is not victim]

    def taken_over() -> bool:
        return fake.connected_shards() == dict.fromkeys(range(SHARDS), 1)

    await poll(taken_over, "the killed instance's shards taken over", within=TAKEOVER_BOUND_S + 5)
    took = time.monotonic() - killed_at
    assert took <= TAKEOVER_BOUND_S, (took, victim_shards)
    after = [await _shards_of(bot) for bot in survivors]
    assert sorted(s for shards in after for s in shards) == list(range(SHARDS))
    assert sorted(len(shards) for shards in after) == [2, 2]

    await traffic.discord_round()
    await traffic.slack_round(survivors)
    await traffic.key_form_round(survivors, BOB)
    await poll(traffic.all_answered, "every question of the second round answered")
    traffic.answered_once()
    await poll(lambda: traffic.key_checks() >= traffic.key_forms, "the keys checked")
    assert traffic.key_checks() == traffic.key_forms
    assert fake.overlaps() == set()  # no shard was ever connected twice
    assert fake.too_soon == []  # nor identified faster than Discord allows

    # One usage row per attempt, whichever instance made it (the killed one included).
    rows = await deployment.usage_rows()
    chats = deployment.fakes["openai"].requests_to("/chat/completions")
    assert len(rows) == len(chats)
    assert Counter(r["outcome"] for r in rows) == {"success": len(chats)}
    for bot in survivors:
        assert await bot.stop() == 0


async def test_the_shared_limits_hold_across_instances(
    deployment: Deployment, postgres_server: PostgresServer
) -> None:
    deployment.database_url = postgres_server.create_database()
    sections = deployment.settings()
    sections["limits"]["requests_per_minute"] = ASKS_PER_MINUTE
    sections["limits"]["default_max_tokens"] = MAX_TOKENS
    config = deployment.write(sections)
    await deployment.seed(
        [(slack_user("U100"), "openai", None), (slack_user(LIMITED), "openai", LIMIT)],
        config,
    )
    bots = [await deployment.start(config, ready=False) for _ in range(3)]
    await asyncio.gather(*(bot.ready() for bot in bots))

    # Twice the per-user allowance, spread over the three instances at once.
    asks = 2 * ASKS_PER_MINUTE
    acks = await asyncio.gather(
        *(
            deployment.sender.command(bots[i % 3], "/ask", _question(f"burst {i}"), user="U100")
            for i in range(asks)
        )
    )
    assert acks == [200] * asks
    fake_openai = deployment.fakes["openai"]

    def settled() -> bool:
        answers = _slack_texts(deployment, ANSWER)
        return answers + _slack_texts(deployment, "You are sending requests quickly") == asks

    await poll(settled, "every ask answered or refused")
    assert len(fake_openai.requests_to("/chat/completions")) == ASKS_PER_MINUTE
    assert _slack_texts(deployment, ANSWER) == ASKS_PER_MINUTE

    # A monthly limit reserved across instances: each answer costs its worst case
    # (the whole max_tokens), so 4 fit in the limit and 9 asked at once never overspend.
    fake_openai.default_reply = Reply(text=ANSWER, input_tokens=20, output_tokens=MAX_TOKENS)
    acks = await asyncio.gather(
        *(
            deployment.sender.command(bots[i % 3], "/ask", _question(f"limited {i}"), user=LIMITED)
            for i in range(9)
        )
    )
    assert acks == [200] * 9

    def limited_done() -> bool:
        answers = _slack_texts(deployment, ANSWER) - ASKS_PER_MINUTE
        return answers + _slack_texts(deployment, "This request could cost up to") == 9

    await poll(limited_done, "every limited ask answered or refused")
    limited_ref = await _user_ref(deployment, LIMITED)
    rows = await deployment.usage_rows()
    spent = sum((r["cost"] or Decimal(0) for r in rows if r["user_ref"] == limited_ref),
                Decimal(0))  # fmt: skip
    answered = _slack_texts(deployment, ANSWER) - ASKS_PER_MINUTE
    assert 1 <= answered <= 4
    assert Decimal(0) < spent <= LIMIT
    for bot in bots:
        assert await bot.stop() == 0


async def test_an_instance_stopping_hands_its_shards_over_at_once_and_finishes_its_answers(
    deployment: Deployment, postgres_server: PostgresServer
) -> None:
    deployment.database_url = postgres_server.create_database()
    fake = deployment.discord
    guilds = [DiscordEvents(fake, guild_id=fake.guild_for_shard(s, 2)) for s in range(2)]
    for guild in guilds:
        fake.add_guild(guild.guild())
    sections = deployment.settings(discord=True, slack=False, grace=30.0)
    sections["discord"].update(shard_count=2, shard_lease_s=30.0)  # a take-over would be slow
    config = deployment.write(sections)
    await deployment.seed([(discord_user(ALICE["id"]), "openai", None)], config)
    bots = [await deployment.start(config, ready=False) for _ in range(2)]
    await asyncio.gather(*(bot.ready() for bot in bots))

    async def one_each() -> bool:
        return sorted([await _shards_of(bot) for bot in bots]) == [[0], [1]]

    # The first to start may hold both for a round, until it sees the second.
    await poll(one_each, "one shard each", within=LEASE_S * 3)
    [stopping] = [bot for bot in bots if await _shards_of(bot) == [1]]
    staying = next(bot for bot in bots if bot is not stopping)

    gate = deployment.fakes["openai"]
    assert isinstance(gate, GatedOpenAI)
    gate.close()
    asked = guilds[1].command("ask", guilds[1].options(prompt=_question("in flight")))
    await fake.dispatch("INTERACTION_CREATE", asked)
    await poll(lambda: gate.chats == 1, "the answer held at the provider")

    stopping.signal()  # SIGTERM: hand the shard over, then drain
    handed_at = time.monotonic()

    async def taken() -> bool:
        return await _shards_of(staying) == [0, 1]

    await poll(taken, "shard 1 taken by the instance staying")
    assert time.monotonic() - handed_at < 30.0  # within a round, not after the lease
    assert fake.connected_shards() == {0: 1, 1: 1}
    assert stopping.process.returncode is None  # still draining its answer
    later = guilds[1].command("ask", guilds[1].options(prompt=_question("after")))
    await fake.dispatch("INTERACTION_CREATE", later)  # served by the instance staying

    gate.open()
    assert await stopping.exit_code() == 0
    await poll(lambda: ANSWER in json.dumps(fake.responses(asked["id"])), "the drained answer")
    await poll(lambda: ANSWER in json.dumps(fake.responses(later["id"])), "the later answer")
    assert fake.overlaps() == set()
    assert await staying.stop() == 0
