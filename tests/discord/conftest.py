"""The Discord adapter over the fake Discord API, a real engine and the fake providers.

discord.py runs unmodified: ``start(connect=False)`` logs in against the fake REST API
and registers the commands; events are fed through discord.py's own parsers
(``parse_interaction_create``, ``parse_message_create``) and each test awaits the
handler of that event (``InFlightWork.finished``), never a sleep.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr

from adapters.discord import WORKSPACE, DiscordAdapter, Pacing
from bot.config import DiscordSettings
from bot.context import BotContext
from bot.dispatch import Dispatcher
from byok.types import UserRef
from tests.engine.conftest import MakeRig, Rig, make_rig, rig  # noqa: F401 - fixtures
from tests.fakes.discord_events import ALICE, DiscordEvents
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.loopback import RecordedRequest

__all__ = ["DiscordRig", "user_ref"]

WAIT = 10.0  # seconds: a bound for awaiting handlers, never a pause


def user_ref(user: dict[str, Any] = ALICE) -> UserRef:
    return UserRef("discord", WORKSPACE, user["id"])


@dataclass
class DiscordRig:
    fake: FakeDiscord
    events: DiscordEvents
    adapter: DiscordAdapter
    engine: Rig

    async def interact(self, payload: dict[str, Any]) -> None:
        """Deliver an INTERACTION_CREATE and wait until the bot has fully handled it."""
        self.adapter.client._connection.parse_interaction_create(payload)
        await asyncio.wait_for(self.adapter.inflight.finished(int(payload["id"])), WAIT)

    async def post(self, payload: dict[str, Any]) -> None:
        """Deliver a MESSAGE_CREATE addressed to the bot and wait for its answer."""
        self.adapter.client._connection.parse_message_create(payload)
        await asyncio.wait_for(self.adapter.inflight.finished(int(payload["id"])), WAIT)

    def callbacks(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        return self.fake.interaction(payload["id"]).callbacks

    async def add_key(
        self, provider: str = "openai", key: str | None = None, **fields: str
    ) -> dict[str, Any]:
        """``/byok add`` through the modal, as a user would; returns the modal submit."""
        opened = self.events.command("byok", [self.events.sub("add", provider=provider)])
        await self.interact(opened)
        modal = self.callbacks(opened)[0]["data"]
        values = {"API key": key or self.engine.fakes.key(provider), **fields}
        submit = self.events.modal_submit(modal, values)
        await self.interact(submit)
        return submit

    async def set_history(self, on: bool) -> None:
        await self.interact(
            self.events.command(
                "byok", [self.events.sub("prefs", setting="history", value="on" if on else "off")]
            )
        )

    def everything_sent(self) -> str:
        """Every byte the bot sent to Discord: methods, URLs, headers and bodies."""
        return "\n".join(_render(r) for r in self.fake.requests)


def _render(request: RecordedRequest) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
    return f"{request.method} {request.url}\n{headers}\n{request.body.decode(errors='replace')}"


async def poll(condition: Callable[[], bool], what: str) -> None:
    """A bounded wait for a recorded-call condition (for work no handler id covers)."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 - a bounded poll on recorded calls
            await asyncio.sleep(0.01)
    assert condition(), what


@pytest.fixture
async def discord_api() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token="fake-" + secrets.token_hex(8)) as fake:
        yield fake


MakeDiscord = Callable[..., Awaitable[DiscordRig]]


@pytest.fixture
async def make_discord(
    make_rig: MakeRig,  # noqa: F811 - the fixture
    discord_api: FakeDiscord,
) -> AsyncIterator[MakeDiscord]:
    adapters: list[DiscordAdapter] = []

    async def make(
        *,
        dev_guild_id: int | None = None,
        connect: bool = False,
        pacing: Pacing | None = None,
        rig_overrides: dict[str, Any] | None = None,
    ) -> DiscordRig:
        engine = await make_rig(**(rig_overrides or {}))
        context = BotContext(
            engine.engine,
            max_transcript_chars=20_000,
            summary_part_tokens=2000,
            summary_output_tokens=400,
        )
        settings = DiscordSettings(
            enabled=True,
            token=SecretStr(discord_api.token),
            dev_guild_id=dev_guild_id,
            api_base=discord_api.api_base,
            gateway_url=discord_api.gateway_url,
        )
        adapter = DiscordAdapter(Dispatcher(context), settings, pacing=pacing or Pacing(0.0))
        adapters.append(adapter)
        events = DiscordEvents(discord_api)
        await adapter.start(connect=connect, ready_within=WAIT)
        adapter.client._connection.parse_guild_create(events.guild())
        return DiscordRig(discord_api, events, adapter, engine)

    yield make
    for adapter in adapters:
        await adapter.stop(grace_s=WAIT)
    unanswered = [
        state.id
        for state in discord_api.interactions.values()
        if not discord_api.requests_to(
            f"/interactions/{state.id}/{state.payload['token']}/callback"
        )
    ]
    assert not unanswered, f"interactions never answered: {unanswered}"


@pytest.fixture
async def discord(make_discord: MakeDiscord) -> DiscordRig:
    return await make_discord()
