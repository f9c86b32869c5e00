"""Throughput of the whole Slack path, and the memory of a real ``byok-bot run``.

One ask is: a signed ``/ask`` slash command POSTed to ``/slack/events`` of a real
``byok-bot run`` process (Slack HTTP mode) → slack-bolt → the command layer → the
engine (user state, key decryption, routing, usage row) → a streamed answer from a fake
provider → the Slack Web API calls out (placeholder ``chat.postMessage``, paced
``chat.update`` edits, the final ``chat.update`` with the footer) to a fake Slack. An ask
counts as done when the final ``chat.update`` reaches the fake Slack.

Three processes share the machine: the bot; the fake providers (``bench.fake_services``);
and this driver (the fake Slack Web API plus 100 users, each sending its next ask as soon
as its previous one is answered). The table says how busy each was, so a saturated
driver or fake is not mistaken for the bot's limit. Users are spread over OpenAI,
Anthropic and Google; production settings otherwise (edit pace 1.5 s, INFO logging).

``--profile`` samples the bot with py-spy meanwhile (see :mod:`bench.hotspots`).

Memory is the bot's resident set (``VmRSS`` from ``/proc/<pid>/status``): idle after
start-up (the provider SDKs are loaded in the background then) and after all the asks.

    .venv/bin/python -m bench.slack_throughput [--asks 10000] [--users 100]
        [--warmup 500] [--db sqlite,postgresql] [--log-level INFO]
        [--user-state-ttl 0] [--no-limits]

By default every other user's key has a monthly limit (checked, never reached) and the
bot keeps no user state between asks (``user_state_ttl_s = 0``): every ask reads it, as
for users who ask once an hour.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import secrets
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from bench.common import (
    ProcessClock,
    RemoteFakes,
    fake_services,
    load_average,
    machine,
    make_engine,
    percentiles,
    rss_mib,
)
from bench.hotspots import record, summarize
from byok.service import BYOKService
from byok.types import UserRef
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.loopback import LoopbackServer
from tests.postgres_server import PostgresServer, find_pg_bin

TEAM = "T111"
PROVIDERS = ("openai", "anthropic", "google")
QUESTION = "What is the capital of France?"
_LISTENING = re.compile(r"HTTP server listening on http://127\.0\.0\.1:(\d+)")


class AnsweringSlack(FakeSlack):
    """The fake Slack, telling the driver when each channel's answer is final.

    A final answer carries the footer (``… in / … out tokens``); an error reaches the
    user as an ephemeral message. Each user asks in a channel of their own, one ask at a
    time, so a channel names the ask. Kept messages are dropped once final, so memory
    stays flat over long runs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.waiting: dict[str, asyncio.Future[str]] = {}
        self.errors = 0
        self.methods: Counter[str] = Counter()

    async def _api(self, request: web.Request) -> web.StreamResponse:
        self.methods[request.match_info["method"]] += 1
        return await super()._api(request)

    def _done(self, channel: str, outcome: str) -> None:
        future = self.waiting.pop(channel, None)
        if future is not None and not future.done():
            future.set_result(outcome)
        self.messages.pop(channel, None)

    def m_chat_update(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        answer = super().m_chat_update(args, token)
        if " out tokens" in str(args.get("blocks")):
            self._done(args["channel"], "answer")
        return answer

    def m_chat_postEphemeral(self, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        answer = super().m_chat_postEphemeral(args, token)
        self.errors += 1
        self._done(args["channel"], "error")
        return answer

    def forget(self) -> None:
        """Drop recorded calls, keeping the messages of asks still running."""
        LoopbackServer.forget(self)
        self.calls.clear()
        self.ephemeral.clear()


@dataclass
class BotProcess:
    """A ``byok-bot run`` child process and where it listens."""

    process: asyncio.subprocess.Process
    log_path: Path
    port: int = 0
    ready_at: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()


def write_config(
    folder: Path,
    url: str,
    fakes: RemoteFakes,
    slack_api: str,
    log_level: str,
    *,
    user_state_ttl_s: float = 300.0,
) -> Path:
    providers = "\n".join(
        f'[providers.{pid}]\nbase_url = "{fakes.base_url(pid)}"\n' for pid in PROVIDERS
    )
    config = folder / "config.toml"
    config.write_text(
        f"""[bot]
mode = "production"
shutdown_grace_s = 10.0

[database]
url = "{url}"
user_state_ttl_s = {user_state_ttl_s}

{providers}
[limits]
requests_per_minute = 1000000

[slack]
enabled = true
mode = "http"
api_url = "{slack_api}"

[http]
host = "127.0.0.1"
port = 0

[digest]
enabled = false

[logging]
level = "{log_level}"
"""
    )
    return config


async def start_bot(config: Path, env: dict[str, str], log_path: Path) -> BotProcess:
    byok_bot = Path(sys.executable).with_name("byok-bot")
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            str(byok_bot),
            "--config",
            str(config),
            "run",
            env={**os.environ, **env},
            stdout=log,
            stderr=log,
        )
    bot = BotProcess(process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # a bounded wait for the process to say so
        found = _LISTENING.search(await asyncio.to_thread(log_path.read_text, errors="replace"))
        if found:
            bot.port = int(found.group(1))
            break
        if process.returncode is not None:
            break
        await asyncio.sleep(0.05)
    if not bot.port:
        said = await asyncio.to_thread(log_path.read_text, errors="replace")
        raise RuntimeError("byok-bot did not start:\n" + said)
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            async with session.get(f"http://127.0.0.1:{bot.port}/readyz") as response:
                if response.status == 200:
                    break
            await asyncio.sleep(0.05)
    bot.ready_at = time.monotonic()
    return bot


async def stop_bot(bot: BotProcess) -> int:
    bot.process.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(bot.process.wait(), 30)
    except TimeoutError:
        bot.process.kill()
        return await bot.process.wait()


@dataclass
class Load:
    """100 users, each asking again as soon as the previous answer is final."""

    port: int
    slack: AnsweringSlack
    signing_secret: str
    users: int
    bot_pid: int = 0
    latencies: list[float] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    #: (asks answered, the bot's RSS in MiB), every 1,000 asks.
    rss: list[tuple[int, float]] = field(default_factory=list)
    answered: int = 0

    def _body(self, user: int) -> tuple[str, dict[str, str]]:
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
                "text": QUESTION,
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
        return body, headers

    async def run(self, asks: int) -> float:
        """Make ``asks`` asks; returns the wall time they took."""
        remaining = itertools.count()
        url = f"http://127.0.0.1:{self.port}/slack/events"
        connector = aiohttp.TCPConnector(limit=self.users)
        loop = asyncio.get_running_loop()

        async def user_loop(user: int, session: aiohttp.ClientSession) -> None:
            channel = f"C{user:05d}"
            while next(remaining) < asks:
                body, headers = self._body(user)
                answered = self.slack.waiting[channel] = loop.create_future()
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"/slack/events answered {response.status}")
                outcome = await asyncio.wait_for(answered, 60)
                self.latencies.append(time.perf_counter() - started)
                self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
                self.answered += 1
                if self.answered % 1000 == 0:
                    self.slack.forget()
                    if self.bot_pid:
                        self.rss.append((self.answered, rss_mib(self.bot_pid)))

        started = time.perf_counter()
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(user_loop(n, session) for n in range(self.users)))
        return time.perf_counter() - started


