"""Time the weekly digest's aggregation for every user at once, on SQLite and PostgreSQL.

Seeds 10,000 users and 1,000,000 usage rows (bulk: executemany on SQLite, COPY on
PostgreSQL), spread over the last ``--span-days`` days (42 by default: every row
lies in the weeks a digest reads, the densest case). Then times, for one week:

- ``load_digest_data`` for all users at once, numbers and chart data in one pass: the
  week by provider and model, failures and fallbacks, the week before, month-to-date
  per key, and the chart's daily cost by provider. Target: under 2.5 s on SQLite and
  2 s on PostgreSQL (median).
- making every digest's lines and chart points into objects, which the runner does
  for one user at a time as it draws and sends each digest (reported apart, and with
  the load as "both").

    .venv/bin/python bench/digest_bench.py [--users N] [--rows N] [--span-days D]
        [--timezone TZ] [--chart-weeks N] [--runs N] [--only sqlite|postgresql]

PostgreSQL is a throwaway server from tests/postgres_server.py (needs Debian's
``postgresql`` package). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from byok.db import Database, upgrade
from byok.digest_data import DigestWindow, load_digest_data
from tests.postgres_server import PostgresServer, find_pg_bin

PERIOD_START = date(2026, 11, 16)  # a Monday
PROVIDERS = {
    "openai": ["gpt-5", "gpt-5-mini", "gpt-4.1"],
    "anthropic": ["claude-sonnet-4-6", "claude-haiku-4-5"],
    "google": ["gemini-2.5-pro", "gemini-2.5-flash"],
    "xai": ["grok-4"],
    "openrouter": ["meta-llama/llama-4", "mistralai/mistral-large"],
}
USAGE_COLUMNS = (
    "user_ref", "request_id", "provider", "model", "key_source", "request_kind", "is_fallback",
    "outcome", "error_kind", "input_tokens", "output_tokens", "cached_input_tokens",
    "reasoning_tokens", "cost", "reserved_cost", "latency_ms", "created_at", "finished_at",
)  # fmt: skip


def machine() -> str:
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    load = _load()
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {memory} RAM, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; load {load}"
    )


def usage_rows(users: int, rows: int, end: datetime, span_days: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(42)
    span = span_days * 86_400
    pairs = [(p, m) for p, models in PROVIDERS.items() for m in models]
    # Oldest first, as a running bot writes them.
    offsets = sorted((rng.random() * span for _ in range(rows)), reverse=True)
    for n, offset in enumerate(offsets):
        provider, model = rng.choice(pairs)
        created = end - timedelta(seconds=offset)
        roll = rng.random()
        outcome = "success" if roll < 0.90 else "error" if roll < 0.97 else "cancelled"
        error_kind = (
            rng.choice(["rate_limited", "unavailable", "bad_request"])
            if outcome == "error"
            else None
        )
        tokens_in, tokens_out = rng.randint(50, 4000), rng.randint(10, 1500)
        priced = outcome == "success" and rng.random() > 0.05
        cost = (tokens_in * 3 + tokens_out * 15) * 1_000 if priced else None
        yield (
            rng.randint(1, users), f"r{n}", provider, model,
            "user" if rng.random() < 0.95 else "operator", "chat", rng.random() < 0.03,
            outcome, error_kind, tokens_in, tokens_out, 0, 0, cost, None,
            rng.randint(200, 5000), created, created,
        )  # fmt: skip


def user_rows(users: int, now: datetime) -> list[tuple[Any, ...]]:
    return [(n, "slack", f"T{n % 50}", f"U{n}", None, now) for n in range(1, users + 1)]


def key_rows(users: int, now: datetime) -> list[tuple[Any, ...]]:
    rng = random.Random(7)
    rows = []
    for n in range(1, users + 1):
        for provider in rng.sample(list(PROVIDERS), rng.randint(1, 3)):
            limit = rng.choice([None, 5_000_000_000, 20_000_000_000])
            rows.append((n, provider, b"x", "k1", "abcd", True, True, limit, now, now))
    return rows


def prefs_rows(users: int, now: datetime) -> list[tuple[Any, ...]]:
    # A tenth of the users set preferences: some opt out, some want empty digests.
    return [(n, "{}", n % 3 != 0, n % 3 == 1, now) for n in range(1, users + 1, 10)]


def sqlite_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def seed_sqlite(path: Path, users: int, rows: int, end: datetime, span: int) -> None:
    now = datetime.now(UTC)
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    con.executemany(
        "INSERT INTO users (id, platform, workspace_id, user_id, display_name, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(*r[:5], sqlite_text(r[5])) for r in user_rows(users, now)],
    )
    con.executemany(
        "INSERT INTO user_api_keys (user_ref, provider, encrypted_key, master_key_id, key_last4, "
        "is_active, is_valid, monthly_limit, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*r[:8], sqlite_text(r[8]), sqlite_text(r[9])) for r in key_rows(users, now)],
    )
    con.executemany(
        "INSERT INTO user_ai_preferences (user_ref, preferred_models, weekly_digest, "
        "digest_when_empty, updated_at) VALUES (?, ?, ?, ?, ?)",
        [(*r[:4], sqlite_text(r[4])) for r in prefs_rows(users, now)],
    )
    placeholders = ", ".join("?" for _ in USAGE_COLUMNS)
    con.executemany(
        f"INSERT INTO usage_events ({', '.join(USAGE_COLUMNS)}) VALUES ({placeholders})",
        (
            (*r[:16], sqlite_text(r[16]), sqlite_text(r[17]))
            for r in usage_rows(users, rows, end, span)
        ),
    )
    con.commit()
    con.execute("ANALYZE")
    con.close()


async def seed_postgres(url: str, users: int, rows: int, end: datetime, span: int) -> None:
    import asyncpg

    now = datetime.now(UTC)
    con = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await con.copy_records_to_table(
            "users",
            records=user_rows(users, now),
            columns=["id", "platform", "workspace_id", "user_id", "display_name", "created_at"],
        )
        await con.copy_records_to_table(
            "user_api_keys",
            records=key_rows(users, now),
            columns=["user_ref", "provider", "encrypted_key", "master_key_id", "key_last4",
                     "is_active", "is_valid", "monthly_limit", "created_at", "updated_at"],
        )  # fmt: skip
        await con.copy_records_to_table(
            "user_ai_preferences",
            records=prefs_rows(users, now),
            columns=["user_ref", "preferred_models", "weekly_digest", "digest_when_empty",
                     "updated_at"],
        )  # fmt: skip
        await con.copy_records_to_table(
            "usage_events", records=usage_rows(users, rows, end, span), columns=USAGE_COLUMNS
        )
        await con.execute("SELECT setval('users_id_seq', $1)", users)
        await con.execute("VACUUM ANALYZE")
    finally:
        await con.close()


async def time_aggregation(url: str, window: DigestWindow, runs: int) -> list[str]:
    """Time numbers and chart data for all users at once, then making them into objects."""
    database = Database(url)
    loads: list[float] = []
    objects: list[float] = []
    try:
        for _ in range(runs):
            started = time.perf_counter()
            data = await load_digest_data(database, window)
            loads.append(time.perf_counter() - started)
            started = time.perf_counter()
            lines = points = 0
            for digest in data.values():
                lines += len(digest.week)
                points += len(digest.daily)
            objects.append(time.perf_counter() - started)
            digests = len(data)
            del data
    finally:
        await database.dispose()
    totals = [a + b for a, b in zip(loads, objects, strict=True)]
    return [
        f"numbers + chart data, one pass: best {min(loads):.3f} s, median "
        f"{statistics.median(loads):.3f} s ({digests:,} digests, {lines:,} provider/model "
        f"lines, {points:,} daily points)",
        f"objects, every digest:          best {min(objects):.3f} s, median "
        f"{statistics.median(objects):.3f} s (made as each digest is sent)",
        f"both:                           best {min(totals):.3f} s, median "
        f"{statistics.median(totals):.3f} s over {runs} runs; load average now {_load()}",
    ]


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def report(name: str, seed_s: float, lines: list[str]) -> None:
    print(f"{name} (seeded in {seed_s:.1f} s)", flush=True)
    for line in lines:
        print(f"  {line}", flush=True)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--span-days",
        type=int,
        default=42,
        help="usage spread over this many days before the period end",
    )
    parser.add_argument("--timezone", default="Europe/Berlin")
    parser.add_argument("--chart-weeks", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    tz = ZoneInfo(args.timezone)
    window = DigestWindow(
        PERIOD_START, tz, args.chart_weeks, as_of=datetime(2026, 11, 23, 9, tzinfo=tz)
    )
    print(f"machine: {machine()}")
    print(
        f"data: {args.users:,} users, {args.rows:,} usage rows over {args.span_days} days; "
        f"week {window.period_start} ({args.timezone}), chart {args.chart_weeks} weeks",
        flush=True,
    )
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            database = Database(url)
            await upgrade(database)
            await database.dispose()
            started = time.perf_counter()
            seed_sqlite(Path(folder, "bench.db"), args.users, args.rows, window.end, args.span_days)
            seeded = time.perf_counter() - started
            report("SQLite", seeded, await time_aggregation(url, window, args.runs))
    if args.only in (None, "postgresql"):
        bindir = find_pg_bin()
        if bindir is None:
            print("PostgreSQL: skipped (no initdb found; install Debian's postgresql package)")
            return 0
        server = PostgresServer(bindir)
        server.start()
        try:
            url = server.create_database()
            database = Database(url)
            await upgrade(database)
            await database.dispose()
            started = time.perf_counter()
            await seed_postgres(url, args.users, args.rows, window.end, args.span_days)
            seeded = time.perf_counter() - started
            version = await _pg_version(url)
            report(
                f"PostgreSQL {version}",
                seeded,
                await time_aggregation(url, window, args.runs),
            )
        finally:
            server.stop()
    return 0


async def _pg_version(url: str) -> str:
    import asyncpg

    con = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return str(await con.fetchval("SHOW server_version")).split()[0]
    finally:
        await con.close()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
