"""Response cache: an answer from the cache, end to end in the engine, vs a miss.

One user with the cache on asks the same question again and again through
``BYOKService.chat`` and ``stream``: every ask after the first is a hit (the rate limit,
the user's state, routing, the HMAC of the request, one indexed SELECT, opening the
AES-256-GCM blob and the ``cached`` usage row, group-committed). For comparison, the
same user asks with ``fresh=True`` (the provider is called, the answer stored again).
The fake provider runs in a process of its own. SQLite, and PostgreSQL unless
``--no-postgres``.

    .venv/bin/python -m bench.cache_bench [--calls 2000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.common import fake_services, machine, make_engine, percentiles
from byok.answers import Answer
from byok.engine import Engine
from byok.service import BYOKService
from byok.types import UserRef
from tests.postgres_server import PostgresServer, find_pg_bin

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
USER = UserRef("slack", "T1", "U1")


async def _time(call: Callable[[], Awaitable[object]], calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def _streamed(service: BYOKService, fresh: bool) -> Answer:
    answer = None
    async for event in service.stream(QUESTION, provider="openai", fresh=fresh):
        if isinstance(event, Answer):
            answer = event
    assert answer is not None
    return answer


async def _measure(engine: Engine, key: str, calls: int, label: str) -> None:
    service = BYOKService(engine, USER)
    await service.add_key("openai", key)
    await service.set_preferences(cache_answers=True)
    first = await service.chat(QUESTION, provider="openai")
    hit = await service.chat(QUESTION, provider="openai")
    assert first.from_cache is None and hit.from_cache is not None, "the cache did not answer"
    cases: dict[str, Callable[[], Awaitable[object]]] = {
        "chat, hit": lambda: service.chat(QUESTION, provider="openai"),
        "stream, hit": lambda: _streamed(service, fresh=False),
        "chat, --fresh (provider called)": lambda: service.chat(
            QUESTION, provider="openai", fresh=True
        ),
        "stream, --fresh (provider called)": lambda: _streamed(service, fresh=True),
    }
    for name, call in cases.items():
        await _time(call, max(20, calls // 20))  # warm up
        runs = calls if "hit" in name else max(100, calls // 5)
        p50, p99 = percentiles(await _time(call, runs))
        print(f"| {label} | {name} | {runs} | {p50 / 1000:.2f} | {p99 / 1000:.2f} |")
    await engine.ledger.flush()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(machine())
    print()
    print("| database | case | calls | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    async with fake_services() as (fakes, _pid):
        with tempfile.TemporaryDirectory() as folder:
            engine = await make_engine(f"sqlite+aiosqlite:///{Path(folder)}/cache.db", fakes)
            try:
                await _measure(engine, fakes.key("openai"), args.calls, "SQLite")
            finally:
                await engine.aclose()
        bindir = find_pg_bin()
        if bindir is not None and not args.no_postgres:
            server = PostgresServer(bindir)
            server.start()
            try:
                engine = await make_engine(server.create_database(), fakes)
                try:
                    await _measure(engine, fakes.key("openai"), args.calls, "PostgreSQL")
                finally:
                    await engine.aclose()
            finally:
                server.stop()
    print(f"\nload average after: {machine().rsplit('load average ', 1)[1]}")


if __name__ == "__main__":
    asyncio.run(main())