@contextmanager
def database_url(kind: str, folder: Path) -> Iterator[str | None]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{folder}/byok.db"
        return
    bindir = find_pg_bin()
    if bindir is None:
        yield None
        return
    server = PostgresServer(bindir)
    server.start()
    try:
        yield server.create_database()
    finally:
        server.stop()


#: Large enough never to refuse here: the limit is checked, never reached.
MONTHLY_LIMIT = Decimal("1000000")


async def prepare(
    url: str, fakes: RemoteFakes, users: int, master_key: bytes, *, limits: bool = True
) -> None:
    """Store a key for every user (as ``/byok add`` would), spread over three providers;
    with ``limits`` every other user's key has a monthly limit."""
    engine = await make_engine(url, fakes, master_key=master_key)
    for n in range(users):
        provider = PROVIDERS[n % len(PROVIDERS)]
        user = UserRef("slack", TEAM, f"U{n:05d}")
        limit = MONTHLY_LIMIT if limits and n % 2 else None
        await BYOKService(engine, user).add_key(
            provider, fakes.key(provider, n + 1), monthly_limit=limit
        )
    await engine.aclose()


async def run_database(
    kind: str, fakes: RemoteFakes, fakes_pid: int, args: argparse.Namespace
) -> dict[str, Any] | None:
    profile = ""
    with tempfile.TemporaryDirectory() as tmp, database_url(kind, Path(tmp)) as url:
        if url is None:
            print(f"{kind}: skipped (no PostgreSQL binaries)")
            return None
        master_key = os.urandom(32)
        await prepare(url, fakes, args.users, master_key, limits=not args.no_limits)
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
            bot = await start_bot(config, env, Path(tmp) / "bot.log")
            try:
                await asyncio.sleep(3)  # idle: let the background SDK warm-up finish
                idle_rss = rss_mib(bot.pid)
                load = Load(bot.port, slack, signing_secret, args.users, bot.pid)
                await load.run(args.warmup)
                load.latencies.clear()
                load.outcomes.clear()
                slack.methods.clear()
                clock = ProcessClock(
                    {
                        "bot": bot.pid,
                        "driver + fake Slack": os.getpid(),
                        "fake providers": fakes_pid,
                    }
                )
                clock.start()
                load_before = load_average()
                profiling = None
                if args.profile:
                    raw = Path(tempfile.mkdtemp(prefix="byok-profile-")) / f"bot-{kind}.raw"
                    seconds = args.profile_seconds
                    profiling = asyncio.create_task(record(bot.pid, seconds, raw))
                wall = await load.run(args.asks)
                if profiling is not None and await profiling:
                    profile = f"raw samples: {raw}\n\n{summarize(raw)}"
                busy = clock.busy()
                load_after = load_average()
                rss_after = rss_mib(bot.pid)
            finally:
                code = await stop_bot(bot)
            lines = bot.log_lines()
        errors = [line for line in lines if " ERROR " in line or "Traceback" in line]
        p50, p99 = percentiles(load.latencies)
        return {
            "database": "SQLite" if kind == "sqlite" else "PostgreSQL",
            "asks": len(load.latencies),
            "wall": wall,
            "per_second": len(load.latencies) / wall,
            "p50_ms": p50 / 1000,
            "p99_ms": p99 / 1000,
            "outcomes": dict(load.outcomes),
            "busy": busy,
            "idle_rss": idle_rss,
            "rss_after": rss_after,
            "total_asks": args.warmup + args.asks,
            "exit_code": code,
            "log_errors": errors[:5],
            "load": f"{load_before} → {load_after}",
            "profile": profile,
            "rss_trend": load.rss,
            "slack_calls": {m: n / len(load.latencies) for m, n in slack.methods.items()},
        }


