"""The fake LLM providers in a process of their own, so a benchmark does not pay for them.

Started by :func:`bench.common.fake_services`, not by hand: it starts the five loopback
fakes, prints one JSON line with their URLs, models and keys they accept, and serves
until its stdin closes. ``--keys N`` registers N more random keys per provider (one per
benchmark user); ``--latency-ms openai=300,anthropic=450`` makes those providers wait
before answering, like a real provider's time to first byte. Recorded requests are dropped every second to keep memory flat.

    .venv/bin/python -m bench.fake_services [--keys N] [--latency-ms P=MS,…]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.fake_gemini import FakeGemini
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.fake_openrouter import FakeOpenRouter
from tests.fakes.fake_xai import FakeXAI
from tests.fakes.llm_script import FakeLLM


async def _forget(fakes: list[FakeLLM]) -> None:
    while True:
        await asyncio.sleep(1.0)
        for fake in fakes:
            fake.requests.clear()


async def main(extra_keys: int, latency_ms: dict[str, float]) -> None:
    fakes: list[FakeLLM] = [
        FakeOpenAI(),
        FakeAnthropic(),
        FakeGemini(),
        FakeXAI(),
        FakeOpenRouter(),
    ]
    described: dict[str, object] = {}
    for fake in fakes:
        fake.latency_s = latency_ms.get(fake.provider_id, 0.0) / 1000
        await fake.start()
        keys = [fake.valid_key, *(fake.add_key() for _ in range(extra_keys))]
        described[fake.provider_id] = {
            "base_url": fake.base_url,
            "models": fake.models,
            "keys": keys,
        }
    print(json.dumps(described), flush=True)
    forgetting = asyncio.create_task(_forget(fakes))
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    forgetting.cancel()
    for fake in fakes:
        await fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=0)
    parser.add_argument("--latency-ms", default="", help="provider=ms,… (default: none)")
    args = parser.parse_args()
    latency = {
        pid: float(ms) for pid, _, ms in (p.partition("=") for p in args.latency_ms.split(",") if p)
    }
    asyncio.run(main(args.keys, latency))
