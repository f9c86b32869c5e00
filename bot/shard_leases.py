"""Discord shard leases in the database: which instance connects which gateway shard.

Several ``byok-bot run`` instances share one bot's gateway shards without being told
which: the rows of ``discord_shard_leases`` are the shards (their count is the shard
count everyone connects with), and an instance connects a shard only while it holds that
row's lease. The database is the only coordinator:

- **Claim**: a conditional ``UPDATE`` of rows that are free or whose ``lease_until`` has
  passed by the database's clock, setting ``holder`` and ``epoch = epoch + 1``. On
  PostgreSQL the rows are picked ``FOR UPDATE SKIP LOCKED`` and the condition is checked
  again under the row lock; on SQLite the round holds the write lock. No shard ever has
  two holders.
- **Renew**: ``lease_until = now + ttl`` where ``holder`` is us and ``epoch`` the one we
  claimed with; a row that does not match was lost (someone took it after it ran out).
- **Share**: each instance claims up to a fair share of the shards for the live instance
  count and gives back one shard a round while it holds more, so a newcomer gets its
  share without shards moving back and forth (:func:`fair_share`).

The keeper that connects what an instance holds is :mod:`bot.shard_keeper`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from byok.db.clock import db_seconds
from byok.db.database import Database
from byok.db.tables import DiscordShardLease

__all__ = ["FairShare", "LeaseRound", "ShardLeases", "fair_share"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LeaseRound:
    """What one :meth:`ShardLeases.renew_and_claim` did.

    ``held``: the leases held now (renewed or newly claimed). ``gained``: claimed this
    round. ``lost``: held before, not renewed (another instance took them after they ran
    out, or the table was rewritten). ``released``: given up to make room for others —
    no longer in ``held``; disconnect them, then :meth:`ShardLeases.release` them (until
    then they stay ours in the database, and run out after the ttl).
    """

    held: frozenset[int]
    gained: frozenset[int]
    lost: frozenset[int]
    released: frozenset[int]
    shard_count: int
    renewed_at: float  # seconds since the epoch, by the database's clock


@dataclass(frozen=True, slots=True)
class FairShare:
    """How many leases one instance may hold now, and whether it should give one back."""

    claim_up_to: int
    release_one: bool


def fair_share(
    shard_count: int, live_instances: int, holdings: Mapping[str, int], me: str
) -> FairShare:
    """This instance's share, from every holder's count of unexpired leases.

    With ``n`` live instances each should end with ``shard_count // n`` shards, and
    ``shard_count % n`` of them with one more. An instance with more than that one more
    gives one back. While some live instance holds fewer than ``shard_count // n``
    (a newcomer), nobody claims beyond that floor, and of the instances holding the one
    more, only the first ``shard_count % n`` (by holder id) keep it — so freed shards go
    to the newcomer, not back to whoever freed them.
    """
    n = max(1, live_instances)
    floor, extra = divmod(shard_count, n)
    ceiling = floor + (1 if extra else 0)
    mine = holdings.get(me, 0)
    holding_nothing = max(0, n - sum(1 for count in holdings.values() if count > 0))
    needy = sum(1 for count in holdings.values() if 0 < count < floor)
    if floor > 0:
        needy += holding_nothing
    if mine > ceiling:
        return FairShare(ceiling, release_one=True)
    if needy and mine == ceiling > floor:
        at_ceiling = sorted(holder for holder, count in holdings.items() if count >= ceiling)
        return FairShare(ceiling, release_one=at_ceiling.index(me) >= extra)
    return FairShare(floor if needy else ceiling, release_one=False)


class ShardLeases:
    """This instance's leases on ``discord_shard_leases`` rows, by holder id."""

    def __init__(self, database: Database, holder_id: str, *, ttl_s: float = 30.0) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.database = database
        self.holder_id = holder_id
        self.ttl_s = ttl_s
        self._held: dict[int, int] = {}  # shard id -> the epoch we claimed it with
        self._releasing: dict[int, int] = {}  # given up, not yet released in the database
        self._lock = asyncio.Lock()  # one operation at a time keeps _held true

    @property
    def held(self) -> frozenset[int]:
        """The shards whose leases this instance holds, as of its last round."""
        return frozenset(self._held)

    async def settle_count(self, wanted: int) -> int:
        """The shard count every instance uses: ``wanted`` if it may be set now.

        The table is (re)written to shards ``0..wanted-1`` when it is empty, or when it
        has another count and no lease on it is held; otherwise the stored count stays
        and is returned (live instances are connected with it).
        """
        if wanted < 1:
            raise ValueError("a bot has at least one shard")
        now = db_seconds(self.database.dialect)
        async with self._lock, self.database.session() as session:
            await self._bound_waits(session)
            await self._lock_table(session)
            count = await session.scalar(select(func.count()).select_from(DiscordShardLease)) or 0
            taken = await session.scalar(
                select(func.count())
                .select_from(DiscordShardLease)
                .where(DiscordShardLease.holder.is_not(None), DiscordShardLease.lease_until >= now)
            )
            if count == wanted or (count and taken):
                return count
            await session.execute(delete(DiscordShardLease))
            await session.execute(
                insert(DiscordShardLease),
                [
                    {"shard_id": shard, "holder": None, "lease_until": 0.0, "epoch": 0}
                    for shard in range(wanted)
                ],
            )
            log.info("discord shard leases: shard count set to %d (was %d)", wanted, count)
            return wanted

    async def renew_and_claim(self, live_instances: int) -> LeaseRound:
        """Renew what is held, then claim up to the fair share or give one shard back."""
        now_sql = db_seconds(self.database.dialect)
        async with self._lock:
            before = dict(self._held)
            async with self.database.session() as session:
                await self._bound_waits(session)
                if self.database.dialect == "sqlite":
                    await self.database.take_write_lock(session)
                renewed = await self._renew(session, before)
                now = float(await session.scalar(select(now_sql)) or 0.0)
                rows = (
                    await session.execute(
                        select(
                            DiscordShardLease.shard_id,
                            DiscordShardLease.holder,
                            DiscordShardLease.lease_until,
                        )
                    )
                ).all()
                holdings = Counter(
                    holder for _, holder, until in rows if holder is not None and until >= now
                )
                holdings[self.holder_id] = len(renewed)
                share = fair_share(len(rows), live_instances, holdings, self.holder_id)
                free = sum(1 for _, holder, until in rows if holder is None or until < now)
                wanted = min(share.claim_up_to - len(renewed), free)
                gained = await self._claim(session, wanted) if wanted > 0 else {}
                released: dict[int, int] = {}
                if share.release_one and renewed:
                    last = max(renewed)
                    released[last] = renewed.pop(last)
            # Committed: only now is this the truth.
            self._held = {**renewed, **gained}
            self._releasing.update(released)
            return LeaseRound(
                held=frozenset(self._held),
                gained=frozenset(gained),
                lost=frozenset(set(before) - set(renewed) - set(released)),
                released=frozenset(released),
                shard_count=len(rows),
                renewed_at=now,
            )

    async def release(self, shards: Iterable[int]) -> None:
        """Give these leases up now, so another instance may claim them at once.

        They are forgotten here even if the database cannot be told (then they run out
        after the ttl), so they are never renewed again.
        """
        async with self._lock:
            epochs: dict[int, int] = {}
            for shard in set(shards):
                epoch = self._held.pop(shard, None)
                epoch = self._releasing.pop(shard, epoch)
                if epoch is not None:
                    epochs[shard] = epoch
            if not epochs:
                return
            async with self.database.session() as session:
                await self._bound_waits(session)
                await session.execute(
                    update(DiscordShardLease)
                    .where(DiscordShardLease.holder == self.holder_id, _shard_epoch_in(epochs))
                    .values(holder=None, lease_until=0.0)
                )

    async def release_all(self) -> None:
        """Give up every lease (a clean stop)."""
        await self.release([*self._held, *self._releasing])

    async def _bound_waits(self, session: AsyncSession) -> None:
        # A lease round must never queue behind a vanished client's locks for long.
        await self.database.bound_waits(session, lock_s=self.ttl_s / 6, idle_s=self.ttl_s / 3)

    async def _lock_table(self, session: AsyncSession) -> None:
        if self.database.dialect == "postgresql":
            # Conflicts with itself and with every UPDATE: two settlers run one by one.
            await session.execute(
                text("LOCK TABLE discord_shard_leases IN SHARE ROW EXCLUSIVE MODE")
            )
        else:
            await self.database.take_write_lock(session)

    async def _renew(self, session: AsyncSession, held: Mapping[int, int]) -> dict[int, int]:
        if not held:
            return {}
        now = db_seconds(self.database.dialect)
        result = await session.execute(
            update(DiscordShardLease)
            .where(DiscordShardLease.holder == self.holder_id, _shard_epoch_in(held))
            .values(lease_until=now + self.ttl_s)
            .returning(DiscordShardLease.shard_id, DiscordShardLease.epoch)
        )
        return {shard: epoch for shard, epoch in result}

    async def _claim(self, session: AsyncSession, count: int) -> dict[int, int]:
        now = db_seconds(self.database.dialect)
        free = or_(DiscordShardLease.holder.is_(None), DiscordShardLease.lease_until < now)
        # FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite holds the write lock instead): two
        # instances claiming at once take different rows; ``free`` is checked again on
        # the locked row, so a row someone took meanwhile is left alone.
        pick = (
            select(DiscordShardLease.shard_id)
            .where(free)
            .order_by(DiscordShardLease.shard_id)
            .limit(count)
            .with_for_update(skip_locked=True)
        )
        result = await session.execute(
            update(DiscordShardLease)
            .where(DiscordShardLease.shard_id.in_(pick), free)
            .values(
                holder=self.holder_id,
                lease_until=now + self.ttl_s,
                epoch=DiscordShardLease.epoch + 1,
            )
            .returning(DiscordShardLease.shard_id, DiscordShardLease.epoch)
        )
        return {shard: epoch for shard, epoch in result}


def _shard_epoch_in(epochs: Mapping[int, int]) -> ColumnElement[bool]:
    return tuple_(DiscordShardLease.shard_id, DiscordShardLease.epoch).in_(list(epochs.items()))
