"""The keeper: renews an instance's shard leases and connects exactly the shards it holds.

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
from collections.abc import Awaitable, Callable, Collection

from bot.instances import InstanceRegistry, failure_reason, format_shards
from bot.shard_leases import ShardLeases
from byok.errors import DatabaseUnavailableError

__all__ = ["ShardKeeper"]

log = logging.getLogger(__name__)

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

    The fair share divides the shards among the live instances that run a keeper (their
    heartbeat names the shards they hold, possibly none); others are not counted.
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
        self._releasing: set[asyncio.Task[None]] = set()

    @property
    def held(self) -> frozenset[int]:
        """The shards this instance has connected under a lease it holds."""
        return frozenset(self._connected)

    def answers_for(self, shard: int) -> bool:
        """Whether an event that arrived on ``shard`` may be answered here now.

        False once the last renewal is no longer trusted, even before the watchdog has
        run: a process paused past its lease (SIGSTOP, a stalled loop) reads the events
        buffered in its socket before any timer fires, while another instance may
        already hold the shard and answer them.
        """
        return self._trusted() > 0 and shard in self._leases.held

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

    async def start(self, wait_s: float | None = None) -> None:
        """Run the first round now and connect what it holds; renew in the background.

        Returns once those connects have ended (each bounded like any connect), or after
        ``wait_s`` with the rest still connecting (a large share waits for identify
        turns), or at once if the database cannot be reached then (logged, and retried
        every round).
        """
        await self._round()
        self._changed.set()
        self._tasks = [
            asyncio.create_task(self._rounds(), name="shard-leases"),
            asyncio.create_task(self._watch(), name="shard-lease-watchdog"),
            asyncio.create_task(self._apply_changes(), name="shard-connections"),
        ]
        try:
            async with asyncio.timeout(wait_s):
                await self._caught_up.wait()
        except TimeoutError:
            log.info(
                "discord shards: %d of %d connected so far; the rest connect in the background",
                len(self._connected),
                len(self._desired),
            )

    async def stop(self) -> None:
        """Disconnect every shard, then release every lease."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await asyncio.gather(*self._releasing, return_exceptions=True)
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
                # Only instances that run a keeper share the shards (a Slack-only one, or
                # one still starting, would be counted as holding a share it never takes).
                keepers = sum(1 for i in live if i.discord_shards is not None)
                outcome = await self._leases.renew_and_claim(max(keepers, 1))
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
                keepers,
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
                # Here, not through the applier, which may be waiting on the database.
                for shard in sorted(self._connected):
                    await self._let_go(shard, "lease renewal overdue")
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
            self._release_soon(releasable)
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
            await asyncio.wait({attempt}, timeout=self._safety)
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
            self._release_soon([shard])
            return
        self._connected[shard] = count
        if not self.answers_for(shard):  # connected just as the lease ran out or was lost
            await self._let_go(shard, "lease no longer trusted")

    async def _while_trusted(self, attempt: asyncio.Future[None]) -> None:
        """Await ``attempt`` while a renewal is trusted (renewals meanwhile extend it)."""
        while not attempt.done():
            remaining = self._trusted()
            if remaining <= 0:
                attempt.cancel()
                await asyncio.wait({attempt}, timeout=self._safety)
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

    def _release_soon(self, shards: Collection[int]) -> None:
        """Release in the background: the applier never waits on the database."""
        task = asyncio.create_task(self._release(shards), name="shard-lease-release")
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

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
