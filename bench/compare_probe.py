"""Where a comparison's added latency goes: when each request reaches its fake provider.

The fakes run in this process and wait 300 / 450 / 600 ms before answering; each notes
when a request arrived. Each round asks the three at once, then Google alone, and prints
(p50 over the rounds) the time from the start to each request, and from Google's answer
to the end of the call. SQLite.

    .venv/bin/python -m bench.compare_probe [--rounds 25]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from bench.common import machine, make_engine
from byok.answers import Answer
from byok.service import BYOKService
from byok.types import UserRef
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.fake_gemini import FakeGemini
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.llm_script import FakeLLM
from tests.fakes.loopback import RecordedRequest
from tests.fakes.plugin import FakeProviders

LATENCY_S = {"openai": 0.30, "anthropic": 0.45, "google": 0.60}
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def _note_arrivals(fake: FakeLLM, arrivals: dict[str, float]) -> None:
    pid = fake.provider_id

    def noted(_request: RecordedRequest) -> None:
        arrivals[pid] = time.perf_counter() - LATENCY_S[pid]  # asked after the wait

    fake.reply_policy = noted


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    print(machine())
    arrivals: dict[str, float] = {}
    fakes: list[FakeLLM] = [FakeOpenAI(), FakeAnthropic(), FakeGemini()]
    for fake in fakes:
        fake.latency_s = LATENCY_S[fake.provider_id]
        _note_arrivals(fake, arrivals)
        await fake.start()
    providers = FakeProviders(fakes)
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        engine = await make_engine(f"sqlite+aiosqlite:///{folder}/probe.db", providers)
        service = BYOKService(engine, UserRef("slack", "T1", "U1"))
        for pid in LATENCY_S:
            await service.add_key(pid, providers.key(pid))
        for round_ in range(args.rounds + 5):  # the first 5 warm up
            started = time.perf_counter()
            answered: dict[str, float] = {}
            async for event in service.compare(QUESTION, providers=tuple(LATENCY_S)):
                if isinstance(event, Answer):
                    answered[event.provider_id] = time.perf_counter()
            ended = time.perf_counter()
            sent = {pid: (at - started) * 1000 for pid, at in arrivals.items()}
            alone_started = time.perf_counter()
            async for event in service.stream(QUESTION, provider="google"):
                if isinstance(event, Answer):
                    alone_answered = time.perf_counter()
            alone_ended = time.perf_counter()
            if round_ < 5:
                continue
            for pid, ms in sent.items():
                samples.setdefault(f"compare: {pid}'s request sent after", []).append(ms)
            for name, ms in (
                ("alone: google's request sent after", (arrivals["google"] - alone_started) * 1000),
                ("compare: after google's answer", (ended - answered["google"]) * 1000),
                ("alone: after google's answer", (alone_ended - alone_answered) * 1000),
                ("compare − alone, whole call", ((ended - started) - (alone_ended - alone_started)) * 1000),
            ):  # fmt: skip
                samples.setdefault(name, []).append(ms)
        await engine.aclose()
    for fake in fakes:
        await fake.stop()
    print(f"\n| measured ({args.rounds} rounds) | p50 ms |\n|---|---|")
    for name, values in samples.items():
        print(f"| {name} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
