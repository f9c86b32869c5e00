"""The hot path side by side: a raw HTTP call, the bare SDK and the engine's four cases.

Every case makes the same request (one short question, ``max_tokens=256``) to the same
fake provider, which runs in a process of its own (``bench/fake_services.py``), so its CPU
is charged to no case:

1. ``raw httpx``: one POST with a pooled ``httpx2.AsyncClient`` (the HTTP client the openai
   and anthropic SDKs run on) and the SDK's JSON body, the answer parsed with ``json``
   (the floor: the HTTP round trip alone; httpx 0.28's pool is slower than the SDK at 20
   and more concurrent calls, so it would be no floor);
2. ``bare SDK``: the provider's official SDK (the limit the engine is held to);
3. ``engine hit``: ``BYOKService.chat``, no spending limit, the same users asking again,
   so their state is in the user-state cache (where the engine has one);
4. ``engine miss``: the same with the cache off: every ask loads the user's state;
5. ``limit miss``: keys with a monthly limit (too large ever to refuse), every ask a miss;
6. ``limit hit``: keys with a monthly limit, cache on.

At 1 (one at a time), 20 and 100 concurrent users in a closed loop (each user asks again
the moment it is answered; each has its own stored key). Rounds are interleaved: every
round runs every case once per concurrency, in an order rotated each round, so drift
(the machine is shared) hits all cases alike. Per case the table gives the median and
the range (min–max) over rounds of p50, p99, calls/s and CPU µs per call (this process's
CPU, every thread, over calls; the usage rows' background writes are waited for inside
the CPU interval), and the ratios the targets use, paired with the bare SDK's run of the
same round. The fake's and PostgreSQL's CPU are watched: a fake near one busy core would
be the bottleneck, and the output says so.

    .venv/bin/python -m bench.hot_path [--quick] [--rounds 5] [--concurrency 1,20,100]
        [--providers openai[,anthropic,google]] [--modes chat[,stream]]
        [--no-postgres] [--no-sqlite]

LiteLLM measured with the same cases: ``bench/peers/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx2

from bench.common import (
    RemoteFakes,
    cpu_seconds,
    fake_services,
    machine,
    make_engine,
    percentiles,
    rss_mib,
    tree_cpu_seconds,
)
from bench.engine_overhead import MODELS, QUESTION, TIMEOUT_S, direct_calls
from byok.engine import Engine, EngineSettings
from byok.service import BYOKService
from byok.types import UserRef
from tests.postgres_server import PostgresServer, find_pg_bin

#: A call: ``index`` is the caller's (the closed loop's user) number.
Call = Callable[[int], Awaitable[object]]
CASES = ("raw httpx", "bare SDK", "engine hit", "engine miss", "limit miss", "limit hit")
ENGINE_CASES = CASES[2:]
BASELINE = "bare SDK"
#: Large enough never to refuse in a run (the fakes' answers cost fractions of a cent).
MONTHLY_LIMIT = Decimal("1000000")
#: A busy fake above this share of one core may be what limits a case.
FAKE_SATURATED = 0.85
#: A run in which no call is answered for this long is stuck (reported, not waited out).
STALL_S = 60.0
#: Calls per case and round at each concurrency: (default, --quick).
CALLS = {1: (200, 40), 20: (600, 100), 100: (1000, 200)}
#: The pool the OpenAI SDK gives its httpx2 client: the raw calls' pool is the same size.
POOL = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


# --- the calls ------------------------------------------------------------------------


def raw_calls(fakes: RemoteFakes, provider: str, client: httpx2.AsyncClient) -> dict[str, Call]:
    """One POST per call with the body the SDK would send; the answer parsed, nothing else."""
    base, key, model = fakes.base_url(provider), fakes.key(provider), MODELS[provider]
    messages = [{"role": "user", "content": QUESTION}]
    if provider == "openai":
        url = f"{base}/chat/completions"
        headers = {"Authorization": f"Bearer {key}"}
        body: dict[str, Any] = {"model": model, "messages": messages, "max_completion_tokens": 256}
        streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
        stream_url = url
    elif provider == "anthropic":
        url = f"{base}/v1/messages"
        headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
        body = {"model": model, "messages": messages, "max_tokens": 256}
        streamed = {**body, "stream": True}
        stream_url = url
    elif provider == "google":
        url = f"{base}/v1beta/models/{model}:generateContent"
        headers = {"x-goog-api-key": key}
        body = {
            "contents": [{"role": "user", "parts": [{"text": QUESTION}]}],
            "generationConfig": {"maxOutputTokens": 256},
        }
        streamed = body
        stream_url = f"{base}/v1beta/models/{model}:streamGenerateContent?alt=sse"
    else:
        raise SystemExit(f"no raw call for {provider}")

    async def chat(_: int) -> object:
        response = await client.post(url, json=body, headers=headers)
        response.raise_for_status()
        return json.loads(response.content)

    async def stream(_: int) -> object:
        events = []
        async with client.stream("POST", stream_url, json=streamed, headers=headers) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("data:") and line != "data: [DONE]":
                    events.append(json.loads(line[5:]))
        return events

    return {"chat": chat, "stream": stream}


def sdk_calls(fakes: RemoteFakes, provider: str) -> dict[str, Call]:
    """The official SDK, exactly as ``bench.engine_overhead`` calls it ("direct")."""
    calls = direct_calls(fakes, provider)

    def taking_index(call: Callable[[], Awaitable[object]]) -> Call:
        async def indexed(_: int) -> object:
            return await call()

        indexed.keep = calls  # type: ignore[attr-defined]  # the SDK client stays alive
        return indexed

    return {mode: taking_index(call) for mode, call in calls.items()}


def engine_calls(engine: Engine, users: Sequence[UserRef], provider: str) -> dict[str, Call]:
    messages = [{"role": "user", "content": QUESTION}]

    async def chat(index: int) -> object:
        service = BYOKService(engine, users[index % len(users)])
        return await service.chat(messages, provider=provider, max_tokens=256)

    async def stream(index: int) -> object:
        service = BYOKService(engine, users[index % len(users)])
        events = service.stream(messages, provider=provider, max_tokens=256)
        return [event async for event in events]

    return {"chat": chat, "stream": stream}


# --- engines ---------------------------------------------------------------------------


def cache_off() -> dict[str, Any]:
    """EngineSettings for "every ask a miss", where this checkout has the setting."""
    names = {f.name for f in dataclasses.fields(EngineSettings)}
    return {"user_state_ttl_s": 0.0} if "user_state_ttl_s" in names else {}


def has_cache(engine: Engine) -> bool:
    """Whether ``engine`` keeps user states in memory (best effort across versions)."""
    ttl = getattr(engine.settings, "user_state_ttl_s", None)
    if ttl is not None and ttl <= 0:
        return False
    return getattr(engine, "state_cache", None) is not None


@dataclass
class Engines:
    """Two engines on two databases: the cache on (hit cases) and off (miss cases)."""

    cached: Engine
    uncached: Engine
    free: list[UserRef]  # keys without a limit
    limited: list[UserRef]  # keys with MONTHLY_LIMIT

    def calls(self, provider: str) -> dict[str, dict[str, Call]]:
        return {
            "engine hit": engine_calls(self.cached, self.free, provider),
            "engine miss": engine_calls(self.uncached, self.free, provider),
            "limit miss": engine_calls(self.uncached, self.limited, provider),
            "limit hit": engine_calls(self.cached, self.limited, provider),
        }

    def engine_of(self, case: str) -> Engine:
        return self.cached if case.endswith("hit") else self.uncached

    async def aclose(self) -> None:
        await self.cached.aclose()
        await self.uncached.aclose()


async def open_engines(
    urls: tuple[str, str], fakes: RemoteFakes, providers: Sequence[str], users: int
) -> Engines:
    cached = await make_engine(urls[0], fakes)
    uncached = await make_engine(urls[1], fakes, **cache_off())
    if not cache_off():
        uncached.state_cache = None  # before EngineSettings.user_state_ttl_s: no cache
    free = [UserRef("bench", "W", f"U{n}") for n in range(users)]
    limited = [UserRef("bench", "W", f"L{n}") for n in range(users)]
    for engine in (cached, uncached):
        for provider in providers:
            for index, user in enumerate(free + limited):
                limit = MONTHLY_LIMIT if user in limited else None
                key = fakes.key(provider, index + 1)
                await BYOKService(engine, user).add_key(provider, key, monthly_limit=limit)
    for provider in providers:
        stored = await uncached.keys.get(limited[0], provider)
        assert stored is not None and stored.monthly_limit == MONTHLY_LIMIT
    assert not has_cache(uncached), "the 'miss' engine still caches user states"
    return Engines(cached, uncached, free, limited)


# --- measuring -------------------------------------------------------------------------


def warm_up_calls(concurrency: int) -> int:
    """Calls each case makes before the rounds (connections, caches, code paths)."""
    return max(2 * concurrency, 20)


def calls_made(calls: int, concurrency: int) -> int:
    """What :func:`measure` makes of ``calls``: the same number for every user."""
    return max(1, calls // concurrency) * concurrency


@dataclass
class Run:
    """One case at one concurrency in one round."""

    samples: list[float]
    wall: float
    cpu: float
    rss_mib: float
    fake_busy: float
    database_busy: float | None

    @property
    def p50(self) -> float:
        return percentiles(self.samples)[0]

    @property
    def p99(self) -> float:
        return percentiles(self.samples)[1]

    @property
    def per_second(self) -> float:
        return len(self.samples) / self.wall

    @property
    def cpu_us(self) -> float:
        return self.cpu / len(self.samples) * 1e6


@dataclass
class Watched:
    """Processes whose CPU a run also reads: the fake, and PostgreSQL when used."""

    fake_pid: int
    database_pid: int | None = None

    def read(self) -> tuple[float, float | None]:
        database = tree_cpu_seconds(self.database_pid) if self.database_pid else None
        return cpu_seconds(self.fake_pid), database


class Stalled(Exception):
    """No call was answered for a long while: the run is stuck, not slow."""


async def progress_watchdog(samples: list[float], stall_s: float) -> None:
    """Return once no sample has been added for ``stall_s`` seconds."""
    seen, since = -1, time.monotonic()
    while True:
        await asyncio.sleep(min(1.0, stall_s / 4))
        if len(samples) != seen:
            seen, since = len(samples), time.monotonic()
        elif time.monotonic() - since >= stall_s:
            return


def show_stuck(limit: int = 2) -> None:
    """The stacks of a few tasks still waiting (what the stuck calls wait for)."""
    current = asyncio.current_task()
    for task in [t for t in asyncio.all_tasks() if t is not current][:limit]:
        print(f"--- a waiting task: {task.get_name()}", file=sys.stderr)
        task.print_stack(limit=40, file=sys.stderr)


async def measure(
    call: Call,
    calls: int,
    concurrency: int,
    watched: Watched,
    drain: Engine | None,
    stall_s: float = STALL_S,
) -> Run:
    """``concurrency`` users in a closed loop make ``calls`` calls between them.

    Raises :class:`Stalled` when no call is answered for ``stall_s`` seconds.
    """
    samples: list[float] = []
    per_user = calls_made(calls, concurrency) // concurrency

    async def user(number: int) -> None:
        for turn in range(per_user):
            started = time.perf_counter()
            await call(number + turn * concurrency)
            samples.append(time.perf_counter() - started)

    fake_before, database_before = watched.read()
    wall, cpu = time.perf_counter(), time.process_time()
    users = asyncio.gather(*(user(n) for n in range(concurrency)))
    watchdog = asyncio.ensure_future(progress_watchdog(samples, stall_s))
    either: list[asyncio.Future[Any]] = [users, watchdog]
    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    if not users.done():
        show_stuck()
        users.cancel()
        await asyncio.gather(users, return_exceptions=True)
        raise Stalled(
            f"{len(samples)} of {calls_made(calls, concurrency)} calls answered, "
            f"then none for {stall_s:.0f} s"
        )
    watchdog.cancel()
    users.result()  # a call's error ends the run
    wall = time.perf_counter() - wall
    if drain is not None:
        await drain.ledger.flush()  # its rows' writes are this case's CPU
    cpu = time.process_time() - cpu
    fake_after, database_after = watched.read()
    database_busy = None
    if database_before is not None and database_after is not None:
        database_busy = (database_after - database_before) / wall
    return Run(samples, wall, cpu, rss_mib(), (fake_after - fake_before) / wall, database_busy)


@dataclass
class Series:
    """Every round's run of one case at one concurrency."""

    database: str
    provider: str
    mode: str
    concurrency: int
    case: str
    runs: list[Run] = field(default_factory=list)


