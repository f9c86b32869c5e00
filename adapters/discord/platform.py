"""Discord as a :class:`bot.chat_platform.ChatPlatform`: what ``run`` and the CLI start.

Builds the :class:`DiscordAdapter` from ``[discord]`` and turns its start-up failures
into ``StartError``\\ s that name the setting to check. Under ``run`` it also joins the
process's :class:`~adapters.instance.Membership`: the gateway shards are leased through
its instance registration, ``/readyz`` and ``/metrics`` show the shards held, and when
shutdown begins the shards are handed to the other instances. That coupling is Discord's
alone, so it lives here rather than in ``run``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import discord
from aiohttp import web

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.messenger import DiscordMessenger
from adapters.discord.shards import ShardDown
from adapters.instance import Membership
from bot.app import App
from bot.chat_platform import StartError
from bot.config import DiscordSettings

__all__ = ["DiscordPlatform"]


class DiscordPlatform:
    """Discord for ``byok-bot run`` (with ``membership``) and ``digest --send-now``."""

    def __init__(
        self, settings: DiscordSettings, app: App, membership: Membership | None = None
    ) -> None:
        self._settings = settings
        self._membership = membership
        self.adapter = DiscordAdapter(app.dispatcher, settings)

    @property
    def messenger(self) -> DiscordMessenger:
        return self.adapter.messenger

    async def start(self) -> None:
        registry = self._membership.registry if self._membership is not None else None
        with self._start_errors():
            await self.adapter.start(registry=registry)
        if self._membership is not None:
            self._membership.discord = self.adapter

    async def start_for_sending(self) -> None:
        """Log in for REST only: no gateway, the commands left as registered."""
        with self._start_errors():
            await self.adapter.start(connect=False, register_commands=False)

    async def hand_over(self) -> None:
        if self._membership is not None:
            await self._membership.hand_over()

    async def stop(self, grace_s: float) -> None:
        await self.adapter.stop(grace_s=grace_s)

    def readiness(self) -> tuple[str, bool]:
        return "discord", self.adapter.connected

    def routes(self) -> Sequence[web.RouteDef]:
        return ()

    def describe(self) -> str:
        guild = self._settings.dev_guild_id
        where = f"commands registered to guild {guild}" if guild else "commands registered globally"
        return f"Discord: connected, {where}"

    @contextlib.contextmanager
    def _start_errors(self) -> Iterator[None]:
        settings = self._settings
        try:
            yield
        except discord.LoginFailure:
            raise StartError(
                "Discord refused the bot token: check DISCORD_TOKEN / [discord] token"
            ) from None
        except (OSError, discord.HTTPException, discord.GatewayNotFound) as exc:
            raise StartError(
                f"Discord: cannot reach [discord] api_base = {settings.api_base} or "
                f"gateway_url = {settings.gateway_url} ({type(exc).__name__})"
            ) from None
        except ShardDown as exc:
            raise StartError(
                f"Discord: {exc} (the gateway is [discord] gateway_url = {settings.gateway_url})"
            ) from None
