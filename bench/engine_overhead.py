"""Engine overhead: BYOKService.chat versus the same request made directly with the SDK.

Both talk to the same loopback fake provider in the same process, interleaved, so the
difference is what the engine adds: routing, key decryption, the limit check and the
usage row. Sequential, then 100 concurrent users; on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.engine_overhead [--calls 400] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator

import anthropic
import openai
from google import genai
from google.genai import types as genai_types

from bench.common import machine, make_engine, percentiles
from byok.types import UserRef
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.fake_gemini import FakeGemini
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.fake_openrouter import FakeOpenRouter
from tests.fakes.fake_xai import FakeXAI
from tests.fakes.plugin import FakeProviders
from tests.postgres_server import PostgresServer, find_pg_bin

QUESTION = "What is the capital of France?"
Call = Callable[[], Awaitable[object]]


def direct_calls(fakes: FakeProviders) -> dict[str, Call]:
    oa = openai.AsyncOpenAI(
        api_key=fakes.key("openai"), base_url=fakes["openai"].base_url, max_retries=0
    )
    an = anthropic.AsyncAnthropic(
        api_key=fakes.key("anthropic"), base_url=fakes["anthropic"].base_url, max_retries=0
    )
    gg = genai.Client(
        api_key=fakes.key("google"),
        http_options=genai_types.HttpOptions(
            base_url=fakes["google"].base_url, api_version="v1beta"
        ),
    )
    messages = [{"role": "user", "content": QUESTION}]

    async def call_openai() -> object:
        return await oa.chat.completions.create(
            model="gpt-5.6-terra", messages=messages, max_completion_tokens=256
        )  # type: ignore[arg-type]

    async def call_anthropic() -> object:
        return await an.messages.create(
            model="claude-sonnet-4-6", messages=messages, max_tokens=256
        )  # type: ignore[arg-type]

    async def call_google() -> object:
        return await gg.aio.models.generate_content(
            model="gemini-3.5-flash",
            contents=QUESTION,
            config=genai_types.GenerateContentConfig(max_output_tokens=256),
        )

    call_google.client = gg  # type: ignore[attr-defined]  # keep the client alive
    return {"openai": call_openai, "anthropic": call_anthropic, "google": call_google}


async def measure(call: Call, calls: int, concurrency: int) -> list[float]:
    samples: list[float] = []
    per_worker = calls // concurrency

    async def worker() -> None:
        for _ in range(per_worker):
            started = time.perf_counter()
            await call()
            samples.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples


async def run_database(label: str, url: str, fakes: FakeProviders, calls: int) -> list[str]:
    engine = await make_engine(url, fakes)
    direct = direct_calls(fakes)
    rows = []
    users = [UserRef("bench", "W", f"U{n}") for n in range(100)]
    for provider in ("openai", "anthropic", "google"):
        for user in users:
            await engine.service(user).add_key(provider, fakes.key(provider))
    for provider in ("openai", "anthropic", "google"):
        counter = iter(range(10**9))

        async def via_engine(provider: str = provider, counter: Iterator[int] = counter) -> object:
            user = users[next(counter) % len(users)]
            return await engine.service(user).chat(
                [{"role": "user", "content": QUESTION}], provider=provider, max_tokens=256
            )

        for concurrency in (1, 100):
            await measure(direct[provider], 50, 1)  # warm up
            await measure(via_engine, 50, 1)
            d, e = [], []
            for _ in range(4):  # interleave to share any drift
                d += await measure(direct[provider], calls // 4, concurrency)
                e += await measure(via_engine, calls // 4, concurrency)
            d50, d99 = percentiles(d)
            e50, e99 = percentiles(e)
            rows.append(
                f"| {label} | {provider} | {concurrency} | {d50:,.0f} / {d99:,.0f} | "
                f"{e50:,.0f} / {e99:,.0f} | **{e50 - d50:,.0f}** / **{e99 - d99:,.0f}** |"
            )
    await engine.aclose()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    fakes_list = [FakeOpenAI(), FakeAnthropic(), FakeGemini(), FakeXAI(), FakeOpenRouter()]
    for fake in fakes_list:
        await fake.start()
    fakes = FakeProviders(fakes_list)
    print(f"machine: {machine()}")
    print(
        "| database | provider | concurrent users | SDK direct p50 / p99 µs | BYOKService p50 / p99 µs | added p50 / p99 µs |"
    )
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for row in await run_database(
            "SQLite", f"sqlite+aiosqlite:///{tmp}/bench.db", fakes, args.calls
        ):
            print(row, flush=True)
    bindir = find_pg_bin()
    if bindir is not None and not args.no_postgres:
        server = PostgresServer(bindir)
        server.start()
        try:
            for row in await run_database(
                "PostgreSQL", server.create_database(), fakes, args.calls
            ):
                print(row, flush=True)
        finally:
            server.stop()
    for fake in fakes_list:
        await fake.stop()


if __name__ == "__main__":
    asyncio.run(main())
