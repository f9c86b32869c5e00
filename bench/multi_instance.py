"""Several identical ``byok-bot run`` processes on one PostgreSQL: asks/s, cost, take-over.

**Throughput.** N instances (N = 1, 2, 3 by default) with one configuration file (Slack HTTP
mode, ``[http] port = 0``, each port read from its log) share a throwaway PostgreSQL. The
driver is the load balancer: ``--users`` users, each asking again as soon as answered,
their signed ``/ask`` commands sent round-robin over the instances, every question unique.
Half the users have a monthly limit (large enough never to refuse), so the shared spend
reservation is on the path; the per-user request limit, shared through PostgreSQL, is
checked on every ask. An ask is done when its final ``chat.update`` (with the footer)
reaches the fake Slack; afterwards the usage rows are counted (one per ask, or the run
says so). Rounds are interleaved (1, 2, 3, 1, 2, 3, …), each on a fresh database, and the
report gives min / median / max across rounds.

Per instance: CPU seconds during the measured asks and CPU busy (cores), peak RSS
(``VmHWM`` in ``/proc/<pid>/status``, the process's high-water mark), and PostgreSQL
connections: ``pg_stat_activity`` client ports matched to the instance's sockets (from
``/proc/<pid>/fd`` and ``/proc/<pid>/net/tcp``), the most seen while loaded and after.

**Take-over.** ``--takeover-leases 30,6``: three instances with Discord on and
``[discord] shard_lease_s`` set, against the fake Discord recommending 4 shards; the one
holding shard 0 is killed with SIGKILL, and the time until every shard is connected once
again is measured (and that no shard was ever connected twice).

Everything shares this machine's cores: the instances, PostgreSQL, the fake providers
(a process of their own) and the driver with the fake Slack. The report says how busy
the whole machine was, so a saturated machine is not mistaken for a limit of the bot.

    .venv/bin/python -m bench.multi_instance [--instances 1,2,3] [--rounds 3]
        [--asks 3000] [--warmup 300] [--users 60] [--takeover-leases 30,6]
        [--takeover-repeats 2] [--no-throughput]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import secrets
import signal
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import func, select

from bench.common import (
    RemoteFakes,
    cpu_seconds,
    fake_services,
    load_average,
    machine,
    make_engine,
    percentiles,
)
from bench.slack_throughput import (
    PROVIDERS,
    QUESTION,
    TEAM,
    AnsweringSlack,
    BotProcess,
    start_bot,
    stop_bot,
    write_config,
)
from byok.db import Database
from byok.db.tables import UsageEvent
from byok.service import BYOKService
from byok.types import UserRef
from tests.fakes.discord_events import DiscordEvents
from tests.fakes.fake_discord import FakeDiscord
from tests.postgres_server import PostgresServer, find_pg_bin

MONTHLY_LIMIT = Decimal("1000")  # on half the users: reserved on every ask, never reached
SHARDS = 4


# -- readings from /proc ---------------------------------------------------------------


def peak_rss_mib(pid: int) -> float:
    """The process's resident-set high-water mark (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores), from ``/proc/stat``."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def tcp_ports_to(pid: int, remote_port: int) -> set[int]:
    """Local ports of ``pid``'s TCP sockets connected to ``remote_port`` (IPv4 and IPv6)."""
    inodes: set[str] = set()
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports: set[int] = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            parts = line.split()
            local, remote, inode = parts[1], parts[2], parts[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


async def pg_connections(server: PostgresServer, database: str, pids: Sequence[int]) -> list[int]:
    """Per pid: its client backends in ``pg_stat_activity`` (matched by client port)."""
    connection = await asyncpg.connect(
        host="127.0.0.1", port=server.port, user="postgres", database=database
    )
    try:
        rows = await connection.fetch(
            "SELECT client_port FROM pg_stat_activity "
            "WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await connection.close()
    client_ports = {int(row["client_port"]) for row in rows if row["client_port"] is not None}
    return [len(client_ports & tcp_ports_to(pid, server.port)) for pid in pids]


# -- the throughput rounds -----------------------------------------------------------------


@dataclass
class SpreadLoad:
    """Users asking in a closed loop, each ask sent to the next instance in turn."""

    ports: list[int]
    slack: AnsweringSlack
    signing_secret: str
    users: int
    latencies: list[float] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    _asks: itertools.count[int] = field(default_factory=itertools.count)

    def _request(self, user: int, ask: int) -> tuple[str, str, dict[str, str]]:
        port = self.ports[ask % len(self.ports)]
        body = urlencode(
            {
                "token": "legacy",
                "team_id": TEAM,
                "team_domain": "bench",
                "channel_id": f"C{user:05d}",
                "channel_name": "general",
                "user_id": f"U{user:05d}",
                "user_name": f"user{user}",
                "command": "/ask",
                "text": f"{QUESTION} (ask {ask})",
                "api_app_id": "A111",
                "response_url": f"{self.slack.url}/response/{user}",
                "trigger_id": f"{secrets.randbelow(10**6)}.1.abc",
            }
        )
        stamp = str(int(time.time()))
        signature = SignatureVerifier(self.signing_secret).generate_signature(
            timestamp=stamp, body=body
        )
        assert signature is not None
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
        }
        return f"http://127.0.0.1:{port}/slack/events", body, headers

    async def run(self, asks: int) -> float:
        """Make ``asks`` asks; returns the wall time they took."""
        last = self.sent + asks
        loop = asyncio.get_running_loop()

        async def user_loop(user: int, session: aiohttp.ClientSession) -> None:
            channel = f"C{user:05d}"
            while (ask := next(self._asks)) < last:
                url, body, headers = self._request(user, ask)
                answered = self.slack.waiting[channel] = loop.create_future()
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"/slack/events answered {response.status}")
                outcome = await asyncio.wait_for(answered, 120)
                self.latencies.append(time.perf_counter() - started)
                self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
                if len(self.latencies) % 1000 == 0:
                    self.slack.forget()

        started = time.perf_counter()
        connector = aiohttp.TCPConnector(limit=self.users)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(user_loop(n, session) for n in range(self.users)))
        self.sent = last
        self._asks = itertools.count(last)
        return time.perf_counter() - started