async def run_database(
    label: str,
    urls: tuple[str, str],
    fakes: RemoteFakes,
    watched: Watched,
    args: argparse.Namespace,
) -> list[Series]:
    """Every case on one database; raises :class:`Stalled` naming the run that stuck."""
    started = time.monotonic()
    engines = await open_engines(urls, fakes, args.providers, max(args.concurrency))
    print(f"  {label}: engines ready in {time.monotonic() - started:.1f} s", flush=True)
    found: list[Series] = []
    try:
        async with httpx2.AsyncClient(timeout=TIMEOUT_S, limits=POOL) as client:
            for provider in args.providers:
                calls = {
                    "raw httpx": raw_calls(fakes, provider, client),
                    BASELINE: sdk_calls(fakes, provider),
                    **engines.calls(provider),
                }
                for mode in args.modes:
                    found += await run_rounds(label, provider, mode, calls, engines, watched, args)
        print(f"  {label}: done in {time.monotonic() - started:.0f} s", flush=True)
        if not has_cache(engines.cached):
            print(f"  note: on {label} this build keeps no user-state cache: 'hit' = 'miss' here")
    finally:
        try:
            await asyncio.wait_for(engines.aclose(), 30)
        except TimeoutError:
            print(f"  {label}: the engines did not close in 30 s", file=sys.stderr)
    return found


