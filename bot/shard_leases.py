"""Discord shard leases in the database, and the keeper that connects what it holds.

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

:class:`ShardKeeper` runs the rounds and connects and disconnects shards through two
callbacks. It trusts a renewal for ``ttl - safety`` seconds from the moment the round
*started*, by the local monotonic clock, and a watchdog disconnects every shard as soon as
that runs out without a newer renewal (database down, network partition, a stuck event
loop): another instance can claim the lease only once ``lease_until`` has passed by the
database's clock, at least ``ttl`` after the renewal began, so this instance has let go
first. An instance that dies outright stops renewing; the others take its shards within
``ttl + interval`` (40 s by default).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.instances import InstanceRegistry, failure_reason, format_shards
from byok.db.clock import db_seconds
from byok.db.engine import Database
from byok.db.tables import DiscordShardLease
from byok.errors import DatabaseUnavailableError

__all__ = ["FairShare", "LeaseRound", "ShardKeeper", "ShardLeases", "fair_share"]

log = logging.getLogger(__name__)

Lease = DiscordShardLease


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
            await self._lock_table(session)
            count = await session.scalar(select(func.count()).select_from(Lease)) or 0
            taken = await session.scalar(
                select(func.count())
                .select_from(Lease)
                .where(Lease.holder.is_not(None), Lease.lease_until >= now)
            )
            if count == wanted or (count and taken):
                return count
            await session.execute(delete(Lease))
            await session.execute(
                insert(Lease),
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
                if self.database.dialect == "sqlite":
                    await self.database.take_write_lock(session)
                renewed = await self._renew(session, before)
                now = float(await session.scalar(select(now_sql)) or 0.0)
                rows = (
                    await session.execute(select(Lease.shard_id, Lease.holder, Lease.lease_until))
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
                await session.execute(
                    update(Lease)
                    .where(Lease.holder == self.holder_id, _shard_epoch_in(epochs))
                    .values(holder=None, lease_until=0.0)
                )

    async def release_all(self) -> None:
        """Give up every lease (a clean stop)."""
        await self.release([*self._held, *self._releasing])

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
            update(Lease)
            .where(Lease.holder == self.holder_id, _shard_epoch_in(held))
            .values(lease_until=now + self.ttl_s)
            .returning(Lease.shard_id, Lease.epoch)
        )
        return {shard: epoch for shard, epoch in result}

    async def _claim(self, session: AsyncSession, count: int) -> dict[int, int]:
        now = db_seconds(self.database.dialect)
        free = or_(Lease.holder.is_(None), Lease.lease_until < now)
        # FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite holds the write lock instead): two
        # instances claiming at once take different rows; ``free`` is checked again on
        # the locked row, so a row someone took meanwhile is left alone.
        pick = (
            select(Lease.shard_id)
            .where(free)
            .order_by(Lease.shard_id)
            .limit(count)
            .with_for_update(skip_locked=True)
        )
        result = await session.execute(
            update(Lease)
            .where(Lease.shard_id.in_(pick), free)
            .values(holder=self.holder_id, lease_until=now + self.ttl_s, epoch=Lease.epoch + 1)
            .returning(Lease.shard_id, Lease.epoch)
        )
        return {shard: epoch for shard, epoch in result}


def _shard_epoch_in(epochs: Mapping[int, int]) -> ColumnElement[bool]:
    return tuple_(Lease.shard_id, Lease.epoch).in_(list(epochs.items()))


Connect = Callable[[int, int], Awaitable[None]]
Disconnect = Callable[[int], Awaitable[None]]


class ShardKeeper:
    """Renews the leases every ``interval_s`` and connects exactly the shards it holds.

    ``connect(shard_id, shard_count)`` starts a shard's gateway session; it should
    return once the session is started, and is cancelled if it is still running when the
    current renewal stops being trusted. One that raises (or is cut short) is logged,
    followed by ``disconnect(shard_id)`` to close anything half-open, and the lease is
    released for another instance. ``disconnect(shard_id)`` closes it and must accept a
    shard that never finished connecting.

    ``live_instances`` for the fair share is the number of live registered instances, so
    every registered instance should run a keeper (identical configuration): an instance
    without one would count as one that holds its share.
    """

    def __init__(
        self,
        leases: ShardLeases,
        registry: InstanceRegistry,
        *,
        connect: Connect,
        disconnect: Disconnect,
        interval_s: float | None = None,
        safety_s: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        ttl = leases.ttl_s
        self._leases = leases
        self._registry = registry
        self._connect = connect
        self._disconnect = disconnect
        self._interval = ttl / 3 if interval_s is None else interval_s
        safety = ttl / 4 if safety_s is None else safety_s
        if not 0 < safety < ttl:
            raise ValueError("safety_s must be between 0 and the lease ttl")
        if not 0 < self._interval < ttl - safety:
            raise ValueError("interval_s must be shorter than ttl - safety_s")
        self._safety = safety
        self._trusted_for = ttl - safety  # how long after its start a renewal is trusted
        self._monotonic = monotonic
        self._desired: dict[int, int] = {}  # shard -> the shard count to connect it with
        self._connected: dict[int, int] = {}
        self._to_release: set[int] = set()
        self._shard_count = 0
        self._valid_until: float | None = None
        self._last_renewal: float | None = None
        self._failing_since: float | None = None
        self._changed = asyncio.Event()  # for the applier: _desired or validity changed
        self._renewed = asyncio.Event()  # for the watchdog: _valid_until moved
        self._caught_up = asyncio.Event()  # the applier has acted on every change so far
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def held(self) -> frozenset[int]:
        """The shards this instance has connected under a lease it holds."""
        return frozenset(self._connected)

    @property
    def shard_count(self) -> int:
        """The shard count of the last successful round (0 before one)."""
        return self._shard_count

    @property
    def last_renewed_age_s(self) -> float | None:
        """Seconds since the last successful renewal began, or None if none has."""
        if self._last_renewal is None:
            return None
        return self._monotonic() - self._last_renewal

    async def start(self) -> None:
        """Run the first round now and connect what it holds; renew in the background.

        Returns once those connects have ended (each bounded like any connect), or at
        once if the database cannot be reached then (logged, and retried every round).
        """
        await self._round()
        self._changed.set()
        self._tasks = [
            asyncio.create_task(self._rounds(), name="shard-leases"),
            asyncio.create_task(self._watch(), name="shard-lease-watchdog"),
            asyncio.create_task(self._apply_changes(), name="shard-connections"),
        ]
        await self._caught_up.wait()

    async def stop(self) -> None:
        """Disconnect every shard, then release every lease."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._caught_up.set()  # a start() still waiting returns
        self._desired = {}
        for shard in sorted(self._connected):
            await self._let_go(shard, "stopping")
        try:
            async with asyncio.timeout(self._trusted_for):
                await self._leases.release_all()
        except Exception as exc:  # noqa: BLE001 - they run out after the ttl anyway
            log.warning(
                "discord shard leases: not released (%s); others take them within %.0f s",
                failure_reason(exc),
                self._leases.ttl_s,
            )

    async def _rounds(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._round()

    async def _round(self) -> None:
        started = self._monotonic()
        try:
            async with asyncio.timeout(self._trusted_for):
                live = await self._registry.heartbeat(sorted(self._connected))
                outcome = await self._leases.renew_and_claim(len(live))
        except Exception as exc:  # noqa: BLE001 - retried next round; the watchdog guards
            self._note_failure(exc)
            return
        self._to_release |= outcome.released  # giving back is safe even when late
        self._changed.set()
        valid_until = started + self._trusted_for
        if self._monotonic() >= valid_until:
            self._note_failure(TimeoutError())
            return
        if self._failing_since is not None:
            log.info(
                "discord shard leases: renewed again after %.0f s",
                started - self._failing_since,
            )
            self._failing_since = None
        self._valid_until = valid_until
        self._last_renewal = started
        self._renewed.set()
        self._shard_count = outcome.shard_count
        # A shard released since the round read its leases is not in leases.held.
        self._desired = {
            shard: outcome.shard_count for shard in outcome.held if shard in self._leases.held
        }
        if outcome.gained or outcome.lost or outcome.released:
            log.info(
                "discord shard leases: holding %s of %d shards (gained %s, lost %s, "
                "giving back %s; %d instance(s) live)",
                format_shards(outcome.held) or "none",
                outcome.shard_count,
                format_shards(outcome.gained) or "none",
                format_shards(outcome.lost) or "none",
                format_shards(outcome.released) or "none",
                len(live),
            )

    def _note_failure(self, exc: BaseException) -> None:
        if self._failing_since is not None:
            return  # logged once per outage
        self._failing_since = self._monotonic()
        expected = isinstance(exc, DatabaseUnavailableError | TimeoutError)
        log.warning(
            "discord shard leases: cannot renew (%s); retrying every %.0f s, and shards "
            "are disconnected %.0f s after the last renewal began",
            failure_reason(exc),
            self._interval,
            self._trusted_for,
            exc_info=None if expected else exc,
        )

    async def _watch(self) -> None:
        """Disconnect everything once the last renewal is no longer trusted."""
        while True:
            self._renewed.clear()
            remaining = None if self._valid_until is None else self._valid_until - self._monotonic()
            if remaining is None or remaining > 0:
                try:
                    async with asyncio.timeout(remaining):
                        await self._renewed.wait()
                except TimeoutError:
                    pass
                continue
            if self._desired or self._connected:
                log.warning(
                    "discord shards %s: lease renewal overdue (last began %.1f s ago); "
                    "disconnecting them until the database answers again",
                    format_shards(self._connected) or "none",
                    self.last_renewed_age_s or 0.0,
                )
                self._desired = {}
                self._changed.set()
            await self._renewed.wait()

    def _trusted(self) -> float:
        """Seconds the last renewal is still trusted for (≤ 0: not at all)."""
        if self._valid_until is None:
            return 0.0
        return self._valid_until - self._monotonic()

    async def _apply_changes(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            try:
                await self._reconcile()
            except Exception:  # a bug here must not end the loop
                log.exception("discord shard connections: reconciling failed")
            if not self._changed.is_set():
                self._caught_up.set()

    async def _reconcile(self) -> None:
        """Disconnect what is no longer ours first, then connect what is."""
        held = self._leases.held
        trusted = self._trusted() > 0
        for shard, count in sorted(self._connected.items()):
            if not trusted:
                await self._let_go(shard, "lease renewal overdue")
            elif shard not in held or self._desired.get(shard) != count:
                await self._let_go(
                    shard, "lease given up" if shard in self._to_release else "lease lost"
                )
        releasable = sorted(self._to_release - set(self._connected))
        if releasable:
            self._to_release -= set(releasable)
            await self._release(releasable)
        for shard, count in sorted(self._desired.items()):
            if self._changed.is_set():
                return  # the next pass lets go of anything first
            if shard in self._connected or shard not in self._leases.held:
                continue
            if self._trusted() <= 0:
                return
            await self._connect_one(shard, count)

    async def _connect_one(self, shard: int, count: int) -> None:
        attempt = asyncio.ensure_future(self._connect(shard, count))
        try:
            await self._while_trusted(attempt)
        except asyncio.CancelledError:
            attempt.cancel()
            await asyncio.wait({attempt})
            self._connected[shard] = count  # maybe half-open: stop() disconnects it
            raise
        except Exception as exc:  # noqa: BLE001 - another instance may have more luck
            log.warning(
                "discord shard %d of %d: could not connect (%s); releasing its lease",
                shard,
                count,
                "not connected before the lease renewal ran out"
                if isinstance(exc, TimeoutError)
                else f"{type(exc).__name__}: {exc}",
            )
            self._desired.pop(shard, None)
            self._connected[shard] = count  # so that _let_go closes what it left half-open
            await self._let_go(shard, "could not connect")
            await self._release([shard])
            return
        self._connected[shard] = count

    async def _while_trusted(self, attempt: asyncio.Future[None]) -> None:
        """Await ``attempt`` while a renewal is trusted (renewals meanwhile extend it)."""
        while not attempt.done():
            remaining = self._trusted()
            if remaining <= 0:
                attempt.cancel()
                await asyncio.wait({attempt})
                raise TimeoutError
            await asyncio.wait({attempt}, timeout=remaining)
        if attempt.cancelled():
            raise RuntimeError("the connect was cancelled from within")
        attempt.result()

    async def _let_go(self, shard: int, reason: str) -> None:
        count = self._connected.pop(shard, self._shard_count)
        try:
            async with asyncio.timeout(self._safety):
                await self._disconnect(shard)
        except Exception as exc:  # noqa: BLE001 - nothing else can be done for it here
            log.error(
                "discord shard %d of %d: disconnecting failed (%s: %s)",
                shard,
                count,
                type(exc).__name__,
                exc,
            )
            return
        log.info("discord shard %d of %d: disconnected (%s)", shard, count, reason)

    async def _release(self, shards: Collection[int]) -> None:
        try:
            async with asyncio.timeout(self._trusted_for):
                await self._leases.release(shards)
        except Exception as exc:  # noqa: BLE001 - they run out after the ttl anyway
            log.warning(
                "discord shards %s: lease not released (%s); it runs out within %.0f s",
                format_shards(shards),
                failure_reason(exc),
                self._leases.ttl_s,
            )
