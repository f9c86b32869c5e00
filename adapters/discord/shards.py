"""The gateway shards this instance connects: one discord.py client per shard it holds.

Which shards an instance holds is decided by leases in the database
(:mod:`bot.shard_leases`); this module only opens and closes the connections it is told
to. A client per shard (rather than one ``AutoShardedClient``) lets a shard move to
another instance without reconnecting the others. A shard whose gateway session ends
for good (Discord refused the shard, the token was revoked) is logged once and reported
as down, so ``/readyz`` fails until an operator acts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

from adapters.discord.client import ByokClient

__all__ = ["ShardClients", "ShardDown"]

log = logging.getLogger(__name__)

#: Close codes after which Discord will not take the shard as configured.
_SHARD_REFUSED = {
    4010: "Discord refused the shard id (invalid shard)",
    4011: "Discord requires more shards for this bot: raise [discord] shard_count "
    "or leave it 0 to use Discord's recommendation",
}


class ShardDown(Exception):
    """A shard's gateway session could not be opened."""


@dataclass(slots=True)
class _Shard:
    client: ByokClient
    session: asyncio.Task[None]


class ShardClients:
    """Opens and closes the gateway session of each shard this instance holds."""

    def __init__(
        self,
        new_client: Callable[[int, int], ByokClient],
        token: str,
        *,
        outlast: Callable[[], Awaitable[None]],
        ready_within: float = 60.0,
    ) -> None:
        self._new_client = new_client
        self._token = token
        self._outlast = outlast
        self.ready_within = ready_within
        self._shards: dict[int, _Shard] = {}
        #: Why the last shard that could not connect could not (None once one has).
        self.last_failure: str | None = None
        self._retiring: set[asyncio.Task[None]] = set()

    @property
    def held(self) -> tuple[int, ...]:
        return tuple(sorted(self._shards))

    @property
    def down(self) -> tuple[int, ...]:
        """Held shards without a live gateway session right now."""
        return tuple(
            shard_id
            for shard_id, shard in sorted(self._shards.items())
            if not shard.client.gateway_up.is_set() or shard.session.done()
        )

    def clients(self) -> list[ByokClient]:
        return [shard.client for shard in self._shards.values()]

    async def connect(self, shard_id: int, shard_count: int) -> None:
        """Open shard ``shard_id`` of ``shard_count``; returns once its session is up."""
        if shard_id in self._shards:
            return
        client = self._new_client(shard_id, shard_count)
        session: asyncio.Task[None] | None = None
        try:
            await client.login(self._token)
            session = asyncio.create_task(
                client.connect(reconnect=True), name=f"discord-shard-{shard_id}"
            )
            up = asyncio.create_task(client.gateway_up.wait())
            try:
                done, _ = await asyncio.wait(
                    {session, up}, timeout=self.ready_within, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                up.cancel()
            if session in done:
                self.last_failure = _why_ended(shard_id, session)
                raise ShardDown(self.last_failure)
            if not done:
                raise ShardDown(
                    f"shard {shard_id}: no gateway session within {self.ready_within:.0f}s"
                )
        except BaseException:
            if session is not None:
                session.cancel()  # no event is handled from here on
            await client.close()
            raise
        self._shards[shard_id] = _Shard(client, session)
        self.last_failure = None
        session.add_done_callback(lambda task: self._ended(shard_id, task))
        log.info("discord shard %d/%d connected", shard_id, shard_count)

    def _ended(self, shard_id: int, session: asyncio.Task[None]) -> None:
        shard = self._shards.get(shard_id)
        if shard is None or shard.session is not session or shard.client.is_closed():
            return  # we closed it
        log.error("discord shard %d stopped: %s", shard_id, _why_ended(shard_id, session))

    async def disconnect(self, shard_id: int) -> None:
        """Close shard ``shard_id``'s gateway session; returns once it is closed.

        Only the session: answers already under way finish over the client's REST
        session, which is closed once they have (:meth:`close`, at the latest).
        """
        shard = self._shards.pop(shard_id, None)
        if shard is None:
            return
        shard.session.cancel()  # no event is handled from here on
        await asyncio.wait({shard.session})
        client = shard.client
        client.gateway_up.clear()
        # Scheduled first, so the client is closed even if this call is cut short below.
        retire = asyncio.create_task(self._retire(client), name=f"discord-shard-{shard_id}-retire")
        self._retiring.add(retire)
        retire.add_done_callback(self._retiring.discard)
        if client.ws is not None and client.ws.open:
            with contextlib.suppress(Exception):
                await client.ws.close(code=1000)  # Discord ends the session: no resume
        log.info("discord shard %d disconnected", shard_id)

    async def _retire(self, client: ByokClient) -> None:
        try:
            await asyncio.sleep(0)  # events read before the close start their handlers
            await self._outlast()
        finally:
            await client.close()

    async def close(self) -> None:
        """Close every session and every client, answers under way or not."""
        for shard_id in list(self._shards):
            await self.disconnect(shard_id)
        retiring = list(self._retiring)
        for task in retiring:
            task.cancel()
        await asyncio.gather(*retiring, return_exceptions=True)


def _why_ended(shard_id: int, session: asyncio.Task[None]) -> str:
    if session.cancelled():
        return f"shard {shard_id}: session cancelled"
    error = session.exception()
    if isinstance(error, discord.PrivilegedIntentsRequired):
        return (
            "Discord refused the gateway intents the bot asks for (enable them for the "
            "application, see docs/discord.md)"
        )
    if isinstance(error, discord.LoginFailure):
        return "Discord refused the bot token: check DISCORD_TOKEN / [discord] token"
    if isinstance(error, discord.ConnectionClosed):
        reason = _SHARD_REFUSED.get(error.code, f"gateway closed with code {error.code}")
        return f"shard {shard_id}: {reason}"
    if error is None:
        return f"shard {shard_id}: the gateway closed"
    return f"shard {shard_id}: {type(error).__name__}"