def report(results: list[dict[str, Any]], users: int) -> None:
    print()
    print(
        "| database | asks | users | asks/s | latency p50 / p99 ms | outcomes | "
        "CPU busy (cores): bot / driver / fake providers | load average before → after |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        busy = r["busy"]
        print(
            f"| {r['database']} | {r['asks']:,} | {users} | **{r['per_second']:,.0f}** | "
            f"{r['p50_ms']:,.0f} / {r['p99_ms']:,.0f} | {r['outcomes']} | "
            f"{busy['bot']:.2f} / {busy['driver + fake Slack']:.2f} / "
            f"{busy['fake providers']:.2f} | {r['load']} |"
        )
    print()
    print(
        "| database | RSS idle `byok-bot run` | RSS after asks | asks served | exit code | ERROR lines in the bot's log |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['database']} | {r['idle_rss']:.1f} MiB | {r['rss_after']:.1f} MiB | "
            f"{r['total_asks']:,} | {r['exit_code']} | {len(r['log_errors'])} |"
        )
        for line in r["log_errors"]:
            print(f"    {line}")
    for r in results:
        calls = ", ".join(f"{m} {n:.2f}" for m, n in sorted(r["slack_calls"].items()))
        print(f"\n{r['database']}: Slack Web API calls per ask: {calls}")
    for r in results:
        trend = ", ".join(f"{n:,}: {mib:.0f}" for n, mib in r["rss_trend"])
        print(
            f"\n{r['database']}: the bot's RSS in MiB by asks answered (warm-up included): {trend}"
        )
    for r in results:
        if r["profile"]:
            print(f"\n### Where the bot's CPU goes ({r['database']})\n\n{r['profile']}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asks", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--profile", action="store_true", help="sample the bot with py-spy during the run"
    )
    parser.add_argument("--profile-seconds", type=float, default=10.0)
    parser.add_argument(
        "--user-state-ttl",
        type=float,
        default=0.0,
        help="[database] user_state_ttl_s of the bot; 0 (default): every ask a cache miss",
    )
    parser.add_argument("--no-limits", action="store_true", help="no user has a monthly limit")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        f"user_state_ttl_s = {args.user_state_ttl:g}; "
        f"{'no users' if args.no_limits else 'every other user'} with a monthly limit"
    )
    results = []
    async with fake_services(keys=args.users) as (fakes, fakes_pid):
        for kind in args.db.split(","):
            result = await run_database(kind, fakes, fakes_pid, args)
            if result is not None:
                results.append(result)
                print(f"{result['database']}: {result['per_second']:,.0f} asks/s", flush=True)
    report(results, args.users)


if __name__ == "__main__":
    asyncio.run(main())
