"""The fake Discord gateway shards as Discord does, proven with unmodified discord.py clients.

Each client here is a plain ``discord.Client`` (one shard) or ``discord.AutoShardedClient``
(several) that only records the messages it is handed; the fake routes every guild event
to the sessions of shard ``(guild_id >> 22) % shard_count`` and DMs to shard 0, so these
tests are what lets the multi-instance tests trust "answered exactly once".
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket

from tests.fakes.discord_events import DiscordEvents
from tests.fakes.fake_discord import FakeDiscord, shard_of

WAIT = 10.0  # seconds: a bound for awaiting what the clients receive, never a pause


class Listening(discord.Client):
    """A client that keeps the id of every message it is handed, and nothing else.

    discord.py waits 5 s before every IDENTIFY but its first (its documented
    ``before_identify_hook``) to respect Discord's identify rate limit; the fake does not
    enforce that limit, so the wait is skipped here.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(intents=discord.Intents.default(), **options)
        self.seen: list[int] = []

    async def on_message(self, message: discord.Message) -> None:
        self.seen.append(message.id)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


class ShardedListening(Listening, discord.AutoShardedClient):
    """Several shards in one client."""


@contextmanager
def pointed_at(fake: FakeDiscord) -> Iterator[None]:
    """discord.py's REST base and gateway address set to the fake, then restored."""
    saved = (discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    discord.http.Route.BASE = fake.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token="fake-" + secrets.token_hex(8)) as fake:
        with pointed_at(fake):
            yield fake


