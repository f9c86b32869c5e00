"""Compare mode: what asking several providers at once adds over the slowest of them.

One user holding OpenAI, Anthropic and Google keys (no limits, cache off). Each round
streams the same question from each provider alone, one after the other, through
``BYOKService.stream`` (each its own wall time), then asks all three at once through
``BYOKService.compare``. The added latency of a round is the comparison's wall time
minus the slowest single stream of that round: the cost of the merge, the three tasks
and their bookkeeping (three usage rows, three rate-limit checks) running side by side
on one event loop. The fake providers run in a process of its own. SQLite.

``--latency`` makes the providers wait before answering as real ones do (OpenAI 300 ms,
Anthropic 450 ms, Google 600 ms to the first byte), so a comparison's own work can
overlap the waiting; without it the fakes answer at once and every millisecond is CPU.

    .venv/bin/python -m bench.compare_bench [--rounds 300] [--latency]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import fake_services, machine, make_engine, percentiles
from byok.answers import Answer
from byok.service import BYOKService
from byok.types import UserRef

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
USER = UserRef("slack", "T1", "U1")
PROVIDERS = ("openai", "anthropic", "google")
#: Time to first byte with --latency: distinct, so one provider is clearly the slowest.
REALISTIC_LATENCY_MS = {"openai": 300.0, "anthropic": 450.0, "google": 600.0}


async def _single(service: BYOKService, provider: str) -> float:
    started = time.perf_counter()
    answered = False
    async for event in service.stream(QUESTION, provider=provider):
        answered = answered or isinstance(event, Answer)
    assert answered
    return time.perf_counter() - started


async def _compare(service: BYOKService) -> float:
    started = time.perf_counter()
    answers = 0
    async for event in service.compare(QUESTION, providers=PROVIDERS):
        answers += isinstance(event, Answer)
    assert answers == len(PROVIDERS), "a provider failed"
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--latency", action="store_true", help="providers answer after a wait")
    args = parser.parse_args()
    print(machine())
    slowest: list[float] = []
    summed: list[float] = []
    compared: list[float] = []
    added: list[float] = []
    latency = REALISTIC_LATENCY_MS if args.latency else None
    print(f"provider latency: {latency or 'none (instant answers)'}")
    async with fake_services(latency_ms=latency) as (fakes, _pid):
        with tempfile.TemporaryDirectory() as folder:
            engine = await make_engine(f"sqlite+aiosqlite:///{Path(folder)}/compare.db", fakes)
            try:
                service = BYOKService(engine, USER)
                for provider in PROVIDERS:
                    await service.add_key(provider, fakes.key(provider))
                for _ in range(20):  # warm up: connections, the user's state
                    for provider in PROVIDERS:
                        await _single(service, provider)
                    await _compare(service)
                for _ in range(args.rounds):
                    singles = [await _single(service, p) for p in PROVIDERS]
                    alone = max(singles)
                    together = await _compare(service)
                    summed.append(sum(singles))
                    slowest.append(alone)
                    compared.append(together)
                    added.append(together - alone)
                await engine.ledger.flush()
            finally:
                await engine.aclose()
    print()
    print("| case | rounds | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    for name, samples in (
        ("slowest single stream of the round", slowest),
        ("the three single streams, one after another", summed),
        ("compare, 3 providers", compared),
    ):
        p50, p99 = percentiles(samples)
        print(f"| {name} | {args.rounds} | {p50 / 1000:.2f} | {p99 / 1000:.2f} |")
    p50 = statistics.median(added) * 1000
    print(f"\nadded latency per round (compare − slowest single): p50 {p50:+.2f} ms")
    print(f"load average after: {machine().rsplit('load average ', 1)[1]}")


if __name__ == "__main__":
    asyncio.run(main())
