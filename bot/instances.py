"""Who is running: one ``bot_instances`` row per ``byok-bot run`` process, kept alive.

Each process registers a row with a unique id and renews its ``seen_until`` by the
database's clock (:func:`~byok.db.clock.db_seconds`); a row whose ``seen_until`` has
passed is a process that stopped without saying so. The live rows tell the shard keeper
how many instances share the Discord shards, and ``/readyz`` which shards each one holds.

On SQLite one ``run`` process is the limit (the file is one host's, and its one writer
cannot carry several bots): :meth:`InstanceRegistry.register` refuses a second live one
with :class:`SeveralInstancesOnSQLiteError`. A row naming this host whose process is gone
is not live, so a restart after SIGKILL starts at once. A row naming this host *and this
very pid* is also taken as gone: it is an earlier life of the same pid (PID 1 in a
container that restarted) — two containers sharing one SQLite file, both with the same
host name, would not be told apart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Insert, delete, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from byok.db.clock import db_seconds
from byok.db.database import Database
from byok.db.tables import BotInstance
from byok.errors import ConfigError, DatabaseUnavailableError

__all__ = [
    "InstanceRegistry",
    "LiveInstance",
    "SeveralInstancesOnSQLiteError",
    "failure_reason",
    "format_shards",
    "parse_shards",
]

log = logging.getLogger(__name__)

#: Rows this long past their ``seen_until`` are deleted by whoever heartbeats next.
STALE_AFTER_S = 86_400.0
#: How often (local seconds) a process looks for stale rows to delete.
SWEEP_EVERY_S = 3_600.0
_SHARDS_TEXT_CHARS = 400  # bot_instances.discord_shards


class SeveralInstancesOnSQLiteError(ConfigError):
    """A second ``byok-bot run`` on a SQLite database another live ``run`` is using."""


@dataclass(frozen=True, slots=True)
class LiveInstance:
    """A registered process whose ``seen_until`` is still ahead of the database's clock."""

    id: str
    name: str
    started_at: float  # seconds since the epoch, by the database's clock
    discord_shards: tuple[int, ...] | None  # None: it runs no Discord shard keeper