async def run_rounds(
    label: str,
    provider: str,
    mode: str,
    calls: dict[str, dict[str, Call]],
    engines: Engines,
    watched: Watched,
    args: argparse.Namespace,
) -> list[Series]:
    series = {
        (n, case): Series(label, provider, mode, n, case)
        for n in args.concurrency
        for case in args.cases
    }

    async def one(n: int, case: str, count: int, drain: Engine | None) -> Run:
        try:
            return await measure(calls[case][mode], count, n, watched, drain, args.stall_s)
        except Stalled as exc:
            raise Stalled(f"{label} {provider} {mode}, {n} users, '{case}': {exc}") from None

    for n in args.concurrency:
        for case in args.cases:
            await one(n, case, warm_up_calls(n), None)
    gc.collect()  # once: a full collection takes ~0.5 s here, in no case's run
    for round_number in range(args.rounds):
        for level, n in enumerate(args.concurrency):
            shift = (round_number + level) % len(args.cases)
            for case in [*args.cases[shift:], *args.cases[:shift]]:
                drain = engines.engine_of(case) if case in ENGINE_CASES else None
                series[n, case].runs.append(await one(n, case, args.calls[n], drain))
        print(f"  {label} {provider} {mode}: round {round_number + 1} done", flush=True)
    return list(series.values())


