"""This ``run`` process among the others on one database: join, show, leave.

Every ``byok-bot run`` registers in ``bot_instances`` (a second one on a SQLite file is
refused there with a message saying several instances need PostgreSQL) and stays
registered by heartbeat: the Discord shard keeper's rounds when Discord is on, else
:meth:`~bot.instances.InstanceRegistry.keep_alive`. ``/readyz`` and ``/metrics`` show the
instances it sees and the Discord shards it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Protocol

from bot.instances import InstanceRegistry, LiveInstance, format_shards
from bot.metrics import Metrics

__all__ = ["Membership", "ShardHolder"]

log = logging.getLogger("byok.run")

#: A probe or a stop waits this long for the database at most.
DATABASE_WAIT_S = 3.0


class ShardHolder(Protocol):
    """The Discord adapter as seen here (a protocol, so the Discord package may import this)."""

    def shard_status(self) -> tuple[frozenset[int], int, float | None]: ...

    async def hand_over(self) -> None: ...


@dataclass
class Membership:
    """This process's registration, and what it holds, for the operator to see."""

    registry: InstanceRegistry
    metrics: Metrics
    discord: ShardHolder | None = None
    _keep_alive: asyncio.Task[None] | None = field(default=None, repr=False)

    async def keep_alive_unless_discord(self) -> None:
        """Heartbeat by itself when no shard keeper does it (Discord off)."""
        if self.discord is None:
            self._keep_alive = asyncio.create_task(
                self.registry.keep_alive(), name="instance heartbeat"
            )

    async def hand_over(self) -> None:
        """When shutdown begins: give the Discord shards up now, if another instance can
        take them (alone, this one keeps them through its drain, so users hear that the
        bot is restarting rather than nothing)."""
        if self.discord is None:
            return
        try:
            async with asyncio.timeout(DATABASE_WAIT_S):
                live = await self.registry.live()
        except Exception:  # noqa: BLE001 - keep the shards; the leases run out anyway
            return
        if not any(i.discord_shards is not None and i.id != self.registry.id for i in live):
            return
        await self.discord.hand_over()
        await self.leave()  # the others' fair share counts this instance out now

    async def leave(self) -> None:
        if self._keep_alive is not None:
            self._keep_alive.cancel()
            await asyncio.gather(self._keep_alive, return_exceptions=True)
        # The row runs out by itself anyway: never let a slow database hold a stop up.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(DATABASE_WAIT_S):
                await self.registry.deregister()

    async def readiness_detail(self) -> tuple[str, object]:
        return "instance", await self.status()

    async def status(self) -> dict[str, object]:
        """For ``/readyz`` and before a ``/metrics`` scrape: refreshes the gauges too."""
        try:
            async with asyncio.timeout(DATABASE_WAIT_S):
                live: list[LiveInstance] | None = await self.registry.live()
        except Exception:  # noqa: BLE001 - /readyz's database check reports the outage
            live = None
        status: dict[str, object] = {
            "id": self.registry.id,
            "name": self.registry.name,
            "instances_live": None if live is None else len(live),
        }
        if live is not None:
            self.metrics.instances_seen(len(live))
        if self.discord is not None:
            held, count, age = self.discord.shard_status()
            self.metrics.discord_shards(held, count)
            status["discord"] = {
                "shard_count": count,
                "shards_held": sorted(held),
                "lease_renewed_s_ago": None if age is None else round(age, 1),
            }
        return status

    async def describe(self) -> str:
        """One start-up line: how many instances and shards this one sees."""
        live = await self.registry.live()
        names = ", ".join(sorted(i.name for i in live))
        line = f"instances: {len(live)} running on this database ({names})"
        if self.discord is not None:
            held, count, _ = self.discord.shard_status()
            elsewhere = sorted(
                {s for i in live if i.id != self.registry.id for s in i.discord_shards or ()}
            )
            line += (
                f"; Discord shards: {count} in all, {format_shards(held) or 'none'} here, "
                f"{format_shards(elsewhere) or 'none'} on the others"
            )
        return line