async def prepare(url: str, fakes: RemoteFakes, users: int, master_key: bytes) -> None:
    """A key for every user (spread over three providers); every other user a monthly limit."""
    engine = await make_engine(url, fakes, master_key=master_key)
    for n in range(users):
        provider = PROVIDERS[n % len(PROVIDERS)]
        user = UserRef("slack", TEAM, f"U{n:05d}")
        limit = MONTHLY_LIMIT if n % 2 else None
        await BYOKService(engine, user).add_key(
            provider, fakes.key(provider, n + 1), monthly_limit=limit
        )
    await engine.aclose()


async def usage_rows(url: str) -> int:
    database = Database(url)
    try:
        async with database.session() as session:
            return int(await session.scalar(select(func.count()).select_from(UsageEvent)) or 0)
    finally:
        await database.dispose()


async def _watch_connections(
    server: PostgresServer, database: str, pids: list[int], peak: list[int]
) -> None:
    while True:
        seen = await pg_connections(server, database, pids)
        peak[:] = [max(a, b) for a, b in zip(peak, seen, strict=True)]
        await asyncio.sleep(0.5)


async def throughput_round(
    n: int,
    server: PostgresServer,
    fakes: RemoteFakes,
    fakes_pid: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    url = server.create_database()
    database = url.rsplit("/", 1)[1]
    master_key = os.urandom(32)
    await prepare(url, fakes, args.users, master_key)
    with tempfile.TemporaryDirectory() as tmp:
        async with AnsweringSlack() as slack:
            signing_secret = secrets.token_hex(16)
            config = write_config(
                Path(tmp),
                url,
                fakes,
                slack.api_url,
                args.log_level,
                user_state_ttl_s=args.user_state_ttl,
            )
            env = {
                "BYOK_ENCRYPTION_KEY": master_key.hex(),
                "SLACK_BOT_TOKEN": "xoxb-" + secrets.token_hex(12),
                "SLACK_SIGNING_SECRET": signing_secret,
            }
            bots: list[BotProcess] = []
            try:
                for i in range(n):  # one by one: the first migrates, the rest find it done
                    bots.append(await start_bot(config, env, Path(tmp) / f"bot-{i}.log"))
                await asyncio.sleep(3)  # idle: let the background SDK warm-up finish
                pids = [bot.pid for bot in bots]
                load = SpreadLoad([bot.port for bot in bots], slack, signing_secret, args.users)
                await load.run(args.warmup)
                load.latencies.clear()
                load.outcomes.clear()
                cpu_before = [cpu_seconds(pid) for pid in pids]
                helpers_before = [cpu_seconds(os.getpid()), cpu_seconds(fakes_pid)]
                machine_before = machine_busy_seconds()
                load_before = load_average()
                loaded_connections = [0] * n
                watching = asyncio.create_task(
                    _watch_connections(server, database, pids, loaded_connections)
                )
                wall = await load.run(args.asks)
                watching.cancel()
                await asyncio.gather(watching, return_exceptions=True)
                cpu = [
                    cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)
                ]
                driver_cpu, fakes_cpu = (
                    cpu_seconds(pid) - before
                    for pid, before in zip((os.getpid(), fakes_pid), helpers_before, strict=True)
                )
                machine_cpu = machine_busy_seconds() - machine_before
                load_after = load_average()
                peak_rss = [peak_rss_mib(pid) for pid in pids]
                await asyncio.sleep(2)
                idle_connections = await pg_connections(server, database, pids)
            finally:
                codes = [await stop_bot(bot) for bot in bots]
            errors = [
                line
                for bot in bots
                for line in bot.log_lines()
                if " ERROR " in line or "Traceback" in line
            ]
    rows = await usage_rows(url)
    p50, p99 = percentiles(load.latencies)
    return {
        "instances": n,
        "asks": len(load.latencies),
        "per_second": len(load.latencies) / wall,
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
        "outcomes": dict(load.outcomes),
        "usage_rows": rows,
        "expected_rows": args.warmup + args.asks,
        "cpu_s": cpu,
        "busy": [c / wall for c in cpu],
        "driver_busy": driver_cpu / wall,
        "fakes_busy": fakes_cpu / wall,
        "machine_busy": machine_cpu / wall,
        "peak_rss": peak_rss,
        "pg_loaded": loaded_connections,
        "pg_idle": idle_connections,
        "exit_codes": codes,
        "log_errors": errors[:5],
        "load": f"{load_before} → {load_after}",
    }