# --- reporting -------------------------------------------------------------------------


def spread(values: Sequence[float], fmt: str = ",.0f") -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def paired(series: Series, baseline: Series, of: Callable[[Run, Run], float]) -> list[float]:
    return [of(run, base) for run, base in zip(series.runs, baseline.runs, strict=True)]


TABLE_HEADER = (
    "| database | call | users | case | p50 µs | p99 µs | calls/s | CPU µs / call "
    "| added p50 µs | calls/s × SDK | p99 × SDK | CPU × SDK | RSS MiB |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def table_row(series: Series, baseline: Series | None) -> str:
    runs = series.runs
    cells = [
        series.database,
        f"{series.provider} {series.mode}",
        str(series.concurrency),
        series.case,
        spread([r.p50 for r in runs]),
        spread([r.p99 for r in runs]),
        spread([r.per_second for r in runs]),
        spread([r.cpu_us for r in runs]),
    ]
    if baseline is None or series is baseline:
        cells += ["—", "—", "—", "—"]
    else:
        added = paired(series, baseline, lambda r, b: r.p50 - b.p50)
        rate = paired(series, baseline, lambda r, b: r.per_second / b.per_second)
        p99 = paired(series, baseline, lambda r, b: r.p99 / b.p99)
        cpu = paired(series, baseline, lambda r, b: r.cpu_us / b.cpu_us)
        cells += [
            f"**{spread(added)}**",
            f"{spread(rate, '.2f')}",
            f"{spread(p99, '.2f')}",
            f"{spread(cpu, '.2f')}",
        ]
    cells.append(f"{max(r.rss_mib for r in runs):,.0f}")
    return "| " + " | ".join(cells) + " |"


def summary(found: Sequence[Series]) -> list[str]:
    """One line per case, as the outside measurement put it: added p50 one at a time;
    calls/s and CPU per call at 20 users; p99 at 100 users (medians over rounds)."""
    index = {(s.database, s.provider, s.mode, s.concurrency, s.case): s for s in found}
    out = []
    for series in found:
        if series.concurrency != min(s.concurrency for s in found):
            continue
        where = (series.database, series.provider, series.mode)
        cells = [*where[:1], f"{series.provider} {series.mode}", series.case]
        for n, show in ((1, "p50"), (20, "rate"), (20, "cpu"), (100, "p99")):
            one, base = index.get((*where, n, series.case)), index.get((*where, n, BASELINE))
            if one is None or base is None:
                cells.append("—")
            elif show == "p50":
                added = statistics.median(paired(one, base, lambda r, b: r.p50 - b.p50))
                p50 = statistics.median(r.p50 for r in one.runs)
                cells.append(f"{p50:,.0f}" if one is base else f"{p50:,.0f} ({added:+,.0f})")
            elif show == "rate":
                rate = statistics.median(r.per_second for r in one.runs)
                ratio = statistics.median(
                    paired(one, base, lambda r, b: r.per_second / b.per_second)
                )
                cells.append(f"{rate:,.0f}" if one is base else f"{rate:,.0f} ({ratio:.0%})")
            elif show == "cpu":
                cpu = statistics.median(r.cpu_us for r in one.runs)
                ratio = statistics.median(paired(one, base, lambda r, b: r.cpu_us / b.cpu_us))
                cells.append(f"{cpu:,.0f}" if one is base else f"{cpu:,.0f} ({ratio:.1f}×)")
            else:
                p99 = statistics.median(r.p99 for r in one.runs)
                ratio = statistics.median(paired(one, base, lambda r, b: r.p99 / b.p99))
                cells.append(f"{p99:,.0f}" if one is base else f"{p99:,.0f} ({ratio:.2f}×)")
        out.append("| " + " | ".join(cells) + " |")
    return [
        "\nIn short (medians over rounds; in brackets: against the bare SDK of the same round):\n",
        "| database | call | case | p50 µs, 1 user (added) | calls/s, 20 users (× SDK) "
        "| CPU µs / call, 20 users (× SDK) | p99 µs, 100 users (× SDK) |",
        "|---|---|---|---|---|---|---|",
        *out,
    ]


def verdicts(found: Sequence[Series]) -> list[str]:
    """The targets of issue 16, read off the 'limit miss' case (the engine's slowest)."""
    index = {(s.database, s.provider, s.mode, s.concurrency, s.case): s for s in found}
    out = []
    for (database, provider, mode, n, case), series in index.items():
        base = index.get((database, provider, mode, n, BASELINE))
        if case != "limit miss" or base is None:
            continue
        where = f"{database} {provider} {mode}, {n} user{'' if n == 1 else 's'}"
        if n == 1:
            added = statistics.median(paired(series, base, lambda r, b: r.p50 - b.p50))
            ok = "yes" if added < 1000 else "**no**"
            out.append(f"| {where} | added p50 < 1 ms | {added:,.0f} µs | {ok} |")
        if n == 20:
            rate = statistics.median(paired(series, base, lambda r, b: r.per_second / b.per_second))
            ok = "yes" if rate >= 0.8 else "**no**"
            out.append(f"| {where} | ≥ 80 % of the SDK's calls/s | {rate:.0%} | {ok} |")
        if n == 100:
            p99 = statistics.median(paired(series, base, lambda r, b: r.p99 / b.p99))
            ok = "yes" if p99 <= 1.5 else "**no**"
            out.append(f"| {where} | p99 ≤ 1.5 × the SDK's | {p99:.2f} × | {ok} |")
    if not out:
        return []
    return [
        "\nTargets (case 'limit miss': a monthly limit on, every ask a cache miss; medians of "
        "per-round ratios):\n",
        "| where | target | measured | met |",
        "|---|---|---|---|",
        *out,
    ]


def saturation(found: Sequence[Series]) -> list[str]:
    """Lines warning where a process other than this one may have set the pace."""
    out = []
    for series in found:
        fake = max(r.fake_busy for r in series.runs)
        if fake >= FAKE_SATURATED:
            out.append(
                f"- WARNING: the fake provider was {fake:.0%} busy during {series.database} "
                f"{series.provider} {series.mode} {series.concurrency} users '{series.case}': "
                "it may be the bottleneck there"
            )
    busiest = max(found, key=lambda s: max(r.fake_busy for r in s.runs))
    out.append(
        f"- the fake provider's busiest run: {max(r.fake_busy for r in busiest.runs):.0%} of "
        f"one core ({busiest.database} {busiest.concurrency} users '{busiest.case}'); "
        f"saturated would be ≈ 100 %"
    )
    database = [r.database_busy for s in found for r in s.runs if r.database_busy is not None]
    if database:
        out.append(f"- PostgreSQL's busiest run: {max(database):.0%} of one core")
    return out


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "byok", "bench")
    return git("rev-parse", "--short", "HEAD") + (
        " (+ uncommitted changes in byok/ or bench/)" if dirty else ""
    )


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


