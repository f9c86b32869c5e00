"""The discord.py client: the intents the bot needs, its command tree, its event hooks.

Intents: ``guilds`` (the servers and channels the bot is in, which discord.py needs to
resolve interactions and messages), ``dm_messages`` (DMs to the bot) and
``guild_messages`` (messages in servers; Discord delivers their content only when they
mention the bot or reply to it, which is all the bot answers). ``message_content`` is
*not* requested: it is privileged, needs approval for bots in more than 100 servers,
and would show the bot every message in every channel.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.webhook.async_ import AsyncWebhookAdapter

from adapters.discord.surfaces import Interaction
from bot.incidents import record_incident
from bot.inflight import InFlightWork

__all__ = ["ByokClient", "ByokTree", "ReportingWebhookAdapter", "intents"]

log = logging.getLogger(__name__)

Teller = Callable[[Interaction, str], Awaitable[None]]


def intents() -> discord.Intents:
    chosen = discord.Intents.none()
    chosen.guilds = True
    chosen.guild_messages = True
    chosen.dm_messages = True
    return chosen


#: The events the bot answers: a shard's lease must hold when one arrives.
_ANSWERED_EVENTS = ("MESSAGE_CREATE", "INTERACTION_CREATE")


class ByokTree(app_commands.CommandTree[discord.Client]):
    """Answers interactions the tree itself cannot route (stale commands) or that failed."""

    def __init__(self, client: discord.Client, inflight: InFlightWork) -> None:
        super().__init__(client)
        self._inflight = inflight
        self.tell: Teller | None = None

    async def on_error(
        self, interaction: Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        with self._inflight.track(interaction.id):
            if isinstance(
                error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch
            ):
                log.warning(
                    "interaction for an outdated command (%s); commands need a sync",
                    type(error).__name__,
                )
                text = "This command has just changed; please try again in a minute."
            else:
                text = record_incident(log, "command", error).message
            if self.tell is not None:
                await self.tell(interaction, text)


class ReportingWebhookAdapter(AsyncWebhookAdapter):
    """discord.py's adapter for interaction responses and followups, counting failures.

    Interaction answers travel through it rather than the client's HTTPClient; the
    adapter installs it (a context variable) before the gateway starts, so every event
    task uses it.
    """

    def __init__(self, report: Callable[[str], None]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._report = report

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        return await _reported(super().request(*args, **kwargs), self._report)


async def _reported(call: Awaitable[Any], report: Callable[[str], None]) -> Any:
    """Await a REST call, telling ``report`` how it failed (``http_403``, ``connection``)."""
    try:
        return await call
    except discord.HTTPException as exc:
        report(f"http_{exc.status}")
        raise
    except (aiohttp.ClientError, OSError):
        report("connection")
        raise


class ByokClient(discord.Client):
    """A gateway client that hands messages to the conversation handler.

    ``shard`` is ``(shard_id, shard_count)`` for the client of one gateway shard; the
    adapter's own client (REST only: command registration, DMs) has none.

    ``on_platform_error`` hears of every failed REST call (``http_403``, ``connection``),
    interaction answers included (:attr:`webhooks`), and every gateway drop, for the
    adapter-error metric.
    """

    def __init__(
        self,
        inflight: InFlightWork,
        on_platform_error: Callable[[str], None] | None = None,
        *,
        shard: tuple[int, int] | None = None,
    ) -> None:
        shard_id, shard_count = shard if shard is not None else (None, None)
        super().__init__(
            intents=intents(),
            shard_id=shard_id,
            shard_count=shard_count,
            allowed_mentions=discord.AllowedMentions.none(),  # model output never pings
            max_ratelimit_timeout=30.0,  # longer waits raise RateLimited instead of hanging
            chunk_guilds_at_startup=False,
            member_cache_flags=discord.MemberCacheFlags.none(),
        )
        self.tree = ByokTree(self, inflight)
        self.message_handler: Callable[[discord.Message], Awaitable[None]] | None = None
        self.form_handler: Callable[[Interaction], Awaitable[None]] | None = None
        self.control_handler: Callable[[Interaction], Awaitable[None]] | None = None
        self.gateway_up = asyncio.Event()
        #: Waits for this shard's identify turn (set for shard clients); None: discord.py's.
        self.identify_turn: Callable[[int | None], Awaitable[None]] | None = None
        #: Whether this client's events may be answered now (a shard client: while its
        #: lease holds); events that arrive otherwise are dropped before any handler.
        self.may_answer: Callable[[], bool] | None = None
        self._gate_answered_events()
        self._report = on_platform_error or (lambda kind: None)
        self.webhooks = ReportingWebhookAdapter(self._report)
        request = self.http.request

        # Every REST call passes discord.py's HTTPClient.request: one place to count failures.
        async def reported(route: discord.http.Route, **kwargs: Any) -> Any:
            return await _reported(request(route, **kwargs), self._report)

        self.http.request = reported  # type: ignore[method-assign]

    def _gate_answered_events(self) -> None:
        # The gateway reads this very dict (DiscordWebSocket._discord_parsers).
        parsers = self._connection.parsers
        for event in _ANSWERED_EVENTS:
            parse = parsers[event]

            def gated(data: Any, parse: Callable[[Any], None] = parse, event: str = event) -> None:
                if self.may_answer is None or self.may_answer():
                    parse(data)
                else:
                    log.warning(
                        "discord: %s dropped: this instance no longer holds its shard", event
                    )

            parsers[event] = gated

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if self.identify_turn is None:
            await super().before_identify_hook(shard_id, initial=initial)
        else:
            await self.identify_turn(shard_id)

    async def on_message(self, message: discord.Message) -> None:
        if self.message_handler is not None:
            await self.message_handler(message)

    async def on_interaction(self, interaction: Interaction) -> None:
        # Modals are never held in discord.py's view store (see modals.py): every
        # submit comes here, so none is dropped when a modal was forgotten.
        if interaction.type is discord.InteractionType.modal_submit and self.form_handler:
            await self.form_handler(interaction)
        # Likewise buttons and selects (the settings panel): routed by their custom_id.
        elif interaction.type is discord.InteractionType.component and self.control_handler:
            await self.control_handler(interaction)

    async def on_connect(self) -> None:
        self.gateway_up.set()

    async def on_resumed(self) -> None:
        self.gateway_up.set()

    async def on_disconnect(self) -> None:
        self.gateway_up.clear()
        if not self.is_closed():  # not our own shutdown
            self._report("gateway_disconnect")

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        # The event's arguments are not logged: a message or modal may hold a key.
        record_incident(log, f"event {event_method}", sys.exception())
