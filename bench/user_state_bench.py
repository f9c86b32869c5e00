"""User-state cache: ask latency with 100 concurrent users, cold and repeated.

Each user has an OpenAI key (the fake provider runs in a process of its own). Two runs
per database and cache setting:

* ``cold``: every user asks once, all at the same moment, on a fresh engine (so every
  ask loads its user's state: what a user who asks once an hour always sees);
* ``paced``: every user asks every ``--interval`` seconds for ``--seconds`` (the users
  spread evenly over the interval, below the engine's capacity), long enough to cross
  a short time-to-live several times.

``--ttl`` takes the settings to compare: ``default`` (the engine's own), or seconds
(``0`` = no cache, every ask a miss). Run against an older checkout, ``default`` is that
checkout's behaviour (its EngineSettings may lack ``user_state_ttl_s``).

    .venv/bin/python -m bench.user_state_bench [--users 100] [--seconds 20] [--interval 4]
        [--ttl default,0] [--no-postgres] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
import time
from collections.abc import Sequence

from bench.common import RemoteFakes, fake_services, machine, percentiles
from byok.catalog import Catalog, ProviderEntry
from byok.db import Database, upgrade
from byok.engine import Engine, EngineSettings
from byok.providers.registry import PROVIDER_ALIASES, build_provider
from byok.service import BYOKService
from byok.types import UserRef
from byok.vault import Keyring, MasterKey
from tests.postgres_server import PostgresServer, find_pg_bin

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
MASTER = MasterKey.from_bytes(bytes(range(32)))


def settings(ttl: str) -> EngineSettings:
    values: dict[str, object] = {"requests_per_minute": 10**9}
    if ttl != "default":
        names = {f.name for f in dataclasses.fields(EngineSettings)}
        if "user_state_ttl_s" not in names:
            raise SystemExit("this checkout has no user_state_ttl_s: use --ttl default")
        values["user_state_ttl_s"] = float(ttl)
    return EngineSettings(**values)  # type: ignore[arg-type]


def engine_on(url: str, fakes: RemoteFakes, ttl: str) -> Engine:
    entries = {
        "openai": ProviderEntry(
            provider=build_provider(fakes.settings("openai")), display_name="OpenAI"
        )
    }
    return Engine(Database(url), Keyring(MASTER), Catalog(entries, PROVIDER_ALIASES), settings(ttl))


def describe(label: str, samples: Sequence[float], wall: float) -> str:
    p50, p99 = percentiles(samples)
    slow = sum(1 for s in samples if s > 1.0) / len(samples)
    return (
        f"| {label} | {len(samples)} | {len(samples) / wall:,.0f} | {p50 / 1000:,.1f} | "
        f"{p99 / 1000:,.1f} | {max(samples) * 1000:,.1f} | {slow:.1%} |"
    )


async def ask(engine: Engine, user: UserRef, samples: list[float]) -> None:
    started = time.perf_counter()
    await BYOKService(engine, user).chat(QUESTION, provider="openai")
    samples.append(time.perf_counter() - started)


async def run_database(
    name: str, url: str, fakes: RemoteFakes, args: argparse.Namespace
) -> list[str]:
    users = [UserRef("bench", "W", f"U{n}") for n in range(args.users)]
    database = Database(url)
    await upgrade(database)
    await database.dispose()
    first = engine_on(url, fakes, "default")
    for index, user in enumerate(users):
        await BYOKService(first, user).add_key("openai", fakes.key("openai", index + 1))
    await first.aclose()
    rows = []
    for ttl in args.ttl:
        label = f"{name}, ttl {ttl}"
        engine = engine_on(url, fakes, ttl)
        samples: list[float] = []
        started = time.perf_counter()
        await asyncio.gather(*(ask(engine, user, samples) for user in users))
        rows.append(describe(f"{label}, cold", samples, time.perf_counter() - started))
        print(rows[-1], flush=True)

        samples = []
        started = time.perf_counter()
        deadline = started + args.seconds

        async def paced(
            index: int, user: UserRef, engine: Engine, samples: list[float], deadline: float
        ) -> None:
            # Each user asks every ``interval`` seconds, the users' phases spread evenly.
            await asyncio.sleep(args.interval * index / len(users))
            while time.perf_counter() < deadline:
                asked = time.perf_counter()
                await ask(engine, user, samples)
                await asyncio.sleep(max(0.0, args.interval - (time.perf_counter() - asked)))

        await asyncio.gather(
            *(paced(i, user, engine, samples, deadline) for i, user in enumerate(users))
        )
        rows.append(describe(f"{label}, paced", samples, time.perf_counter() - started))
        print(rows[-1], flush=True)
        await engine.aclose()
    return rows


HEADER = (
    "| database, cache, run | asks | asks/s | p50 ms | p99 ms | max ms | asks > 1 s |\n"
    "|---|---|---|---|---|---|---|"
)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=4.0)
    parser.add_argument("--ttl", default="default,0")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    args.ttl = args.ttl.split(",")
    print(f"machine: {machine()}\n")
    print(HEADER, flush=True)
    async with fake_services(keys=args.users) as (fakes, _pid):
        if not args.no_sqlite:
            with tempfile.TemporaryDirectory() as tmp:
                await run_database("SQLite", f"sqlite+aiosqlite:///{tmp}/bench.db", fakes, args)
        bindir = find_pg_bin()
        if bindir is not None and not args.no_postgres:
            server = PostgresServer(bindir)
            server.start()
            try:
                await run_database("PostgreSQL", server.create_database(), fakes, args)
            finally:
                server.stop()
    print(f"\nload average after: {machine().rsplit('load average ', 1)[1]}")


if __name__ == "__main__":
    asyncio.run(main())
