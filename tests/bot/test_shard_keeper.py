"""Discord shard leases: keepers share the shards, never both connect one, take over the dead.

Each keeper has its own :class:`Database` (its own connections, as a process would), and
records when it connected and disconnected each shard by the monotonic clock, which one
host's processes share: a shard's connected intervals must never overlap. A keeper killed
outright is a real process sent SIGKILL (this module run as ``python -m``); a partition
is a TCP proxy in front of PostgreSQL that stops passing bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.instances import InstanceRegistry
from bot.shard_keeper import ShardKeeper
from bot.shard_leases import ShardLeases, fair_share
from byok.db import Database
from byok.db.tables import DiscordShardLease
from tests.ops.harness import poll
from tests.postgres_server import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
TTL = 1.6  # trusted for 1.2 s after a renewal begins; rounds every ~0.53 s
INTERVAL = TTL / 3


@dataclass
class Timeline:
    """Who had which shard connected when, by ``time.monotonic()``."""

    events: list[tuple[float, str, str, int]] = field(default_factory=list)

    def record(self, at: float, who: str, what: str, shard: int) -> None:
        self.events.append((at, who, what, shard))

    def callbacks(
        self, who: str, shard_count: int
    ) -> tuple[Callable[[int, int], Awaitable[None]], Callable[[int], Awaitable[None]]]:
        async def connect(shard: int, count: int) -> None:
            assert count == shard_count
            self.record(time.monotonic(), who, "up", shard)

        async def disconnect(shard: int) -> None:
            self.record(time.monotonic(), who, "down", shard)

        return connect, disconnect

    def connected(self) -> dict[int, str]:
        """Shard -> who has it connected now."""
        now: dict[int, str] = {}
        for _, who, what, shard in sorted(self.events):
            if what == "up":
                now[shard] = who
            elif now.get(shard) == who:
                del now[shard]
        return now

    def first_up(self, shard: int, who: str, after: float) -> float | None:
        ups = [at for at, w, what, s in self.events if (w, what, s) == (who, "up", shard)]
        return min((at for at in ups if at > after), default=None)

    def assert_never_overlapping(self) -> None:
        holder: dict[int, str] = {}
        for at, who, what, shard in sorted(self.events):
            if what == "up":
                assert shard not in holder, (
                    f"shard {shard}: {who} connected at {at} while {holder[shard]} had it"
                )
                holder[shard] = who
            elif holder.get(shard) == who:
                del holder[shard]


@dataclass
class Instance:
    database: Database
    keeper: ShardKeeper
    leases: ShardLeases


Start = Callable[..., Awaitable[Instance]]


@contextlib.asynccontextmanager
async def _keepers(default_url: str) -> AsyncIterator[Start]:
    """Starts keepers, each on its own Database; stops and disposes of them all at the end."""
    started: list[Instance] = []

    async def start(
        who: str, timeline: Timeline, shard_count: int, url: str | None = None
    ) -> Instance:
        database = Database(url or default_url)
        registry = InstanceRegistry(database, who, ttl_s=TTL)  # no register(): SQLite refuses
        leases = ShardLeases(database, registry.id, ttl_s=TTL)
        assert await leases.settle_count(shard_count) == shard_count
        connect, disconnect = timeline.callbacks(who, shard_count)
        keeper = ShardKeeper(leases, registry, connect=connect, disconnect=disconnect)
        await keeper.start()
        started.append(Instance(database, keeper, leases))
        return started[-1]

    try:
        yield start
    finally:
        for instance in started:
            await instance.keeper.stop()
            await instance.database.dispose()


@pytest.fixture
async def instances(db_url: str) -> AsyncIterator[Start]:
    async with _keepers(db_url) as start:
        yield start


async def _leases_table(database: Database) -> dict[int, str | None]:
    async with database.session() as session:
        rows = await session.execute(select(DiscordShardLease.shard_id, DiscordShardLease.holder))
        return {shard: holder for shard, holder in rows}


@pytest.mark.slow  # waits out leases and renewals
async def test_keepers_share_the_shards_fairly_and_never_connect_one_twice(
    database: Database, instances: Start
) -> None:
    timeline = Timeline()
    a = await instances("a", timeline, 4)
    assert a.keeper.held == {0, 1, 2, 3}  # start() returns with its first share connected
    b = await instances("b", timeline, 4)
    await poll(lambda: len(b.keeper.held) == 2 == len(a.keeper.held), "a 2 + 2 split")
    c = await instances("c", timeline, 4)
    keepers = {"a": a.keeper, "b": b.keeper, "c": c.keeper}
    await poll(
        lambda: sorted(len(k.held) for k in keepers.values()) == [1, 1, 2], "a 2 + 1 + 1 split"
    )
    for keeper in keepers.values():
        assert keeper.shard_count == 4
        age = keeper.last_renewed_age_s
        assert age is not None and age < TTL
    connected = timeline.connected()
    assert sorted(connected) == [0, 1, 2, 3]
    assert {who: set() for who in keepers} | _by_holder(connected) == {
        who: set(k.held) for who, k in keepers.items()
    }
    table = await _leases_table(database)
    owner = {a.leases.holder_id: "a", b.leases.holder_id: "b", c.leases.holder_id: "c"}
    assert {shard: owner[holder] for shard, holder in table.items() if holder} == connected

    for instance in (a, b, c):
        await instance.keeper.stop()
        assert not instance.keeper.held
    assert timeline.connected() == {}
    assert set((await _leases_table(database)).values()) == {None}  # released: free at once
    timeline.assert_never_overlapping()


@pytest.mark.slow  # waits out leases and renewals
async def test_an_instance_that_runs_no_keeper_is_not_counted_in_the_fair_share(
    database: Database, instances: Start
) -> None:
    # A Slack-only instance (or one still starting) heartbeats without shards.
    slack_only = InstanceRegistry(database, "slack-only", ttl_s=TTL)
    await slack_only.heartbeat()
    timeline = Timeline()
    a = await instances("a", timeline, 2)
    await slack_only.heartbeat()
    await asyncio.sleep(TTL)  # rounds enough to give a shard back, were it counted
    await slack_only.heartbeat()
    assert a.keeper.held == {0, 1}
    [other] = [i for i in await slack_only.live() if i.id == slack_only.id]
    assert other.discord_shards is None


def _by_holder(connected: dict[int, str]) -> dict[str, set[int]]:
    held: dict[str, set[int]] = {}
    for shard, who in connected.items():
        held.setdefault(who, set()).add(shard)
    return held


@pytest.mark.slow
async def test_the_shards_of_an_instance_killed_outright_are_taken_over_within_ttl_plus_interval(
    db_url: str, database: Database, instances: Start
) -> None:
    timeline = Timeline()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.bot.test_shard_keeper", db_url, "2",
        stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    reader = asyncio.create_task(_read_events(child, timeline))
    try:
        await poll(lambda: len(timeline.connected()) == 2, "the child to connect both shards")
        survivor = await instances("survivor", timeline, 2)
        await poll(lambda: len(survivor.keeper.held) == 1, "the survivor's share")
        await poll(lambda: set(timeline.connected().values()) == {"child", "survivor"}, "a split")
        (orphan,) = (s for s, who in timeline.connected().items() if who == "child")

        child.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        await child.wait()
        timeline.record(killed_at, "child", "down", orphan)  # its gateway sessions die with it
        await poll(lambda: len(survivor.keeper.held) == 2, "the takeover", within=3 * TTL)
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()
        await reader
    taken_at = timeline.first_up(orphan, "survivor", after=killed_at)
    assert taken_at is not None
    assert taken_at - killed_at <= TTL + INTERVAL + 1.0  # the bound, plus slack for a round
    timeline.assert_never_overlapping()


async def _read_events(child: asyncio.subprocess.Process, timeline: Timeline) -> None:
    assert child.stdout is not None
    async for line in child.stdout:
        what, shard, at = line.decode().split()
        timeline.record(float(at), "child", what, int(shard))


async def _child(url: str, shard_count: int) -> None:
    """A keeper in its own process, printing ``up|down SHARD MONOTONIC`` lines."""

    async def connect(shard: int, _count: int) -> None:
        print("up", shard, time.monotonic(), flush=True)

    async def disconnect(shard: int) -> None:
        print("down", shard, time.monotonic(), flush=True)

    database = Database(url)
    registry = InstanceRegistry(database, "child", ttl_s=TTL)
    leases = ShardLeases(database, registry.id, ttl_s=TTL)
    await leases.settle_count(shard_count)
    await ShardKeeper(leases, registry, connect=connect, disconnect=disconnect).start()
    await asyncio.sleep(60)


@pytest.mark.postgres
async def test_an_instance_cut_off_from_the_database_disconnects_before_another_connects(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = postgres_server.create_migrated_database()
    timeline = Timeline()
    async with TcpProxy(postgres_server.port) as proxy, _keepers(url) as start:
        cut_off = await start("cut-off", timeline, 2, url.replace(
            f":{postgres_server.port}/", f":{proxy.port}/"))  # fmt: skip
        await poll(lambda: len(cut_off.keeper.held) == 2, "the first instance's shards")
        other = await start("other", timeline, 2, url)
        await poll(lambda: len(other.keeper.held) == 1 == len(cut_off.keeper.held), "a split")
        (stranded,) = cut_off.keeper.held

        with caplog.at_level(logging.INFO, logger="bot.shard_keeper"):
            proxy.cut()
            cut_at = time.monotonic()
            await poll(lambda: len(other.keeper.held) == 2, "the takeover", within=4 * TTL)
            assert not cut_off.keeper.held
            proxy.heal()
            await poll(lambda: len(cut_off.keeper.held) == 1, "the share back", within=4 * TTL)

    down = [
        at
        for at, who, what, s in timeline.events
        if (who, what, s) == ("cut-off", "down", stranded)
    ]
    taken = timeline.first_up(stranded, "other", after=cut_at)
    assert taken is not None and max(down) < taken
    timeline.assert_never_overlapping()
    failures = [r for r in caplog.records if "cannot renew" in r.getMessage()]
    # A round stuck on the silent connection may time out (one warning) or finish once
    # the proxy heals (none); the watchdog speaks up in either case, once.
    assert len(failures) <= 1, "one warning per outage, not one per round"
    overdue = [
        r for r in caplog.records if r.levelno == logging.WARNING and "overdue" in r.getMessage()
    ]
    assert len(overdue) == 1
    again = [r for r in caplog.records if "renewed again after" in r.getMessage()]
    assert len(again) == len(failures)  # an outage logged is logged as over too


class TcpProxy:
    """Passes bytes to a port until :meth:`cut`: then it holds every connection silent."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._open = True
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        self._drop_all()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cut(self) -> None:
        """A partition: nothing passes, nothing is closed; new connections hang too."""
        self._open = False

    def heal(self) -> None:
        """Connections held during the cut time out (are closed); new ones pass again."""
        self._drop_all()
        self._open = True

    def _drop_all(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        while not self._open:
            if writer.transport.is_closing():
                return
            await asyncio.sleep(0.05)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers.append(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await source.read(65536):
                if self._open:
                    sink.write(data)
                    await sink.drain()
        sink.transport.abort()


async def test_settle_count_sets_an_empty_table_and_keeps_a_count_in_use(
    database: Database,
) -> None:
    first = ShardLeases(database, "first", ttl_s=30)
    assert await first.settle_count(3) == 3
    assert sorted(await _leases_table(database)) == [0, 1, 2]
    assert await first.settle_count(3) == 3

    claimed = await first.renew_and_claim(1)
    assert claimed.held == claimed.gained == {0, 1, 2} and claimed.shard_count == 3
    second = ShardLeases(database, "second", ttl_s=30)
    assert await second.settle_count(5) == 3  # leases are held: the stored count stays
    assert sorted(await _leases_table(database)) == [0, 1, 2]


async def test_settle_count_rewrites_a_table_whose_leases_all_ran_out(database: Database) -> None:
    gone = ShardLeases(database, "gone", ttl_s=0.2)
    await gone.settle_count(2)
    assert (await gone.renew_and_claim(1)).held == {0, 1}
    await asyncio.sleep(0.3)  # its leases run out by the database's clock

    assert await ShardLeases(database, "new", ttl_s=30).settle_count(5) == 5
    assert await _leases_table(database) == dict.fromkeys(range(5))
    after = await gone.renew_and_claim(2)
    assert after.lost == {0, 1} and after.shard_count == 5
    assert after.held == after.gained == {0, 1}  # its share of five (of two), claimed afresh


async def test_concurrent_settlers_agree_on_one_count(db_url: str, database: Database) -> None:
    others = [Database(db_url) for _ in range(4)]
    try:
        counts = await asyncio.gather(
            *(ShardLeases(db, f"s{n}").settle_count(n + 2) for n, db in enumerate(others))
        )
    finally:
        for db in others:
            await db.dispose()
    # Whoever came first set it; the rest found it set, or free and rewrote it one by one.
    table = await _leases_table(database)
    assert sorted(table) == list(range(len(table)))
    assert counts[-1] == len(table) or len(table) in counts


async def test_concurrent_claimers_never_take_one_shard_twice(
    db_url: str, database: Database
) -> None:
    await ShardLeases(database, "setup").settle_count(12)
    claimers = [Database(db_url) for _ in range(5)]
    try:
        leases = [ShardLeases(db, f"claimer-{n}", ttl_s=30) for n, db in enumerate(claimers)]
        rounds = await asyncio.gather(*(lease.renew_and_claim(1) for lease in leases))
    finally:
        for db in claimers:
            await db.dispose()
    held = [r.held for r in rounds]
    assert sum(len(h) for h in held) == len(set().union(*held))  # disjoint
    table = await _leases_table(database)
    for lease, shards in zip(leases, held, strict=True):
        assert {s for s, holder in table.items() if holder == lease.holder_id} == shards


async def test_a_lease_taken_over_is_lost_and_not_renewed(database: Database) -> None:
    stalled = ShardLeases(database, "stalled", ttl_s=0.2)
    await stalled.settle_count(1)
    assert (await stalled.renew_and_claim(1)).held == {0}
    await asyncio.sleep(0.3)
    taker = ShardLeases(database, "taker", ttl_s=30)
    assert (await taker.renew_and_claim(2)).gained == {0}

    late = await stalled.renew_and_claim(2)
    assert late.lost == {0} and late.held == frozenset()
    assert await _leases_table(database) == {0: "taker"}


async def test_a_shard_that_fails_to_connect_is_released_and_tried_again(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    timeline = Timeline()
    failures = [RuntimeError("gateway said no")]
    connect, disconnect = timeline.callbacks("one", 1)

    async def flaky_connect(shard: int, count: int) -> None:
        if failures:
            raise failures.pop()
        await connect(shard, count)

    registry = InstanceRegistry(database, "one", ttl_s=TTL)
    leases = ShardLeases(database, registry.id, ttl_s=TTL)
    await leases.settle_count(1)
    keeper = ShardKeeper(leases, registry, connect=flaky_connect, disconnect=disconnect)
    with caplog.at_level(logging.WARNING, logger="bot.shard_keeper"):
        await keeper.start()
        try:
            await poll(lambda: keeper.held == {0}, "the second attempt", within=3 * TTL)
        finally:
            await keeper.stop()
    assert any(
        "discord shard 0 of 1: could not connect (RuntimeError: gateway said no); releasing"
        in r.getMessage()
        for r in caplog.records
    )
    assert [(who, what) for _, who, what, _ in timeline.events] == [
        ("one", "down"),  # closing whatever the failed attempt left half-open
        ("one", "up"),
        ("one", "down"),
    ]


@pytest.mark.slow  # waits out leases and renewals
async def test_a_connect_slower_than_one_renewal_is_trusted_for_is_not_cut_short(
    sqlite_database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    timeline = Timeline()
    connect, disconnect = timeline.callbacks("slow", 1)

    async def slow_connect(shard: int, count: int) -> None:
        await asyncio.sleep(TTL)  # longer than a renewal is trusted: later ones extend it
        await connect(shard, count)

    registry = InstanceRegistry(sqlite_database, "slow", ttl_s=TTL)
    leases = ShardLeases(sqlite_database, registry.id, ttl_s=TTL)
    await leases.settle_count(1)
    keeper = ShardKeeper(leases, registry, connect=slow_connect, disconnect=disconnect)
    with caplog.at_level(logging.WARNING, logger="bot.shard_keeper"):
        await keeper.start()
        try:
            await poll(lambda: keeper.held == {0}, "the slow connect", within=4 * TTL)
        finally:
            await keeper.stop()
    assert not caplog.records
    assert [what for _, _, what, _ in timeline.events] == ["up", "down"]


@pytest.mark.parametrize(
    ("shards", "live", "holdings", "me", "expected"),
    [
        (4, 1, {}, "a", (4, False)),
        (4, 2, {"a": 4}, "a", (2, True)),  # too many: one back a round
        (4, 2, {"a": 4}, "b", (2, False)),
        (4, 3, {"a": 2, "b": 2}, "c", (1, False)),  # a newcomer claims up to the floor
        (4, 3, {"a": 2, "b": 2}, "a", (2, False)),  # the first at the ceiling keeps it
        (4, 3, {"a": 2, "b": 2}, "b", (2, True)),  # the second makes room
        (4, 3, {"a": 2, "b": 1, "c": 1}, "b", (2, False)),  # settled: nobody moves
        (2, 3, {"a": 1, "b": 1}, "c", (1, False)),  # fewer shards than instances
        (6, 3, {"a": 6}, "b", (2, False)),
    ],
)
def test_fair_share(
    shards: int, live: int, holdings: dict[str, int], me: str, expected: tuple[int, bool]
) -> None:
    share = fair_share(shards, live, holdings, me)
    assert (share.claim_up_to, share.release_one) == expected
    assert share.claim_up_to <= math.ceil(shards / live)


if __name__ == "__main__":
    asyncio.run(_child(sys.argv[1], int(sys.argv[2])))