async def until(condition: Any, what: str) -> None:
    """A bounded wait for what the fake or a client recorded."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 - a bounded poll on recorded state
            await asyncio.sleep(0.01)
    assert condition(), what


@asynccontextmanager
async def running(fake: FakeDiscord, client: Listening, shards: int = 1) -> AsyncIterator[None]:
    """``client.start()`` until its ``shards`` sessions are connected; closed on the way out."""
    before = len(fake.sessions)
    task = asyncio.create_task(client.start(fake.token))
    try:
        await until(
            lambda: sum(s.connected for s in fake.sessions[before:]) >= shards or task.done(),
            "the client connected",
        )
        if task.done():
            task.result()  # the start failed: raise why
        yield
    finally:
        await client.close()
        await asyncio.wait_for(task, WAIT)


async def received_all(fake: FakeDiscord, clients: dict[Listening, list[int]]) -> None:
    """Wait until each client got its messages, then prove it got nothing else.

    Each client is sent one last message on the shard of its first session; frames on a
    connection arrive in order, so once that one is in, nothing sent before is pending.
    """
    sentinels: dict[Listening, int] = {}
    for client in clients:
        shard = client.shard_id or 0
        count = client.shard_count or 1
        if isinstance(client, discord.AutoShardedClient):
            shard = min(client.shards)
        events = DiscordEvents(fake, guild_id=fake.guild_for_shard(shard, count))
        message = events.message("sentinel")
        await fake.dispatch("MESSAGE_CREATE", message)
        sentinels[client] = int(message["id"])
    for client, expected in clients.items():
        await until(lambda c=client: sentinels[c] in c.seen, "the sentinel arrived")
        others = [i for i in client.seen if i not in sentinels.values()]
        assert sorted(others) == sorted(expected)


def guild(fake: FakeDiscord, shard: int, count: int) -> DiscordEvents:
    return DiscordEvents(fake, guild_id=fake.guild_for_shard(shard, count))


# -- GET /gateway/bot -------------------------------------------------------------------


async def test_discord_py_reads_the_recommended_shard_count_and_identify_quota(
    fake: FakeDiscord,
) -> None:
    fake.recommended_shards = 3
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        await http.static_login(fake.token)
        shards, url, limit = await http.get_bot_gateway()
    finally:
        await http.close()

    assert (shards, url) == (3, fake.gateway_url)
    assert limit["total"] == 1000 and limit["remaining"] == 1000
    assert limit["max_concurrency"] == 1 and 0 < limit["reset_after"] <= 86_400_000
    [asked] = fake.requests_to("/gateway/bot")
    assert asked.headers["Authorization"] == f"Bot {fake.token}"


async def test_gateway_bot_needs_the_bot_token(fake: FakeDiscord) -> None:
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        await http.static_login(fake.token)
        http.token = "someone-else"
        with pytest.raises(discord.GatewayNotFound):
            await http.get_bot_gateway()
    finally:
        await http.close()


async def test_an_auto_sharded_client_without_a_count_connects_every_recommended_shard(
    fake: FakeDiscord,
) -> None:
    fake.recommended_shards = 2
    client = ShardedListening()
    async with running(fake, client, shards=2):
        assert fake.connected_shards() == {0: 1, 1: 1}
        assert sorted(tuple(i["shard"]) for i in fake.identify) == [(0, 2), (1, 2)]
        assert client.shard_count == 2


# -- routing ----------------------------------------------------------------------------


async def test_two_single_shard_clients_get_their_guilds_events_and_dms_go_to_shard_0(
    fake: FakeDiscord,
) -> None:
    first, second = Listening(shard_id=0, shard_count=2), Listening(shard_id=1, shard_count=2)
    on_0, on_1 = guild(fake, 0, 2), guild(fake, 1, 2)
    async with running(fake, first), running(fake, second):
        assert fake.connected_shards() == {0: 1, 1: 1}
        in_0, in_1 = on_0.message("for shard 0"), on_1.message("for shard 1")
        dm = on_1.message("a DM", dm=True)

        assert [s.shard for s in await fake.dispatch("MESSAGE_CREATE", in_0)] == [0]
        assert [s.shard for s in await fake.dispatch("MESSAGE_CREATE", in_1)] == [1]
        assert [s.shard for s in await fake.dispatch("MESSAGE_CREATE", dm)] == [0]

        await received_all(
            fake, {first: [int(in_0["id"]), int(dm["id"])], second: [int(in_1["id"])]}
        )
    assert not fake.overlaps()
    assert fake.connected_shards() == {}


async def test_an_auto_sharded_client_gets_exactly_the_events_of_the_shards_it_holds(
    fake: FakeDiscord,
) -> None:
    auto = ShardedListening(shard_ids=[1, 2], shard_count=3)
    single = Listening(shard_id=0, shard_count=3)
    guilds = [guild(fake, shard, 3) for shard in range(3)]
    async with running(fake, auto, shards=2), running(fake, single):
        assert fake.connected_shards() == {0: 1, 1: 1, 2: 1}
        messages = [g.message(f"to guild {i}") for i, g in enumerate(guilds)]
        dm = guilds[2].message("a DM", dm=True)
        for message in [*messages, dm]:
            await fake.dispatch("MESSAGE_CREATE", message)

        await received_all(
            fake,
            {
                auto: [int(messages[1]["id"]), int(messages[2]["id"])],
                single: [int(messages[0]["id"]), int(dm["id"])],
            },
        )
        # AutoShardedClient reads the shard from READY; each session has its own id.
        assert sorted(auto.shards) == [1, 2]
        assert len({s.session_id for s in fake.sessions}) == 3


async def test_interactions_and_guild_events_route_by_guild_as_well(fake: FakeDiscord) -> None:
    first, second = Listening(shard_id=0, shard_count=2), Listening(shard_id=1, shard_count=2)
    on_1 = guild(fake, 1, 2)
    async with running(fake, first), running(fake, second):
        command = on_1.command("help")
        assert [s.shard for s in await fake.dispatch("INTERACTION_CREATE", command)] == [1]
        dm_command = on_1.command("help", dm=True)
        assert [s.shard for s in await fake.dispatch("INTERACTION_CREATE", dm_command)] == [0]
        update = {**on_1.guild(), "name": "renamed"}  # GUILD_UPDATE: the guild's own id
        assert [s.shard for s in await fake.dispatch("GUILD_UPDATE", update)] == [1]


async def test_a_guild_is_created_on_the_sessions_of_its_shard_only(fake: FakeDiscord) -> None:
    on_0, on_1 = guild(fake, 0, 2), guild(fake, 1, 2)
    fake.add_guild(on_0.guild())
    fake.add_guild(on_1.guild())
    first, second = Listening(shard_id=0, shard_count=2), Listening(shard_id=1, shard_count=2)
    async with running(fake, first), running(fake, second):
        await until(
            lambda: first.get_guild(int(on_0.guild_id)) and second.get_guild(int(on_1.guild_id)),
            "each client got its shard's guild",
        )
        assert first.get_guild(int(on_1.guild_id)) is None
        assert second.get_guild(int(on_0.guild_id)) is None


def test_guild_for_shard_lands_on_that_shard() -> None:
    fake = FakeDiscord()
    for count in range(1, 6):
        ids = [fake.guild_for_shard(shard, count) for shard in range(count) for _ in range(3)]
        assert len(set(ids)) == len(ids)
        assert [shard_of(int(i), count) for i in ids] == [s for s in range(count) for _ in "abc"]
    with pytest.raises(ValueError, match="shard 2 is not one of 2"):
        fake.guild_for_shard(2, 2)


# -- duplicates and hand-overs ----------------------------------------------------------


async def test_two_sessions_of_one_shard_both_get_its_events_and_show_as_an_overlap(
    fake: FakeDiscord,
) -> None:
    first, second = Listening(), Listening()  # two unsharded copies: the double answer
    on_0 = guild(fake, 0, 1)
    async with running(fake, first), running(fake, second):
        assert fake.connected_shards() == {0: 2}
        message = on_0.message("hello", mention=True)
        assert len(await fake.dispatch("MESSAGE_CREATE", message)) == 2
        await received_all(fake, {first: [int(message["id"])], second: [int(message["id"])]})
    assert fake.overlaps() == {0}


async def test_a_shard_handed_over_after_its_session_closed_is_no_overlap(
    fake: FakeDiscord,
) -> None:
    async with running(fake, Listening(shard_id=1, shard_count=2)):
        pass
    async with running(fake, Listening(shard_id=1, shard_count=2)):
        assert fake.connected_shards() == {1: 1}
    first, second = fake.sessions
    assert first.closed_at is not None and second.opened_at >= first.closed_at
    assert not fake.overlaps()


async def test_a_dropped_shard_resumes_its_session_and_gets_its_events_again(
    fake: FakeDiscord,
) -> None:
    first, second = Listening(shard_id=0, shard_count=2), Listening(shard_id=1, shard_count=2)
    on_1 = guild(fake, 1, 2)
    async with running(fake, first), running(fake, second):
        [session] = [s for s in fake.sessions if s.shard == 1]
        assert await fake.drop_shard(1) == 1
        await until(lambda: session.resumes == 1 and session.connected, "shard 1 resumed")
        assert session.close_code == 4000  # of its last disconnection
        message = on_1.message("after the drop")
        assert await fake.dispatch("MESSAGE_CREATE", message) == [session]
        await received_all(fake, {first: [], second: [int(message["id"])]})
        assert len(fake.sessions) == 2 and len(session.spans) == 2
    assert not fake.overlaps()


async def test_a_shard_dropped_for_good_identifies_a_new_session(fake: FakeDiscord) -> None:
    client = Listening(shard_id=1, shard_count=2)
    async with running(fake, client):
        [old] = fake.sessions
        await fake.drop_shard(1, resumable=False)
        await until(lambda: len(fake.sessions) == 2 and fake.sessions[1].connected, "re-identified")
        assert old.close_code == 4009 and not old.connected
        assert fake.sessions[1].session_id != old.session_id
    assert not fake.overlaps()


async def test_resuming_a_session_discord_does_not_know_is_an_invalid_session(
    fake: FakeDiscord,
) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(fake.gateway_url) as socket:
        hello = await socket.receive_json(timeout=WAIT)
        assert hello["op"] == 10
        resume = {"token": fake.token, "session_id": "not-a-session", "seq": 3}
        await socket.send_str(json.dumps({"op": 6, "d": resume}))
        assert await socket.receive_json(timeout=WAIT) == {"op": 9, "d": False}


# -- refusals ---------------------------------------------------------------------------


async def test_a_shard_id_outside_the_count_is_closed_with_4010(fake: FakeDiscord) -> None:
    client = Listening(shard_id=2, shard_count=2)
    with pytest.raises(discord.ConnectionClosed) as closed:
        await asyncio.wait_for(client.start(fake.token), WAIT)
    assert closed.value.code == 4010
    assert fake.shard_refusals == [(2, 2, 4010)]
    assert fake.sessions == [] and client.is_closed()


async def test_too_few_shards_are_closed_with_4011_when_sharding_is_required(
    fake: FakeDiscord,
) -> None:
    fake.require_shards = 2
    client = Listening()
    with pytest.raises(discord.ConnectionClosed) as closed:
        await asyncio.wait_for(client.start(fake.token), WAIT)
    assert closed.value.code == 4011
    assert fake.shard_refusals == [(0, 1, 4011)]
    async with running(fake, Listening(shard_id=1, shard_count=2)):
        assert fake.connected_shards() == {1: 1}
