"""Token usage is exactly what each provider reported, streamed and not.

Each fake renders a Reply's counts in its own wire convention (Anthropic's input excluding
cache, Gemini's thoughts outside candidates, xAI's reasoning outside completion...), so
getting the same :class:`Usage` back proves the provider reads that convention.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from byok.providers.openai_wire import usage_from_openai
from byok.types import Usage
from tests.fakes.fake_openrouter import AUTO_SERVED
from tests.fakes.llm_script import Reply
from tests.providers.chat import Subject, ask, drain

REPLY = Reply(
    text="Cached and reasoned answer",
    input_tokens=1200,
    output_tokens=300,
    cached_tokens=1000,
    cache_write_tokens=50,
    reasoning_tokens=120,
    cost=0.00085375,
)

# What each provider reports of REPLY: not every provider reports every kind of count.
EXPECTED = {
    "openai": Usage(1200, 300, cached_input_tokens=1000, reasoning_tokens=120),
    "anthropic": Usage(1200, 300, cached_input_tokens=1000, cache_write_tokens=50),
    "google": Usage(1200, 300, cached_input_tokens=1000, reasoning_tokens=120),
    "xai": Usage(1200, 300, cached_input_tokens=1000, reasoning_tokens=120),
    "openrouter": Usage(
        1200,
        300,
        cached_input_tokens=1000,
        cache_write_tokens=50,
        reasoning_tokens=120,
        reported_cost=Decimal("0.00085375"),
    ),
}


async def test_chat_usage_is_as_reported(subject: Subject) -> None:
    subject.fake.reply(REPLY)

    result = await subject.provider.chat(subject.key, ask(subject.fake.models[0], "hi"))

    assert result.usage == EXPECTED[subject.provider_id]
    assert result.text == REPLY.text
    assert result.provider_id == subject.provider_id


async def test_stream_usage_is_as_reported_in_one_final_chunk(subject: Subject) -> None:
    subject.fake.reply(REPLY)

    chunks = await drain(subject.provider, subject.key, ask(subject.fake.models[0], "hi"))

    *texts, final = chunks
    assert final.is_final and final.text == ""
    assert final.usage == EXPECTED[subject.provider_id]
    assert "".join(c.text for c in texts) == REPLY.text
    assert all(c.usage is None for c in texts)
    assert len(texts) == len(REPLY.pieces())


@pytest.mark.parametrize("provider_id", ["openrouter"])
@pytest.mark.parametrize("streamed", [False, True])
async def test_openrouter_records_the_model_that_served(subject: Subject, streamed: bool) -> None:
    request = ask("openrouter/auto", "hi")

    if streamed:
        model = (await drain(subject.provider, subject.key, request))[-1].model
    else:
        model = (await subject.provider.chat(subject.key, request)).model

    assert model == AUTO_SERVED


async def test_served_model_is_reported_for_every_provider(subject: Subject) -> None:
    subject.fake.reply(Reply(model="served-model-2026-01-01"))
    subject.fake.reply(Reply(model="served-model-2026-01-01"))
    request = ask(subject.fake.models[0], "hi")

    assert (await subject.provider.chat(subject.key, request)).model == "served-model-2026-01-01"
    assert (await drain(subject.provider, subject.key, request))[
        -1
    ].model == "served-model-2026-01-01"


# Literal usage objects as the providers sent them (recorded answers).


def test_openrouter_recorded_usage() -> None:
    raw = {
        "prompt_tokens": 19,
        "completion_tokens": 83,
        "total_tokens": 102,
        "cost": 0.00085375,
        "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 64},
    }

    assert usage_from_openai(raw) == Usage(
        19, 83, reasoning_tokens=64, reported_cost=Decimal("0.00085375")
    )


def test_xai_recorded_usage_counts_reasoning_as_output() -> None:
    # total 373 = 213 prompt + 27 completion + 133 reasoning: reasoning is outside.
    raw = {
        "prompt_tokens": 213,
        "completion_tokens": 27,
        "total_tokens": 373,
        "prompt_tokens_details": {"text_tokens": 213, "cached_tokens": 192},
        "completion_tokens_details": {"reasoning_tokens": 133},
        "num_sources_used": 0,
    }

    assert usage_from_openai(raw) == Usage(213, 160, cached_input_tokens=192, reasoning_tokens=133)


def test_openai_usage_keeps_reasoning_inside_output() -> None:
    raw = {
        "prompt_tokens": 9,
        "completion_tokens": 40,
        "total_tokens": 49,
        "completion_tokens_details": {"reasoning_tokens": 30},
    }

    assert usage_from_openai(raw) == Usage(9, 40, reasoning_tokens=30)


def test_missing_usage_is_unknown_not_invented() -> None:
    usage = usage_from_openai(None)
    assert not usage.reported
    assert (usage.input_tokens, usage.output_tokens) == (0, 0)
    assert usage_from_openai({"prompt_tokens": 0, "completion_tokens": 0}).reported