def _spread(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    """min / median / max."""
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def report_throughput(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(
        f"{args.users} users, {args.asks:,} measured asks a round (after {args.warmup} warm-up), "
        f"{args.rounds} round(s) per instance count; min / median / max across rounds."
    )
    print()
    print(
        "| instances | asks/s | latency p50 ms | latency p99 ms | CPU busy per instance "
        "(cores) | whole machine busy (cores) | driver + fake Slack (cores) | "
        "fake providers (cores) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in args.instance_counts:
        runs = [r for r in results if r["instances"] == n]
        print(
            f"| {n} | **{_spread([r['per_second'] for r in runs])}** | "
            f"{_spread([r['p50_ms'] for r in runs])} | {_spread([r['p99_ms'] for r in runs])} | "
            f"{_spread([b for r in runs for b in r['busy']], '{:.2f}')} | "
            f"{_spread([r['machine_busy'] for r in runs], '{:.2f}')} | "
            f"{_spread([r['driver_busy'] for r in runs], '{:.2f}')} | "
            f"{_spread([r['fakes_busy'] for r in runs], '{:.2f}')} |"
        )
    print()
    print(
        "| instances | CPU ms per ask (all instances) | peak RSS per instance, MiB | "
        "PostgreSQL connections per instance, loaded (most seen) | the same, idle after |"
    )
    print("|---|---|---|---|---|")
    for n in args.instance_counts:
        runs = [r for r in results if r["instances"] == n]
        per_ask = [1000 * sum(r["cpu_s"]) / r["asks"] for r in runs]
        print(
            f"| {n} | {_spread(per_ask, '{:.1f}')} | "
            f"{_spread([m for r in runs for m in r['peak_rss']], '{:.0f}')} | "
            f"{_spread([c for r in runs for c in r['pg_loaded']], '{:.0f}')} | "
            f"{_spread([c for r in runs for c in r['pg_idle']], '{:.0f}')} |"
        )
    print()
    print("Each round:")
    for r in results:
        rows_ok = "=" if r["usage_rows"] == r["expected_rows"] else "≠"
        print(
            f"- {r['instances']} instance(s): {r['per_second']:,.0f} asks/s, "
            f"p50 {r['p50_ms']:,.0f} ms, p99 {r['p99_ms']:,.0f} ms, outcomes {r['outcomes']}, "
            f"usage rows {r['usage_rows']:,} {rows_ok} asks {r['expected_rows']:,}, "
            f"busy {[round(b, 2) for b in r['busy']]}, machine {r['machine_busy']:.2f}, "
            f"peak RSS {[round(m) for m in r['peak_rss']]} MiB, "
            f"PG connections {r['pg_loaded']} / {r['pg_idle']}, exit codes {r['exit_codes']}, "
            f"ERROR lines {len(r['log_errors'])}, load average {r['load']}"
        )
        for line in r["log_errors"]:
            print(f"    {line}")


# -- the take-over after SIGKILL -----------------------------------------------------------


def _discord_token() -> str:
    """Shaped like a real Discord bot token (id . timestamp . hmac)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

    def part(n: int) -> str:
        return "".join(secrets.choice(alphabet) for _ in range(n))

    return f"M{part(25)}.{part(6)}.{part(38)}"


async def _until(check: Any, what: str, within: float) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)  # a bounded poll


async def _shards_held(bot: BotProcess) -> list[int]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{bot.port}/readyz") as response,
    ):
        body = json.loads(await response.text())
    shards: list[int] = body["instance"]["discord"]["shards_held"]
    return shards


def _first_claim_after(bots: list[BotProcess], since: float) -> float | None:
    """Seconds from ``since`` to the first "gained" lease round in these bots' logs."""
    found: list[float] = []
    for bot in bots:
        for line in bot.log_lines():
            if "discord shard leases: holding" not in line or "gained none" in line:
                continue
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            if stamp >= since:
                found.append(stamp - since)
    return min(found, default=None)


async def _balanced(bots: list[BotProcess], fake: FakeDiscord, within: float) -> list[list[int]]:
    """Once every shard is connected once and shared out 2/1/1: who holds which."""
    deadline = time.monotonic() + within
    while True:
        held = [await _shards_held(bot) for bot in bots]
        shares = sorted(len(shards) for shards in held)
        if shares == [1, 1, 2] and fake.connected_shards() == dict.fromkeys(range(SHARDS), 1):
            return held
        if time.monotonic() > deadline:
            raise RuntimeError(f"shards not shared out after {within}s: {held}")
        await asyncio.sleep(0.1)  # a bounded poll


async def takeover(lease_s: float, server: PostgresServer, fakes: RemoteFakes) -> dict[str, Any]:
    """Seconds from SIGKILL of the instance holding shard 0 to every shard connected once."""
    url = server.create_database()
    fake = FakeDiscord(_discord_token(), recommended_shards=SHARDS)
    async with fake:
        guilds = [
            DiscordEvents(fake, guild_id=fake.guild_for_shard(s, SHARDS)) for s in range(SHARDS)
        ]
        for guild in guilds:
            fake.add_guild(guild.guild())
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp), url, fakes, "http://127.0.0.1:9/", "INFO")
            text = config.read_text().replace("[slack]\nenabled = true", "[slack]\nenabled = false")
            text += (
                f'\n[discord]\nenabled = true\napi_base = "{fake.api_base}"\n'
                f'gateway_url = "{fake.gateway_url}"\ndev_guild_id = {guilds[0].guild_id}\n'
                f"shard_lease_s = {lease_s}\n"
            )
            config.write_text(text)
            env = {"BYOK_ENCRYPTION_KEY": os.urandom(32).hex(), "DISCORD_TOKEN": fake.token}
            bots: list[BotProcess] = []
            try:
                for i in range(3):
                    bots.append(await start_bot(config, env, Path(tmp) / f"bot-{i}.log"))
                everything_once = dict.fromkeys(range(SHARDS), 1)
                held = await _balanced(bots, fake, 4 * lease_s)
                victim = next(b for b, shards in zip(bots, held, strict=True) if 0 in shards)
                victim_shards = held[bots.index(victim)]
                victim.process.send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
                killed_wall = time.time()
                await victim.process.wait()
                await _until(
                    lambda: fake.connected_shards() == everything_once,
                    "the take-over",
                    3 * lease_s + 30,
                )
                took = time.monotonic() - killed_at
                overlaps = fake.overlaps()
                claimed = _first_claim_after(
                    [bot for bot in bots if bot is not victim], killed_wall
                )
            finally:
                survivors = [bot for bot in bots if bot.process.returncode is None]
                codes = [await stop_bot(bot) for bot in survivors]
    return {
        "lease_s": lease_s,
        "took_s": took,
        "claimed_s": claimed,
        "victim_shards": victim_shards,
        "shared": sorted(len(s) for s in held),
        "overlaps": sorted(overlaps),
        "exit_codes": codes,
    }


def report_takeover(results: list[dict[str, Any]]) -> None:
    print()
    print(
        "| `shard_lease_s` | leases claimed by a survivor, s after SIGKILL | every shard "
        "connected once again, s after SIGKILL | bound on the claim: lease + lease/3 |"
    )
    print("|---|---|---|---|")
    for lease in sorted({r["lease_s"] for r in results}, reverse=True):
        runs = [r for r in results if r["lease_s"] == lease]
        claimed = ", ".join(
            "?" if r["claimed_s"] is None else f"{r['claimed_s']:.1f}" for r in runs
        )
        took = ", ".join(f"{r['took_s']:.1f}" for r in runs)
        print(f"| {lease:g} | {claimed} | {took} | {lease * 4 / 3:.1f} |")
    for r in results:
        print(
            f"- lease {r['lease_s']:g} s: killed the holder of shards {r['victim_shards']} "
            f"(shares were {r['shared']}); all {SHARDS} shards connected once again after "
            f"{r['took_s']:.1f} s; shards ever connected twice: {r['overlaps'] or 'none'}; "
            f"survivors' exit codes {r['exit_codes']}"
        )


# -- main ---------------------------------------------------------------------------------


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default="1,2,3")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--asks", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--takeover-leases", default="30,6", help="'' to skip")
    parser.add_argument("--takeover-repeats", type=int, default=2)
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument(
        "--user-state-ttl",
        type=float,
        default=0.0,
        help="[database] user_state_ttl_s of the bots; 0 (default): every ask a cache miss",
    )
    args = parser.parse_args()
    args.instance_counts = [int(n) for n in args.instances.split(",")]
    bindir = find_pg_bin()
    if bindir is None:
        raise SystemExit("needs the PostgreSQL server binaries (initdb, pg_ctl)")
    print(f"machine: {machine()}", flush=True)
    server = PostgresServer(bindir)
    server.start()
    try:
        async with fake_services(keys=args.users) as (fakes, fakes_pid):
            if not args.no_throughput:
                results = []
                for round_no in range(args.rounds):
                    for n in args.instance_counts:
                        result = await throughput_round(n, server, fakes, fakes_pid, args)
                        results.append(result)
                        print(
                            f"round {round_no + 1}, {n} instance(s): "
                            f"{result['per_second']:,.0f} asks/s",
                            flush=True,
                        )
                report_throughput(results, args)
            leases = [float(v) for v in args.takeover_leases.split(",") if v]
            taken: list[dict[str, Any]] = []
            for _ in range(args.takeover_repeats):
                for lease in leases:
                    taken.append(await takeover(lease, server, fakes))
                    print(f"lease {lease:g} s: took {taken[-1]['took_s']:.1f} s", flush=True)
            if taken:
                report_takeover(taken)
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
