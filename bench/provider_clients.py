"""OpenAI Chat Completions through different clients: CPU per call and calls per second.

Every variant talks to the same fake OpenAI, which runs in a process of its own
(:func:`bench.common.fake_services`), so only the client's work is charged to this
process. Variants run interleaved in blocks, one call at a time (the CPU of one call is
what matters on a busy bot), after a warm-up:

- ``sdk``: the official ``openai`` SDK, called as a provider would (per-request key
  header, ``max_completion_tokens``, usage read from the response objects);
- ``provider``: :class:`byok.providers.openai.OpenAIProvider` as it stands (since issue
  16: the lean client for chat and streams);
- ``compatible``: :class:`byok.providers.openai_compatible.OpenAICompatibleProvider`
  pointed at the OpenAI fake (it sends ``max_tokens``, which the fake refuses for
  reasoning models, so it asks ``gpt-4o-mini``; the fake's answer is the same).

    .venv/bin/python -m bench.provider_clients [--calls 300] [--blocks 3]
        [--variants sdk,provider,compatible] [--modes chat,stream] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import openai

from bench.common import RemoteFakes, fake_services, machine
from byok.providers.openai_wire import usage_from_openai
from byok.providers.registry import build_provider
from byok.secret import Secret
from byok.types import ChatMessage, ChatRequest

QUESTION = "What is the capital of France?"
Call = Callable[[], Awaitable[object]]


@dataclass
class Tally:
    calls: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    blocks: list[float] = field(default_factory=list)

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.calls * 1e6

    @property
    def per_second(self) -> float:
        return self.calls / self.wall


def sdk_calls(fakes: RemoteFakes, model: str) -> tuple[dict[str, Call], Callable[[], Any]]:
    """The SDK used the way the SDK-based provider used it."""
    client = openai.AsyncOpenAI(
        api_key="per-request-key-not-set",
        base_url=fakes.base_url("openai"),
        max_retries=0,
        timeout=30.0,
    )
    headers = {"Authorization": f"Bearer {fakes.key('openai')}"}
    messages: Any = [{"role": "user", "content": QUESTION}]

    async def chat() -> object:
        response = await client.chat.completions.create(
            extra_headers=headers, model=model, messages=messages, max_completion_tokens=256
        )
        usage = response.usage.model_dump(warnings=False) if response.usage else None
        return response.choices[0].message.content, usage_from_openai(usage)

    async def stream() -> object:
        chunks = await client.chat.completions.create(
            extra_headers=headers,
            model=model,
            messages=messages,
            max_completion_tokens=256,
            stream=True,
            stream_options={"include_usage": True},
        )
        texts: list[str] = []
        usage = None
        async with chunks:
            async for chunk in chunks:
                for choice in chunk.choices:
                    if choice.delta.content:
                        texts.append(choice.delta.content)
                if chunk.usage is not None:
                    usage = usage_from_openai(chunk.usage.model_dump(warnings=False))
        return "".join(texts), usage

    return {"chat": chat, "stream": stream}, client.close


def provider_calls(
    fakes: RemoteFakes, model: str, wire: str
) -> tuple[dict[str, Call], Callable[[], Any]]:
    provider = build_provider(fakes.settings("openai", wire=wire))
    key = Secret(fakes.key("openai"))
    request = ChatRequest(model=model, messages=(ChatMessage("user", QUESTION),), max_tokens=256)

    async def chat() -> object:
        return await provider.chat(key, request)

    async def stream() -> object:
        return [chunk async for chunk in provider.stream(key, request)]

    return {"chat": chat, "stream": stream}, provider.aclose


async def run_block(call: Call, calls: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        await call()
    return time.perf_counter() - wall, time.process_time() - cpu


async def main(args: argparse.Namespace) -> None:
    print(f"# {machine()}")
    print(f"# loop: {type(asyncio.get_running_loop()).__module__}")
    async with fake_services() as (fakes, _pid):
        model = fakes.model("openai")
        built: dict[str, tuple[dict[str, Call], Callable[[], Any]]] = {}
        for variant in args.variants:
            if variant == "sdk":
                built[variant] = sdk_calls(fakes, model)
            elif variant == "provider":
                built[variant] = provider_calls(fakes, model, "openai")
            else:
                built[variant] = provider_calls(fakes, "gpt-4o-mini", "openai-compatible")
        tallies = {(v, m): Tally() for v in args.variants for m in args.modes}
        for (variant, mode), _ in tallies.items():
            await run_block(built[variant][0][mode], 30)  # warm-up: connections, caches
        for _block in range(args.blocks):
            for (variant, mode), tally in tallies.items():
                wall, cpu = await run_block(built[variant][0][mode], args.calls)
                tally.calls += args.calls
                tally.wall += wall
                tally.cpu += cpu
                tally.blocks.append(cpu / args.calls * 1e6)
        for _calls, close in built.values():
            await close()
    print("| variant | mode | calls | calls/s | CPU µs/call | per block |")
    print("|---|---|---:|---:|---:|---|")
    for (variant, mode), t in tallies.items():
        blocks = ", ".join(f"{b:,.0f}" for b in t.blocks)
        print(
            f"| {variant} | {mode} | {t.calls} | {t.per_second:,.0f} | {t.cpu_us:,.0f} | {blocks} |"
        )
    print(f"# after: {machine()}")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--variants", default="sdk,provider,compatible")
    parser.add_argument("--modes", default="chat,stream")
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    args.variants = args.variants.split(",")
    args.modes = args.modes.split(",")
    return args


if __name__ == "__main__":
    arguments = _parse()
    if arguments.uvloop:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main(arguments))
    else:
        asyncio.run(main(arguments))
