"""The Discord adapter: log in, register the commands, connect, answer, stop gracefully.

:mod:`adapters.discord.platform` builds one :class:`DiscordAdapter` from the dispatcher
and the ``[discord]`` settings and awaits :meth:`DiscordAdapter.start` /
:meth:`~DiscordAdapter.stop`.
REST calls go to ``api_base`` (discord.py's ``Route.BASE``) and the gateway is
``gateway_url`` (``DiscordWebSocket.DEFAULT_GATEWAY``), so a Discord-compatible server or
a test fake can stand in for Discord. Commands are registered to ``dev_guild_id`` when
set (instant, for development), else globally (Discord may take a while to show them).
"""

from __future__ import annotations

import contextlib
import logging

import discord
import yarl
from discord.webhook.async_ import async_context

from adapters.discord.client import ByokClient
from adapters.discord.commands import build_commands
from adapters.discord.conversation import Conversations
from adapters.discord.identify_gate import IdentifyGate
from adapters.discord.interactions import InteractionFlows
from adapters.discord.log_filter import PayloadFilter
from adapters.discord.messenger import DiscordMessenger
from adapters.discord.shards import ShardClients, ShardDown
from adapters.discord.streaming import Pacing
from bot.config import DiscordSettings
from bot.dispatch import Dispatcher
from bot.inflight import InFlightWork
from bot.instances import InstanceRegistry, format_shards
from bot.lookup import ModelLookup
from bot.shard_keeper import ShardKeeper
from bot.shard_leases import ShardLeases
from byok.errors import ConfigError

__all__ = ["DiscordAdapter"]

log = logging.getLogger(__name__)

