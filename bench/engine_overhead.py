"""Engine overhead: BYOKService versus the same request made directly with the SDK.

Both talk to the same fake provider, which runs in a process of its own (so its CPU is
not charged to either side), interleaved in blocks so any drift hits both alike. The
difference is what the engine adds: the rate limit, one query for the user's state, key
decryption, routing, the limit check, pricing and the usage row (group-committed in the
background). For OpenAI, Anthropic and Google; ``chat`` and ``stream``; sequential and
with 100 concurrent users; on SQLite and on PostgreSQL.

With 100 concurrent users in a closed loop the process is saturated, so latency there is
mostly queueing (≈ users × CPU per call): the table also gives throughput and CPU time
per call, which is what the engine adds to that queue.

    .venv/bin/python -m bench.engine_overhead [--calls 400] [--users 100]
        [--providers openai,anthropic,google] [--modes chat,stream] [--no-postgres]
        [--profile]   # then sample one-at-a-time engine calls with py-spy
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
from google import genai
from google.genai import types as genai_types

from bench.common import RemoteFakes, fake_services, machine, make_engine, percentiles
from bench.hotspots import record, summarize
from byok.engine import Engine
from byok.service import BYOKService
from byok.types import UserRef
from tests.postgres_server import PostgresServer, find_pg_bin

QUESTION = "What is the capital of France?"
Call = Callable[[], Awaitable[object]]
#: Both sides give up after this long (the engine's providers: ``RemoteFakes.settings``).
TIMEOUT_S = 30.0
MODELS = {"openai": "gpt-5.6-terra", "anthropic": "claude-sonnet-4-6", "google": "gemini-3.5-flash"}


def direct_calls(fakes: RemoteFakes, provider: str) -> dict[str, Call]:
    """The SDK used directly, as an application without the engine would: chat and stream."""
    messages: Any = [{"role": "user", "content": QUESTION}]
    model = MODELS[provider]
    if provider == "openai":
        oa = openai.AsyncOpenAI(
            api_key=fakes.key("openai"),
            base_url=fakes.base_url("openai"),
            max_retries=0,
            timeout=TIMEOUT_S,
        )

        async def oa_chat() -> object:
            return await oa.chat.completions.create(
                model=model,
                messages=messages,
                max_completion_tokens=256,
            )

        async def oa_stream() -> object:
            stream = await oa.chat.completions.create(
                model=model,
                messages=messages,
                max_completion_tokens=256,
                stream=True,
                stream_options={"include_usage": True},
            )
            return [chunk async for chunk in stream]

        return {"chat": oa_chat, "stream": oa_stream}
    if provider == "anthropic":
        an = anthropic.AsyncAnthropic(
            api_key=fakes.key("anthropic"),
            base_url=fakes.base_url("anthropic"),
            max_retries=0,
            timeout=TIMEOUT_S,
        )

        async def an_chat() -> object:
            return await an.messages.create(
                model=model,
                messages=messages,
                max_tokens=256,
            )

        async def an_stream() -> object:
            stream = await an.messages.create(
                model=model,
                messages=messages,
                max_tokens=256,
                stream=True,
            )
            return [event async for event in stream]

        return {"chat": an_chat, "stream": an_stream}
    gg = genai.Client(
        api_key=fakes.key("google"),
        http_options=genai_types.HttpOptions(
            base_url=fakes.base_url("google"), timeout=int(TIMEOUT_S * 1000)
        ),
    )
    config = genai_types.GenerateContentConfig(max_output_tokens=256)

    async def gg_chat() -> object:
        return await gg.aio.models.generate_content(model=model, contents=QUESTION, config=config)

    async def gg_stream() -> object:
        stream = await gg.aio.models.generate_content_stream(
            model=model, contents=QUESTION, config=config
        )
        return [response async for response in stream]

    gg_chat.client = gg  # type: ignore[attr-defined]  # keep the client alive
    return {"chat": gg_chat, "stream": gg_stream}


def engine_calls(engine: Engine, users: list[UserRef], provider: str) -> dict[str, Call]:
    counter = itertools.count()
    messages = [{"role": "user", "content": QUESTION}]

    async def chat() -> object:
        user = users[next(counter) % len(users)]
        return await BYOKService(engine, user).chat(messages, provider=provider, max_tokens=256)

    async def stream() -> object:
        user = users[next(counter) % len(users)]
        events = BYOKService(engine, user).stream(messages, provider=provider, max_tokens=256)
        return [event async for event in events]

    return {"chat": chat, "stream": stream}


@dataclass
class Run:
    samples: list[float]
    wall: float
    cpu: float

    def add(self, other: Run) -> None:
        self.samples += other.samples
        self.wall += other.wall
        self.cpu += other.cpu

    @property
    def per_second(self) -> float:
        return len(self.samples) / self.wall

    @property
    def cpu_us(self) -> float:
        return self.cpu / len(self.samples) * 1e6


async def measure(call: Call, calls: int, concurrency: int) -> Run:
    samples: list[float] = []
    per_worker = max(1, calls // concurrency)

    async def worker() -> None:
        for _ in range(per_worker):
            started = time.perf_counter()
            await call()
            samples.append(time.perf_counter() - started)

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Run(samples, time.perf_counter() - wall, time.process_time() - cpu)


async def compare(direct: Call, via_engine: Call, calls: int, concurrency: int) -> tuple[Run, Run]:
    await measure(direct, max(50, concurrency), concurrency)  # warm up: connections, caches
    await measure(via_engine, max(50, concurrency), concurrency)
    d, e = Run([], 0, 0), Run([], 0, 0)
    for _ in range(4):  # interleaved blocks share any drift
        d.add(await measure(direct, calls // 4, concurrency))
        e.add(await measure(via_engine, calls // 4, concurrency))
    return d, e


def row(label: str, provider: str, mode: str, concurrency: int, d: Run, e: Run) -> str:
    d50, d99 = percentiles(d.samples)
    e50, e99 = percentiles(e.samples)
    return (
        f"| {label} | {provider} | {mode} | {concurrency} | {d50:,.0f} / {d99:,.0f} | "
        f"{e50:,.0f} / {e99:,.0f} | **{e50 - d50:,.0f}** / **{e99 - d99:,.0f}** | "
        f"{d.per_second:,.0f} / {e.per_second:,.0f} | {d.cpu_us:,.0f} / {e.cpu_us:,.0f} "
        f"(+{e.cpu_us - d.cpu_us:,.0f}) |"
    )


async def run_database(
    label: str, url: str, fakes: RemoteFakes, args: argparse.Namespace
) -> list[str]:
    engine = await make_engine(url, fakes)
    users = [UserRef("bench", "W", f"U{n}") for n in range(args.users)]
    for provider in args.providers:
        for index, user in enumerate(users):
            await BYOKService(engine, user).add_key(provider, fakes.key(provider, index + 1))
        direct = direct_calls(fakes, provider)
        via_engine = engine_calls(engine, users, provider)
        for mode in args.modes:
            for concurrency in (1, args.users):
                calls = args.calls if concurrency == 1 else max(args.calls, 20 * concurrency)
                d, e = await compare(direct[mode], via_engine[mode], calls, concurrency)
                print(row(label, provider, mode, concurrency, d, e), flush=True)
    profiles = []
    if args.profile:
        profiles = await profile(label, engine_calls(engine, users, args.providers[0]), args)
    await engine.aclose()
    return profiles


async def profile(label: str, calls: dict[str, Call], args: argparse.Namespace) -> list[str]:
    """Sample this process with py-spy while the engine answers one call at a time."""
    found = []
    for mode in args.modes:
        raw = Path(tempfile.mkdtemp(prefix="byok-profile-")) / f"engine-{mode}.raw"
        recording = asyncio.create_task(record(os.getpid(), args.profile_seconds, raw))
        while not recording.done():
            await calls[mode]()
        if await recording:
            found.append(
                f"\n### Where the time of one `{mode}` call goes ({label}, {args.providers[0]}, "
                f"one at a time)\n\nraw samples: {raw}\n\n{summarize(raw)}\n"
            )
    return found


HEADER = (
    "| database | provider | call | concurrent users | SDK direct p50 / p99 µs | "
    "BYOKService p50 / p99 µs | added p50 / p99 µs | calls/s direct / engine | "
    "CPU µs per call direct / engine (added) |\n|---|---|---|---|---|---|---|---|---|"
)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--providers", default="openai,anthropic,google")
    parser.add_argument("--modes", default="chat,stream")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--profile", action="store_true", help="then sample sequential engine calls with py-spy"
    )
    parser.add_argument("--profile-seconds", type=float, default=8.0)
    args = parser.parse_args()
    args.providers = args.providers.split(",")
    args.modes = args.modes.split(",")
    print(f"machine: {machine()}")
    print("fake providers: a separate process (bench.fake_services)\n")
    print(HEADER, flush=True)
    profiles: list[str] = []
    async with fake_services(keys=args.users) as (fakes, _pid):
        if not args.no_sqlite:
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite+aiosqlite:///{tmp}/bench.db"
                profiles += await run_database("SQLite", url, fakes, args)
        bindir = find_pg_bin()
        if bindir is not None and not args.no_postgres:
            server = PostgresServer(bindir)
            server.start()
            try:
                profiles += await run_database("PostgreSQL", server.create_database(), fakes, args)
            finally:
                server.stop()
    print("\n".join(profiles))
    print(f"\nload average after: {machine().rsplit('load average ', 1)[1]}")


if __name__ == "__main__":
    asyncio.run(main())