# --- the run ---------------------------------------------------------------------------


#: A database to run on: its label, two URLs (cache on, cache off), the server's pid.
Database = tuple[str, tuple[str, str], int | None]


@asynccontextmanager
async def databases(args: argparse.Namespace) -> AsyncIterator[list[Database]]:
    """SQLite and a throwaway PostgreSQL server, as asked."""
    found: list[Database] = []
    async with AsyncExitStack() as stack:
        if not args.no_sqlite:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            urls = (f"sqlite+aiosqlite:///{tmp}/hit.db", f"sqlite+aiosqlite:///{tmp}/miss.db")
            found.append(("SQLite", urls, None))
        bindir = find_pg_bin()
        if args.no_postgres:
            pass
        elif bindir is None:
            print("PostgreSQL skipped: no PostgreSQL binaries found")
        else:
            server = PostgresServer(bindir)
            server.start()
            stack.callback(server.stop)
            pid = int((server.data / "postmaster.pid").read_text().split()[0])
            urls = (server.create_database(), server.create_database())
            found.append(("PostgreSQL", urls, pid))
        yield found


async def run(args: argparse.Namespace) -> tuple[list[Series], list[str]]:
    """Every database's series, and what stuck or failed (that database is left out)."""
    found: list[Series] = []
    stuck: list[str] = []
    keys = 2 * max(args.concurrency)
    async with fake_services(keys=keys) as (fakes, fake_pid), databases(args) as chosen:
        for label, urls, pid in chosen:
            try:
                found += await run_database(label, urls, fakes, Watched(fake_pid, pid), args)
            except Stalled as exc:
                print(f"  STUCK: {exc}; {label} left out", flush=True)
                stuck.append(f"- **STUCK**: {exc}; {label} is left out of the table")
            except Exception as exc:  # one call's error costs one database, not the run
                what = f"{type(exc).__name__}: {exc}"
                print(f"  FAILED: {what}; {label} left out", flush=True)
                stuck.append(f"- **FAILED**: a call raised {what}; {label} is left out")
    return found, stuck


