"""The Discord adapter: log in, register the commands, connect, answer, stop gracefully.

The composition root builds one :class:`DiscordAdapter` from the dispatcher and the
``[discord]`` settings and awaits :meth:`DiscordAdapter.start` / :meth:`~DiscordAdapter.stop`.
REST calls go to ``api_base`` (discord.py's ``Route.BASE``) and the gateway is
``gateway_url`` (``DiscordWebSocket.DEFAULT_GATEWAY``), so a Discord-compatible server or
a test fake can stand in for Discord. Commands are registered to ``dev_guild_id`` when
set (instant, for development), else globally (Discord may take a while to show them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord
import yarl
from discord.webhook.async_ import async_context

from adapters.discord.client import ByokClient
from adapters.discord.commands import build_commands
from adapters.discord.conversation import Conversations
from adapters.discord.inflight import Inflight
from adapters.discord.interactions import InteractionFlows
from adapters.discord.log_filter import PayloadFilter
from adapters.discord.messenger import DiscordMessenger
from adapters.discord.streaming import Pacing
from bot.config import DiscordSettings
from bot.dispatch import Dispatcher
from bot.lookup import ModelLookup
from byok.errors import ConfigError

__all__ = ["DiscordAdapter"]

log = logging.getLogger(__name__)


class DiscordAdapter:
    """The bot on Discord: application commands, key modals, streamed answers and DMs."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        settings: DiscordSettings,
        *,
        pacing: Pacing | None = None,
        models: ModelLookup | None = None,
    ) -> None:
        if settings.token is None:
            raise ConfigError("[discord] token is missing (set DISCORD_TOKEN)")
        self._settings = settings
        pacing = pacing or Pacing()
        self.inflight = Inflight()
        self.client = ByokClient(
            self.inflight, lambda kind: dispatcher.adapter_error("discord", kind)
        )
        self.flows = InteractionFlows(
            dispatcher, models or ModelLookup(dispatcher.ctx), self.inflight, pacing
        )
        self.conversations = Conversations(self.client, dispatcher, self.inflight, pacing)
        self.client.message_handler = self.conversations.on_message
        self.client.form_handler = self.flows.submit_form
        self.client.control_handler = self.flows.press
        self.client.tree.tell = self.flows.tell
        for command in build_commands(self.flows, dispatcher.ctx.provider_ids):
            self.client.tree.add_command(command)
        self.messenger = DiscordMessenger(self.client)
        self._filter = PayloadFilter()
        self._gateway: asyncio.Task[None] | None = None
        self._saved: tuple[str, yarl.URL] | None = None

    @property
    def connected(self) -> bool:
        """Logged in and connected to the gateway (for readiness checks)."""
        return self.client.gateway_up.is_set() and not self.client.is_closed()

    def _point_at_settings(self) -> None:
        gateway = discord.gateway.DiscordWebSocket
        self._saved = (discord.http.Route.BASE, gateway.DEFAULT_GATEWAY)
        discord.http.Route.BASE = self._settings.api_base.rstrip("/")
        gateway.DEFAULT_GATEWAY = yarl.URL(self._settings.gateway_url)

    async def start(self, *, connect: bool = True, ready_within: float = 60.0) -> None:
        """Log in, register the commands and (unless ``connect`` is False) open the gateway.

        Returns once the gateway session is up. Raises ``discord.LoginFailure`` for a bad
        token, ``discord.PrivilegedIntentsRequired`` or ``TimeoutError``, having released
        everything it had set up.
        """
        assert self._settings.token is not None
        self._point_at_settings()
        self._filter.install()
        try:
            await self.client.login(self._settings.token.get_secret_value())
            await self.sync_commands()
            if connect:
                await self._connect(ready_within)
        except BaseException:
            await self._release()
            raise

    async def _connect(self, ready_within: float) -> None:
        # Event tasks descend from the gateway task: they answer interactions through
        # the client's reporting webhook adapter.
        async_context.set(self.client.webhooks)
        self._gateway = asyncio.create_task(self.client.connect(reconnect=True))
        up = asyncio.create_task(self.client.gateway_up.wait())
        try:
            done, _ = await asyncio.wait(
                {self._gateway, up}, timeout=ready_within, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            up.cancel()
        if self._gateway in done:
            self._gateway.result()  # raises what ended the connection
            raise ConnectionError("the Discord gateway closed during start-up")
        if not done:
            raise TimeoutError(f"no Discord gateway session within {ready_within:.0f}s")
        log.info("connected to Discord as %s", self.client.user)

    async def sync_commands(self) -> None:
        """Register the application commands; a refusal is logged, not fatal."""
        tree = self.client.tree
        guild_id = self._settings.dev_guild_id
        where = f"in guild {guild_id}" if guild_id else "globally"
        try:
            if guild_id:
                guild = discord.Object(id=guild_id)
                tree.copy_global_to(guild=guild)
                synced = await tree.sync(guild=guild)
            else:
                synced = await tree.sync()
        except discord.Forbidden as exc:
            log.error(
                "could not register commands %s (code %s): invite the bot with the "
                "applications.commands scope",
                where,
                exc.code,
            )
        except discord.HTTPException as exc:
            log.error(
                "could not register commands %s: HTTP %s (code %s)", where, exc.status, exc.code
            )
        else:
            log.info("registered %d application commands %s", len(synced), where)

    async def stop(self, grace: float = 10.0) -> None:
        """Take no new work, let answers in progress finish (up to ``grace``), disconnect."""
        self.flows.accepting = False
        self.conversations.accepting = False
        try:
            async with asyncio.timeout(grace):
                await self.inflight.idle()
        except TimeoutError:
            log.warning("stopping with %d answers still in progress", self.inflight.active)
        await self._release()

    async def _release(self) -> None:
        await self.client.close()
        if self._gateway is not None:
            with contextlib.suppress(Exception):
                await self._gateway
        self._filter.remove()
        if self._saved is not None:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved
            self._saved = None