class InstanceRegistry:
    """This process's row in ``bot_instances``, and a view of everyone else's."""

    def __init__(self, database: Database, name: str, *, ttl_s: float = 30.0) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.database = database
        self.name = name
        self.ttl_s = ttl_s
        self._host = socket.gethostname()[:24]
        self._pid = os.getpid()
        #: Unique per process and per registry, at most 80 characters (the column has 96).
        self.id = f"{name[:40]}@{self._host}:{self._pid}/{secrets.token_hex(3)}"
        self._next_sweep = 0.0

    async def register(self) -> None:
        """Insert this process's row; on SQLite, refuse if another ``run`` is live there."""
        now = db_seconds(self.database.dialect)
        async with self.database.session() as session:
            if self.database.dialect == "sqlite":
                await self.database.take_write_lock(session)
                rows = await session.execute(
                    select(BotInstance.id, BotInstance.name).where(BotInstance.seen_until >= now)
                )
                others = [(row_id, name) for row_id, name in rows if row_id != self.id]
                gone = [row_id for row_id, _ in others if self._is_gone(row_id)]
                if gone:
                    await session.execute(delete(BotInstance).where(BotInstance.id.in_(gone)))
                live = [(row_id, name) for row_id, name in others if row_id not in gone]
                if live:
                    raise self._refusal(*live[0])
            await session.execute(self._row(now, None))

    def _row(self, now: ColumnElement[float], shards: str | None) -> Insert:
        """This process's row, seen until a ttl from ``now``."""
        return insert(BotInstance).values(
            id=self.id,
            name=self.name[:64],
            started_at=now,
            seen_until=now + self.ttl_s,
            discord_shards=shards,
        )

    async def heartbeat(self, discord_shards: Sequence[int] | None = None) -> list[LiveInstance]:
        """Renew this row (re-inserting it if it was swept), store the shards; who is live.

        ``discord_shards`` is None for an instance that runs no Discord shard keeper.
        """
        now = db_seconds(self.database.dialect)
        shards = None if discord_shards is None else format_shards(discord_shards)
        async with self.database.session() as session:
            renewed = await session.execute(
                update(BotInstance)
                .where(BotInstance.id == self.id)
                .values(seen_until=now + self.ttl_s, discord_shards=shards)
            )
            if not renewed.rowcount:  # type: ignore[attr-defined]
                await session.execute(self._row(now, shards))
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + SWEEP_EVERY_S
                await session.execute(
                    delete(BotInstance).where(BotInstance.seen_until < now - STALE_AFTER_S)
                )
            return await self._live(session)

    async def live(self) -> list[LiveInstance]:
        """Every registered process still seen, oldest first."""
        async with self.database.session() as session:
            return await self._live(session)

    async def deregister(self) -> None:
        """Delete this process's row: a clean stop."""
        async with self.database.session() as session:
            await session.execute(delete(BotInstance).where(BotInstance.id == self.id))

    async def keep_alive(self, interval_s: float | None = None) -> None:
        """Heartbeat with no shards every ``interval_s`` (ttl/3) until cancelled.

        For a process that runs no :class:`~bot.shard_leases.ShardKeeper` (Discord off),
        which heartbeats on its own; run one or the other. A database outage is logged once
        and retried.
        """
        interval = self.ttl_s / 3 if interval_s is None else interval_s
        failing = False
        while True:
            try:
                await self.heartbeat()
            except Exception as exc:  # noqa: BLE001 - an outage must not end the registration
                if not failing:
                    log.warning(
                        "instance registry: cannot renew %s (%s); retrying",
                        self.id,
                        failure_reason(exc),
                    )
                failing = True
            else:
                if failing:
                    log.info("instance registry: %s renewed again", self.id)
                failing = False
            await asyncio.sleep(interval)

    async def _live(self, session: AsyncSession) -> list[LiveInstance]:
        rows = await session.execute(
            select(
                BotInstance.id,
                BotInstance.name,
                BotInstance.started_at,
                BotInstance.discord_shards,
            )
            .where(BotInstance.seen_until >= db_seconds(self.database.dialect))
            .order_by(BotInstance.started_at, BotInstance.id)
        )
        return [
            LiveInstance(row_id, name, started_at, None if shards is None else parse_shards(shards))
            for row_id, name, started_at, shards in rows
        ]

    def _is_gone(self, row_id: str) -> bool:
        """True if ``row_id`` names a process of this host that is not running."""
        where, _, _token = row_id.rpartition("/")
        host_part, _, pid_text = where.rpartition(":")
        _name, _, host = host_part.rpartition("@")
        if host != self._host or not pid_text.isdigit():
            return False
        pid = int(pid_text)
        if pid == self._pid:
            return True  # an earlier life of this pid: we have not registered yet
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # running, as another user
        return False

    def _refusal(self, other_id: str, other_name: str) -> SeveralInstancesOnSQLiteError:
        path = make_url(self.database.url).database
        return SeveralInstancesOnSQLiteError(
            f"another `byok-bot run` ({other_name}, instance {other_id}) is using the SQLite "
            f"database {path}: several `run` instances need PostgreSQL — set [database] "
            'url = "postgresql+asyncpg://user:password@host/dbname" in every instance. '
            "`byok-bot console` beside one `run` is fine. If that instance is no longer "
            f"running, its registration runs out {self.ttl_s:.0f} s after its last heartbeat."
        )


def failure_reason(exc: BaseException) -> str:
    """Why a database call failed, for a log line: never a statement or its parameters."""
    if isinstance(exc, DatabaseUnavailableError):
        return str(exc)  # written for operators, password hidden
    if isinstance(exc, TimeoutError):
        return "the database did not answer in time"
    return type(exc).__name__


def format_shards(shards: Iterable[int]) -> str:
    """``0-3,7,9-12``: shard ids as ranges, cut at a comma to fit the column."""
    ordered = sorted(set(shards))
    parts: list[str] = []
    start = previous = None
    for shard in [*ordered, None]:
        if shard is not None and previous is not None and shard == previous + 1:
            previous = shard
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = shard
    text = ",".join(parts)
    if len(text) > _SHARDS_TEXT_CHARS:
        text = text[: _SHARDS_TEXT_CHARS + 1].rpartition(",")[0]
    return text


def parse_shards(text: str) -> tuple[int, ...]:
    """The shard ids :func:`format_shards` wrote."""
    shards: list[int] = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        shards.extend(range(int(first), int(last or first) + 1))
    return tuple(shards)
