"""Direct messages on the bot's own initiative (digests, spend alerts), for ``bot/``."""

from __future__ import annotations

import logging

import aiohttp
import discord

from adapters.discord.identity import PLATFORM
from adapters.discord.render import render
from bot.messenger import DeliveryError
from bot.reply import Reply
from byok.types import UserRef

__all__ = ["DiscordMessenger"]

log = logging.getLogger(__name__)


class DiscordMessenger:
    """Implements :class:`bot.messenger.Messenger` over a logged-in discord.py client."""

    platform = PLATFORM

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    async def send_dm(self, user: UserRef, reply: Reply) -> None:
        if user.platform != PLATFORM or not user.user.isdigit():
            raise DeliveryError(f"{user} is not a Discord user", retryable=False)
        sent = 0
        try:
            channel = await self._client.create_dm(discord.Object(id=int(user.user)))
            for out in render(reply):
                await channel.send(**out.send_kwargs())
                sent += 1
        except (discord.HTTPException, discord.RateLimited, aiohttp.ClientError, OSError) as exc:
            failure = _delivery_error(exc)
            if sent:
                # Part of it is out (the text, say, without its chart): trying again
                # would send that part twice, so it counts as delivered.
                log.warning("discord: a direct message went out incomplete: %s", failure)
                return
            raise failure from exc
        log.info("sent a DM to Discord user %s", user.user)


def _delivery_error(exc: Exception) -> DeliveryError:
    if isinstance(exc, discord.Forbidden):
        # 50007: the user blocked the bot, left every shared server or closed DMs.
        return DeliveryError(f"Discord refused the DM (code {exc.code})", retryable=False)
    if isinstance(exc, discord.NotFound):
        return DeliveryError(f"no such Discord user (code {exc.code})", retryable=False)
    if isinstance(exc, discord.RateLimited):
        return DeliveryError(f"rate limited for {exc.retry_after:.0f}s")
    if isinstance(exc, discord.HTTPException):
        return DeliveryError(
            f"Discord answered HTTP {exc.status} (code {exc.code})",
            retryable=exc.status >= 500 or exc.status == 429,
        )
    return DeliveryError(f"could not reach Discord ({type(exc).__name__})")