def report(found: Sequence[Series]) -> list[str]:
    index = {(s.database, s.provider, s.mode, s.concurrency, s.case): s for s in found}
    lines = [TABLE_HEADER]
    for series in found:
        base = index.get(
            (series.database, series.provider, series.mode, series.concurrency, BASELINE)
        )
        lines.append(table_row(series, base))
    lines += summary(found)
    lines += verdicts(found)
    lines += ["", *saturation(found)]
    return lines


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a ~1 minute smoke run")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (5; --quick 2)")
    parser.add_argument("--concurrency", default="1,20,100", help="users in the closed loop")
    parser.add_argument("--calls", type=int, help="calls per case and round (default: by users)")
    parser.add_argument("--providers", default="openai")
    parser.add_argument("--modes", default="chat", help="chat and/or stream")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--stall-s", type=float, default=STALL_S, help="no answer this long: the run is stuck"
    )
    args = parser.parse_args(argv)
    args.providers = args.providers.split(",")
    args.modes = args.modes.split(",")
    args.cases = args.cases.split(",")
    unknown = set(args.cases) - set(CASES)
    if unknown or BASELINE not in args.cases:
        parser.error(f"--cases: from {', '.join(CASES)}, with '{BASELINE}'")
    args.concurrency = [int(n) for n in args.concurrency.split(",")]
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.calls = {
        n: args.calls or CALLS.get(n, (40 * n, 10 * n))[1 if args.quick else 0]
        for n in args.concurrency
    }
    return args


async def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    before = uptime()
    started = time.monotonic()
    print(f"machine: {machine()}")
    print(f"commit: {git_commit()}")
    print(f"uptime before: {before}")
    print(
        f"rounds: {args.rounds}; calls per case and round: "
        + ", ".join(f"{n} users {calls}" for n, calls in args.calls.items())
        + f"; 'miss' engine: {'user_state_ttl_s=0' if cache_off() else 'state_cache = None'}",
        flush=True,
    )
    found, stuck = await run(args)
    print()
    if found:
        print("\n".join(report(found)))
    print("\n".join(stuck))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"- this process: peak RSS {peak:,.0f} MiB (maxrss), {rss_mib():,.0f} MiB at the end")
    print(f"\nuptime after: {uptime()}  ({time.monotonic() - started:,.0f} s)")


if __name__ == "__main__":
    asyncio.run(main())
