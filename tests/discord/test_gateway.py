"""``start()`` / ``stop()`` against the loopback gateway; events arrive over the WebSocket.

Here a key typed into the modal travels the way it does in production — inside a
gateway event — with discord.py logging at DEBUG, where it prints every event.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

import discord as discord_py
import pytest
from pydantic import SecretStr

from adapters.discord import DiscordAdapter
from bot.config import DiscordSettings
from bot.context import BotContext
from bot.dispatch import Dispatcher
from byok.errors import ConfigError
from tests.discord.conftest import WAIT, MakeDiscord, user_ref
from tests.engine.conftest import Rig
from tests.fakes.fake_discord import FakeDiscord


async def test_start_identifies_with_the_intents_the_bot_needs(
    make_discord: MakeDiscord,
) -> None:
    discord = await make_discord(connect=True)
    assert discord.adapter.connected
    [identify] = discord.fake.identify
    assert identify["token"] == discord.fake.token
    expected = discord_py.Intents(guilds=True, guild_messages=True, dm_messages=True)
    assert identify["intents"] == expected.value
    assert not discord_py.Intents._from_value(identify["intents"]).message_content


async def test_a_key_typed_into_the_modal_over_the_gateway_is_never_logged(
    make_discord: MakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    discord = await make_discord(connect=True)
    key = discord.engine.fakes["openai"].add_key("sk-canary-" + secrets.token_hex(16))
    opened = discord.events.command("byok", [discord.events.sub("add", provider="openai")])
    await discord.fake.dispatch("INTERACTION_CREATE", opened)
    await asyncio.wait_for(discord.adapter.inflight.finished(int(opened["id"])), WAIT)
    modal = discord.callbacks(opened)[0]["data"]
    submit = discord.events.modal_submit(modal, {"API key": key})
    await discord.fake.dispatch("INTERACTION_CREATE", submit)
    await asyncio.wait_for(discord.adapter.inflight.finished(int(submit["id"])), WAIT)

    [status] = await discord.engine.service(user_ref()).get_user_api_keys()
    assert status.key.last4 == key[-4:]
    events = [r for r in caplog.records if "WebSocket Event" in r.getMessage()]
    assert any("INTERACTION_CREATE" in r.getMessage() for r in events)  # DEBUG was on
    for record in caplog.records:
        assert key not in record.getMessage()
    assert key not in discord.everything_sent()


async def test_stop_disconnects_and_restores_discord_defaults(make_discord: MakeDiscord) -> None:
    before = (discord_py.http.Route.BASE, discord_py.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    discord = await make_discord(connect=True)
    assert discord.fake.api_base == discord_py.http.Route.BASE
    await discord.adapter.stop()
    assert not discord.adapter.connected
    assert discord.adapter.client.is_closed()
    after = (discord_py.http.Route.BASE, discord_py.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    assert after == before


async def _adapter(rig: Rig, fake: FakeDiscord, token: str | None) -> DiscordAdapter:
    settings = DiscordSettings(
        enabled=True,
        token=SecretStr(token) if token else None,
        api_base=fake.api_base,
        gateway_url=fake.gateway_url,
    )
    return DiscordAdapter(Dispatcher(BotContext(rig.engine)), settings)


@pytest.mark.slow
async def test_a_wrong_token_fails_start_clearly(rig: Rig, discord_api: FakeDiscord) -> None:
    before = discord_py.http.Route.BASE
    adapter = await _adapter(rig, discord_api, "not-the-token")
    with pytest.raises(discord_py.LoginFailure):
        await adapter.start()
    assert before == discord_py.http.Route.BASE  # start() undid what it had set up
    assert adapter.client.is_closed()
    with pytest.raises(ConfigError):
        await _adapter(rig, discord_api, None)
