"""Provider-side prompt caching: cached input as each provider reports it, on the wire and
streamed, priced at the model's own cache prices, and stored on the usage row.

The expected costs are worked by hand from genai-prices' per-million-token prices:

=========================  =======  ==========  ===========  ======
model                      input    cache read  cache write  output
=========================  =======  ==========  ===========  ======
openai gpt-4o-mini         0.15     0.075       —            0.60
anthropic claude-sonnet-4-6  3.00   0.30        3.75         15.00
google gemini-2.5-flash    0.30     0.03        —            2.50
x-ai grok-3                3.00     0.75        —            15.00
=========================  =======  ==========  ===========  ======
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from byok.answers import Answer
from byok.pricing import cache_saving, price_of
from byok.types import ChatMessage, Usage
from tests.engine.conftest import Rig
from tests.fakes.llm_script import Reply

QUESTION = [{"role": "user", "content": "Summarise the design doc again."}]
M = Decimal(1_000_000)


@dataclass(frozen=True)
class Case:
    provider: str
    model: str
    reply: Reply
    usage: Usage  # what the provider's wire says, read back
    cost: Decimal
    saved: Decimal


CASES = [
    # OpenAI: prompt_tokens (2000) includes the 1536 cached ones.
    Case(
        "openai",
        "gpt-4o-mini",
        Reply(input_tokens=2000, output_tokens=100, cached_tokens=1536),
        Usage(2000, 100, cached_input_tokens=1536),
        (464 * Decimal("0.15") + 1536 * Decimal("0.075") + 100 * Decimal("0.6")) / M,
        1536 * (Decimal("0.15") - Decimal("0.075")) / M,
    ),
    # Anthropic: input_tokens (150) excludes the 1000 read and the 50 written.
    Case(
        "anthropic",
        "claude-sonnet-4-6",
        Reply(input_tokens=1200, output_tokens=80, cached_tokens=1000, cache_write_tokens=50),
        Usage(1200, 80, cached_input_tokens=1000, cache_write_tokens=50),
        (150 * Decimal(3) + 1000 * Decimal("0.3") + 50 * Decimal("3.75") + 80 * Decimal(15)) / M,
        1000 * (Decimal(3) - Decimal("0.3")) / M,
    ),
    # Gemini: promptTokenCount (10000) includes cachedContentTokenCount (8000).
    Case(
        "google",
        "gemini-2.5-flash",
        Reply(input_tokens=10_000, output_tokens=200, cached_tokens=8000),
        Usage(10_000, 200, cached_input_tokens=8000),
        (2000 * Decimal("0.3") + 8000 * Decimal("0.03") + 200 * Decimal("2.5")) / M,
        8000 * (Decimal("0.3") - Decimal("0.03")) / M,
    ),
    # xAI: the OpenAI shape.
    Case(
        "xai",
        "grok-3",
        Reply(input_tokens=4000, output_tokens=100, cached_tokens=2000),
        Usage(4000, 100, cached_input_tokens=2000),
        (2000 * Decimal(3) + 2000 * Decimal("0.75") + 100 * Decimal(15)) / M,
        2000 * (Decimal(3) - Decimal("0.75")) / M,
    ),
]


async def _ask(rig: Rig, case: Case, streamed: bool) -> Answer:
    await rig.add_key(case.provider)
    fake = rig.fakes[case.provider]
    if case.model not in fake.models:
        fake.models.append(case.model)
    fake.reply(case.reply)
    service = rig.service()
    if not streamed:
        return await service.chat(QUESTION, provider=case.provider, model=case.model)
    events = [e async for e in service.stream(QUESTION, provider=case.provider, model=case.model)]
    answer = events[-1]
    assert isinstance(answer, Answer)
    return answer


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("case", CASES, ids=[c.provider for c in CASES])
async def test_cached_input_is_read_priced_and_stored(rig: Rig, case: Case, streamed: bool) -> None:
    answer = await _ask(rig, case, streamed)

    assert answer.usage == case.usage
    assert answer.cost == case.cost
    assert answer.cache_saved == case.saved
    [row] = await rig.usage_rows()
    assert (
        row["input_tokens"],
        row["output_tokens"],
        row["cached_input_tokens"],
        row["cache_write_tokens"],
    ) == (case.usage.input_tokens, case.usage.output_tokens, case.usage.cached_input_tokens,
          case.usage.cache_write_tokens)  # fmt: skip
    assert row["cost"] == case.cost


@pytest.mark.parametrize("case", CASES, ids=[c.provider for c in CASES])
def test_the_saving_is_the_full_input_price_less_the_cache_price(case: Case) -> None:
    assert cache_saving(case.provider, case.model, case.usage) == case.saved
    # Paying full price for the cached tokens would have cost exactly the saving more.
    uncached = Usage(
        case.usage.input_tokens,
        case.usage.output_tokens,
        cache_write_tokens=case.usage.cache_write_tokens,
    )
    assert price_of(case.provider, case.model, uncached) == case.cost + case.saved


async def test_a_model_without_a_cache_read_price_has_an_unknown_cost(rig: Rig) -> None:
    """genai-prices lists no cache price for gpt-5-pro: billing its cached tokens at full
    input price would be a guess, so the cost is unknown, not wrong."""
    await rig.add_key("openai")
    rig.fakes["openai"].models.append("gpt-5-pro")
    rig.fakes["openai"].reply(input_tokens=3000, output_tokens=10, cached_tokens=2048)

    answer = await rig.service().chat(QUESTION, provider="openai", model="gpt-5-pro")

    assert answer.model == "gpt-5-pro"

    assert answer.usage.cached_input_tokens == 2048
    assert answer.cost is None and answer.cache_saved is None
    [row] = await rig.usage_rows()
    assert row["cost"] is None and row["cached_input_tokens"] == 2048


def test_cache_prices_that_are_not_listed_make_cost_and_saving_unknown() -> None:
    read = Usage(3000, 10, cached_input_tokens=2048)
    write = Usage(3000, 10, cache_write_tokens=2048)  # gpt-4o-mini lists no write price

    assert price_of("openai", "gpt-5-pro", read) is None
    assert cache_saving("openai", "gpt-5-pro", read) is None
    assert price_of("openai", "gpt-4o-mini", write) is None
    # Without cached tokens the same models are priced as before.
    assert (
        price_of("openai", "gpt-5-pro", Usage(3000, 10))
        == (3000 * Decimal(15) + 10 * Decimal(120)) / M
    )
    assert cache_saving("openai", "gpt-5-pro", Usage(3000, 10)) == 0


def test_no_saving_is_claimed_for_unknown_usage() -> None:
    assert cache_saving("openai", "gpt-4o-mini", Usage(reported=False)) is None
    assert cache_saving("local", "llama3", Usage(100, 1, cached_input_tokens=50)) is None


async def test_a_marked_long_system_prompt_reaches_anthropic_with_cache_control(
    rig: Rig,
) -> None:
    """The hint goes through the service unchanged; Anthropic's body carries the mark."""
    await rig.add_key("anthropic")
    instructions = "Answer in the house style, citing the design doc. " * 300  # ~5k tokens
    messages = [
        ChatMessage("system", instructions, cache_prefix=True),
        ChatMessage("user", "Part 1 of 3."),
    ]
    rig.fakes["anthropic"].reply(
        text="ok", input_tokens=4000, output_tokens=5, cache_write_tokens=3990
    )

    answer = await rig.service().chat(messages, provider="anthropic", model="claude-sonnet-4-6")

    body = rig.fakes["anthropic"].requests[-1].json()
    assert body["system"] == [
        {"type": "text", "text": instructions, "cache_control": {"type": "ephemeral"}}
    ]
    # A cache write is billed at its own price (3.75 a million here), and saves nothing yet.
    assert answer.cost == (10 * Decimal(3) + 3990 * Decimal("3.75") + 5 * Decimal(15)) / M
    assert answer.cache_saved == 0
    [row] = await rig.usage_rows()
    assert (row["cached_input_tokens"], row["cache_write_tokens"]) == (0, 3990)