#: How long start() waits for the first shards before going on (the rest keep connecting).
FIRST_SHARDS_WAIT_S = 20.0


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
        self._dispatcher = dispatcher
        self._provider_ids = dispatcher.ctx.provider_ids
        pacing = pacing or Pacing()
        #: Every handler at work, tracked under its event's id (interaction or message):
        #: stop() lets them finish, a shard closes after its own, a test awaits one.
        self.inflight = InFlightWork()
        self.flows = InteractionFlows(
            dispatcher, models or ModelLookup(dispatcher.ctx), self.inflight, pacing
        )
        # The adapter's own client speaks REST (commands, DMs); each held shard has one more.
        self.client = ByokClient(self.inflight, self._report)
        self.conversations = Conversations(self.client, dispatcher, self.inflight, pacing)
        self._wire(self.client)
        self.messenger = DiscordMessenger(self.client)
        self.shards = ShardClients(
            self._new_client_for_shard,
            settings.token.get_secret_value(),
            outlast=self.inflight.outlast,
        )
        self._keeper: ShardKeeper | None = None
        self._identify_gate: IdentifyGate | None = None
        self._leases: ShardLeases | None = None
        self._own_registry: InstanceRegistry | None = None
        self._filter = PayloadFilter()
        self._saved: tuple[str, yarl.URL] | None = None

    def _report(self, kind: str) -> None:
        self._dispatcher.adapter_error("discord", kind)

    @property
    def connected(self) -> bool:
        """Every shard this instance holds a lease of has a live session (for readiness)."""
        if self._keeper is None or self._leases is None:
            return False
        return self._leases.held <= self._keeper.held and not self.shards.down

    def _new_client_for_shard(self, shard_id: int, shard_count: int) -> ByokClient:
        client = ByokClient(self.inflight, self._report, shard=(shard_id, shard_count))
        if self._identify_gate is not None:
            client.identify_turn = self._identify_gate.turn
        client.may_answer = lambda: self._keeper is not None and self._keeper.answers_for(shard_id)
        return self._wire(client)

    def _wire(self, client: ByokClient) -> ByokClient:
        client.message_handler = self.conversations.on_message
        client.form_handler = self.flows.submit_form
        client.control_handler = self.flows.press
        client.tree.tell = self.flows.tell
        for command in build_commands(self.flows, self._provider_ids):
            client.tree.add_command(command)
        return client

    def _point_at_settings(self) -> None:
        gateway = discord.gateway.DiscordWebSocket
        self._saved = (discord.http.Route.BASE, gateway.DEFAULT_GATEWAY)
        discord.http.Route.BASE = self._settings.api_base.rstrip("/")
        gateway.DEFAULT_GATEWAY = yarl.URL(self._settings.gateway_url)

    async def start(
        self,
        *,
        connect: bool = True,
        register_commands: bool = True,
        ready_within: float = 60.0,
        registry: InstanceRegistry | None = None,
    ) -> None:
        """Log in, register the commands and (unless ``connect`` is False) open the gateway.

        With ``connect``, the instance claims its share of the gateway shards (leases in
        the database, see :mod:`bot.shard_leases`) and returns once those are connected;
        an instance that gets none (others hold them all) stands by and takes shards over
        when an instance stops. Without it the bot only speaks REST (one-shot commands
        send DMs; ``register_commands=False`` leaves the commands as they are). Raises
        ``discord.LoginFailure`` for a bad token, ``discord.PrivilegedIntentsRequired``,
        :class:`ShardDown` or ``TimeoutError``, having released everything it had set up.
        """
        assert self._settings.token is not None
        self._point_at_settings()
        self._filter.install()
        try:
            await self.client.login(self._settings.token.get_secret_value())
            if register_commands:
                await self.sync_commands()
            if connect:
                await self._connect(ready_within, registry)
        except BaseException:
            await self._release()
            raise

    async def _connect(self, ready_within: float, registry: InstanceRegistry | None) -> None:
        # Event tasks descend from each shard's gateway task: they answer interactions
        # through the reporting webhook adapter.
        async_context.set(self.client.webhooks)
        database = self._dispatcher.ctx.engine.database
        if registry is None:
            registry = InstanceRegistry(database, "discord", ttl_s=self._settings.shard_lease_s)
            await registry.register()
            self._own_registry = registry
        self.shards.ready_within = ready_within
        recommended, _url, session_limit = await self.client.http.get_bot_gateway()
        self._identify_gate = IdentifyGate(database, int(session_limit["max_concurrency"]))
        wanted = self._settings.shard_count or max(1, int(recommended))
        leases = ShardLeases(database, registry.id, ttl_s=self._settings.shard_lease_s)
        count = await leases.settle_count(wanted)
        if count != wanted:
            log.warning(
                "discord: using %d shards, as the running instances do (wanted %d); the "
                "count changes once every instance has stopped",
                count,
                wanted,
            )
        self._keeper = ShardKeeper(
            leases, registry, connect=self.shards.connect, disconnect=self.shards.disconnect
        )
        self._leases = leases
        # Long enough for a first shard (a refusal is fatal), short enough that a big
        # share waiting for identify turns does not hold the HTTP server's start back.
        await self._keeper.start(wait_s=FIRST_SHARDS_WAIT_S)
        if self.shards.last_failure is not None:  # a shard of the first share: fatal
            raise ShardDown(self.shards.last_failure)
        held = format_shards(self.shards.held) or "none (standing by)"
        log.info("connected to Discord as %s; shards held: %s of %d", self.client.user, held, count)

    def shard_status(self) -> tuple[frozenset[int], int, float | None]:
        """Shards held and connected here, the shard count, seconds since the last renewal."""
        keeper = self._keeper
        if keeper is None:
            return frozenset(), 0, None
        return keeper.held, keeper.shard_count, keeper.last_renewed_age_s

    async def hand_over(self) -> None:
        """Give this instance's shards up now, for other instances to take within a round.

        Answers in progress carry on (they speak REST); called when shutdown begins.
        """
        if self._keeper is not None:
            keeper, self._keeper = self._keeper, None
            await keeper.stop()  # disconnects each shard (answers under way go on), frees leases

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

    async def stop(self, grace_s: float = 10.0) -> None:
        """Take no new work, let answers in progress finish (up to ``grace_s``), disconnect."""
        self.flows.accepting = False
        self.conversations.accepting = False
        if not await self.inflight.wait_idle(grace_s):
            log.warning("stopping with %d answers still in progress", self.inflight.active)
        await self._release()

    async def _release(self) -> None:
        await self.hand_over()
        await self.shards.close()
        if self._own_registry is not None:
            registry, self._own_registry = self._own_registry, None
            with contextlib.suppress(Exception):
                await registry.deregister()
        await self.client.close()
        self._filter.remove()
        if self._saved is not None:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved
            self._saved = None
